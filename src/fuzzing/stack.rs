//! The stack-file loader: YAML, interpolation, the short syntaxes, and env
//! files, fed the same text.

use std::collections::BTreeMap;

use crate::spec::dotenv;
use crate::spec::interpolate::interpolate;
use crate::spec::{LoadOptions, load_text};

/// Loads `data` as a stack file, then parses it as an env file and
/// interpolates it as one string.
pub fn stack_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let vars = environ();
    let lookup = |name: &str| vars.get(name).cloned();
    let _ = load_text(&text, &options(&vars));
    let _ = dotenv::parse(&text, &lookup);
    let _ = interpolate(&text, &lookup);
}

/// Whether `data` loads as a stack file (for checking the seeds are useful).
pub fn loads(data: &[u8]) -> bool {
    let vars = environ();
    load_text(&String::from_utf8_lossy(data), &options(&vars)).is_ok()
}

fn environ() -> BTreeMap<String, String> {
    [
        ("HOME", "/root"),
        ("SET", "value"),
        ("EMPTY", ""),
        ("PORT", "8080"),
        ("TAG", "1.2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A working directory that does not exist: relative includes and env files
/// fail to open instead of reading whatever the host has.
fn options(vars: &BTreeMap<String, String>) -> LoadOptions {
    LoadOptions {
        cwd: std::env::temp_dir().join("berth-fuzz-no-such-dir"),
        environ: vars.clone(),
        ..LoadOptions::default()
    }
}
