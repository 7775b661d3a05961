//! Stack files: parse, interpolate, include/extends/merge, validate, normalize.
//!
//! The spec knows nothing of the runtime: it turns files into a [`Project`].

pub mod discover;
pub mod dotenv;
pub mod duration;
pub mod emit;
pub mod error;
pub mod extends;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod paths;
pub mod schema;
pub mod units;
pub mod yaml;

pub use error::{Pos, SpecError};
pub use load::{LoadOptions, load, load_text};
pub use model::Project;
