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

/// The helper binary, compiled once per test process.
pub fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-escape-helper-{}", std::process::id()));
        must(std::fs::create_dir_all(&dir));
        let source = dir.join("esc.c");
        let binary = dir.join("esc");
        must(std::fs::write(&source, HELPER_SOURCE));
        let out = must(
            Command::new("cc")
                .args(["-static", "-O1", "-o"])
                .arg(&binary)
                .arg(&source)
                .output(),
        );
        assert!(
            out.status.success(),
            "cc -static failed (install gcc and libc6-dev): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        binary
    })
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
/// in the root of whatever process loads it, compiled once per test process.
pub fn nss_module() -> PathBuf {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let dir = helper().parent().map(Path::to_path_buf).unwrap_or_default();
            let source = dir.join("nss_evil.c");
            let module = dir.join("libnss_evil.so.2");
            must(std::fs::write(
                &source,
                "#include <fcntl.h>\n#include <unistd.h>\n\
                 __attribute__((constructor)) static void loaded(void) {\n\
                 int fd = open(\"/nss-loaded\", O_CREAT | O_WRONLY, 0644);\n\
                 if (fd >= 0) close(fd);\n}\n",
            ));
            let out = must(
                Command::new("cc")
                    .args(["-shared", "-fPIC", "-o"])
                    .arg(&module)
                    .arg(&source)
                    .output(),
            );
            assert!(
                out.status.success(),
                "cc -shared failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            module
        })
        .clone()
}
