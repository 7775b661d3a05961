//! A private berth root with a busybox image `bb`, for the runtime tests (root).

use std::path::{Path, PathBuf};

use super::cli::{Run, berth};
use super::images::import_busybox;

pub struct Fixture {
    pub work: tempfile::TempDir,
    pub root: PathBuf,
    /// The default network's bridge, this root's own (see `berth.toml`).
    pub bridge: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_image(|_| {})
    }

    /// A private root with a busybox image `bb`, `extra` adding files to it.
    pub fn with_image(extra: impl Fn(&Path)) -> Fixture {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the runtime tests need root"
        );
        let work = match tempfile::tempdir() {
            Ok(w) => w,
            Err(e) => panic!("tempdir: {e}"),
        };
        let root = work.path().join("root");
        let run = import_busybox(&root, work.path(), "bb", extra);
        assert_eq!(run.code, 0, "import failed: {}", run.stderr);
        // Parallel tests must not share a bridge: each root names its own.
        let bridge = format!("bt{}", unique_hex());
        let config = format!("[network]\nbridge = \"{bridge}\"\n");
        if let Err(e) = std::fs::write(root.join("berth.toml"), config) {
            panic!("writing berth.toml: {e}");
        }
        Fixture { work, root, bridge }
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        berth(&self.root, self.work.path(), args)
    }

    /// `run --rm bb sh -c SCRIPT` with extra flags before the image.
    pub fn sh(&self, flags: &[&str], script: &str) -> Run {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["bb", "sh", "-c", script]);
        self.berth(&args)
    }

    /// Container directories left under the root (names index excluded).
    pub fn containers(&self) -> Vec<String> {
        let dir = self.root.join("containers");
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "names")
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let path = self.root.join("containers").join(id).join("state.json");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_default()
    }
}

/// Even when a test fails half-way, no container of it outlives it: every
/// container is force-removed (processes killed, cgroups deleted).
impl Drop for Fixture {
    fn drop(&mut self) {
        let ids = self.containers();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.berth(&args);
        }
        // User networks, then the default bridge: no interface outlives the test.
        let _ = self.berth(&["network", "prune", "-f"]);
        if let Ok(store) = berth::runtime::store::Store::open(&self.root) {
            let _ = berth::runtime::network::firewall::teardown_network(&store, &self.bridge);
        }
        let _ = berth::runtime::network::store::delete_bridge(&self.bridge);
    }
}

/// Eight hex digits unlikely to repeat across concurrent test processes.
fn unique_hex() -> String {
    use std::hash::{BuildHasher, RandomState};
    let seed = (std::process::id(), std::time::SystemTime::now());
    format!("{:08x}", RandomState::new().hash_one(seed) as u32)
}
