//! berth: a container engine and a Compose-compatible stack runner.
//!
//! Dependencies point one way: `cli -> planner -> {spec, runtime}`.

pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
pub mod planner;
pub mod runtime;
pub mod spec;
