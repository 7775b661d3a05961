//! Harnesses for fuzzing: each takes arbitrary bytes and must never panic,
//! hang or reach outside its scratch space, whatever they are. The cargo-fuzz
//! targets in `fuzz/` call these, and so does the short deterministic run in
//! `tests/fuzz_short.rs`, so a crash found by either replays in the other
//! (see fuzz/README.md).

pub mod image;
pub mod layer;
pub mod stack;

pub use crate::cli::fuzz_flags::flags;

/// A harness: bytes in, nothing out; a panic is a finding.
pub type Harness = fn(&[u8]);

/// Every target by the name its `fuzz/` binary and corpus directory use.
pub const TARGETS: &[(&str, Harness)] = &[
    ("stack_file", stack::stack_file),
    ("image_json", image::image_json),
    ("layer_tar", layer::layer_tar),
    ("flags", flags),
];

/// The harness named `name`, if there is one.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}
