//! Shared fixture builders for the integration tests.
#![allow(dead_code)] // each test binary uses its own part of the support code

pub mod cli;
pub mod corpus;
pub mod escape;
pub mod images;
pub mod net;
pub mod registry;
pub mod residue;
pub mod runtime;
