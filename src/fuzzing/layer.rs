//! Layer tar extraction into a scratch directory, with a check that nothing
//! was made beside it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::image::compression::decompressing;
use crate::runtime::image::extract::{extract, remove_dir_all};

/// The most a fuzzed layer may inflate to: a small gzip or zstd bomb would
/// otherwise fill the disk (pull bounds a layer by its diff_id, not its size).
const MAX_INFLATED: u64 = 64 << 20;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Extracts `data` (plain, gzip or zstd tar) into a fresh `root/`, then
/// panics if anything appeared outside it: an empty `sentinel/` beside it
/// must stay empty and their parent must hold nothing else.
pub fn layer_tar(data: &[u8]) {
    let Ok(scratch) = Scratch::new() else {
        return;
    };
    if let Ok(reader) = decompressing(data) {
        let _ = extract(&scratch.root(), reader.take(MAX_INFLATED));
    }
    scratch.assert_contained();
}

/// `<tmp>/berth-fuzz-layer/<pid>-<n>/{root,sentinel}`, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir()
            .join("berth-fuzz-layer")
            .join(format!("{}-{n}", std::process::id()));
        let scratch = Scratch { dir };
        fs::create_dir_all(scratch.root())?;
        fs::create_dir(scratch.sentinel())?;
        Ok(scratch)
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn sentinel(&self) -> PathBuf {
        self.dir.join("sentinel")
    }

    fn assert_contained(&self) {
        let beside = names(&self.dir);
        assert_eq!(beside, ["root", "sentinel"], "extraction escaped its root");
        let leaked = names(&self.sentinel());
        assert!(
            leaked.is_empty(),
            "extraction wrote {leaked:?} beside its root"
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove_dir_all(&self.dir);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}
