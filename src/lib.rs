//! berth: a container engine and a Compose-compatible stack runner.
//!
//! Dependencies point one way: `cli -> planner -> {spec, runtime}`.

pub mod cli;
pub mod planner;
pub mod runtime;
pub mod spec;
