//! The container escape suite's tools: the hostile helper program (C, built
//! static with the host's `cc` at test time, since busybox cannot make the
//! syscalls), images that carry it, and a private copy of the berth binary,
//! so an attack that succeeded would damage the copy, never the build.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::cli::Run;
use super::runtime::Fixture;

const HELPER_SOURCE: &str = include_str!("escape_helper.c");

/// The helper binary, compiled once into a directory named by its source's
/// hash (so runs share it and nothing piles up in /tmp).
pub fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let dir = build_dir();
        compile(&dir, "esc.c", HELPER_SOURCE, "esc", &["-static", "-O1"]);
        dir.join("esc")
    })
}

fn build_dir() -> PathBuf {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(HELPER_SOURCE);
    let dir = std::env::temp_dir().join(format!("berth-escape-helper-{hash:016x}"));
    must(std::fs::create_dir_all(&dir));
    dir
}

/// Compiles `source` to `dir/output` unless it is there; the output is
/// renamed into place, so concurrent test processes never see half of it.
fn compile(dir: &Path, name: &str, source: &str, output: &str, flags: &[&str]) {
    let done = dir.join(output);
    if done.exists() {
        return;
    }
    let tag = std::process::id();
    let src = dir.join(format!("{tag}-{name}"));
    let tmp = dir.join(format!("{tag}-{output}"));
    must(std::fs::write(&src, source));
    let out = must(
        Command::new("cc")
            .args(flags)
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .output(),
    );
    let _ = std::fs::remove_file(&src);
    assert!(
        out.status.success(),
        "cc {flags:?} failed (install gcc and libc6-dev): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    must(std::fs::rename(&tmp, &done));
}

/// A Fixture whose image `bb` also has the helper as /bin/esc.
pub fn fixture(extra: impl Fn(&Path)) -> Fixture {
    let helper = helper().to_path_buf();
    Fixture::with_image(move |root| {
        must(std::fs::copy(&helper, root.join("bin/esc")));
        extra(root);
    })
}

/// A copy of the berth binary that the test runs instead of the build's.
pub struct Victim {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    original: Vec<u8>,
}

impl Victim {
    pub fn new(f: &Fixture) -> Victim {
        let path = f.work.path().join("berth-victim");
        must(std::fs::copy(env!("CARGO_BIN_EXE_berth"), &path));
        let meta = must(std::fs::metadata(&path));
        let original = must(std::fs::read(&path));
        Victim {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
            original,
        }
    }

    /// `berth --root ROOT ARGS` with this copy.
    pub fn berth(&self, f: &Fixture, args: &[&str]) -> Run {
        let out = Command::new(&self.path)
            .arg("--root")
            .arg(&f.root)
            .args(args)
            .current_dir(f.work.path())
            .output();
        match out {
            Ok(out) => out.into(),
            Err(e) => panic!("cannot run {}: {e}", self.path.display()),
        }
    }

    /// The helper's `exe` lines that name this binary.
    pub fn sightings(&self, output: &str) -> Vec<String> {
        let me = format!(" {} {}", self.dev, self.ino);
        output
            .lines()
            .filter(|l| (l.starts_with("exe ") && l.ends_with(&me)) || l.starts_with("wrote "))
            .map(String::from)
            .collect()
    }

    pub fn unchanged(&self) -> bool {
        std::fs::read(&self.path).is_ok_and(|now| now == self.original)
    }
}

/// Host mounts, as `mount point` lines of this process's mountinfo.
pub fn host_mount_points() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .collect()
}

/// Waits until `path` exists, up to `secs` seconds.
pub fn wait_for(path: &Path, secs: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

pub fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("escape test setup: {e}"),
    }
}

/// An NSS module (`libnss_evil.so.2`) whose constructor creates /nss-loaded
/// in the root of whatever process loads it.
pub fn nss_module() -> PathBuf {
    const SOURCE: &str = "#include <fcntl.h>\n#include <unistd.h>\n\
        __attribute__((constructor)) static void loaded(void) {\n\
        int fd = open(\"/nss-loaded\", O_CREAT | O_WRONLY, 0644);\n\
        if (fd >= 0) close(fd);\n}\n";
    let dir = build_dir();
    compile(
        &dir,
        "nss_evil.c",
        SOURCE,
        "libnss_evil.so.2",
        &["-shared", "-fPIC"],
    );
    dir.join("libnss_evil.so.2")
}
