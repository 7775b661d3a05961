//! The compose corpus in ../shared/corpus (real files from Docker Compose and
//! compose-go).

use std::path::{Path, PathBuf};

pub fn corpus_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("BERTH_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => here.join("../shared/corpus"),
    }
    .canonicalize()
    .unwrap_or_else(|_| here.join("../shared/corpus"))
}

/// Every stack file in the corpus: YAML files, minus the Kubernetes and Helm
/// golden outputs of `compose bridge` (not stack files).
pub fn stack_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(&corpus_dir(), &mut out);
    out.retain(|p| {
        let s = p.to_string_lossy();
        (s.ends_with(".yaml") || s.ends_with(".yml"))
            && !s.contains("/expected-kubernetes/")
            && !s.contains("/expected-helm/")
    });
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}
