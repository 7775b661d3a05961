//! Stack files: parse, interpolate, include/extends/merge, validate, normalize.

pub mod dotenv;
pub mod duration;
pub mod error;
pub mod interpolate;
pub mod model;
pub mod units;
pub mod yaml;

pub use error::{Pos, SpecError};
pub use model::Project;
