//! Small file helpers shared by the v1 and v2 backends.
//!
//! cgroupfs files are tiny pseudo-files: one `open` + `read`/`write` + `close`
//! each, so these helpers keep to exactly that and attach the path (and the
//! value, for writes) to every error.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::CgroupError;

/// Writes `value` with a single `write(2)`: the kernel parses each write as
/// one command, so a split write would be two (wrong) commands. O_TRUNC is
/// a no-op on cgroupfs but keeps plain-file fixtures in tests honest.
pub(super) fn write_value(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    let written = file.write(value.as_bytes()).map_err(err)?;
    if written != value.len() {
        return Err(err(io::Error::from(io::ErrorKind::WriteZero)));
    }
    Ok(())
}

pub(super) fn read_string(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Like [`read_string`], but a missing file (controller not mounted or not
/// enabled, or a kernel too old for the file) is `None` instead of an error.
pub(super) fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub(super) fn parse_error(path: &Path, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content: content.trim().to_string(),
    }
}

/// Reads a file holding one unsigned number; `None` when the file is missing.
pub(super) fn read_u64_optional(path: &Path) -> Result<Option<u64>, CgroupError> {
    match read_optional(path)? {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| parse_error(path, &s)),
    }
}

/// Reads a v2-style limit file: a number, or `max` for no limit (`None`).
/// A missing file is also `None`: there is no limit we could report.
pub(super) fn read_limit_optional(path: &Path) -> Result<Option<u64>, CgroupError> {
    match read_optional(path)? {
        None => Ok(None),
        Some(s) if s.trim() == "max" => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| parse_error(path, &s)),
    }
}

/// Value of `key` in a flat-keyed file (`key value` per line), as used by
/// cgroup.events, memory.events, memory.stat, cpu.stat, memory.oom_control.
pub(super) fn keyed_value(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        if fields.next()? != key {
            return None;
        }
        fields.next()?.parse().ok()
    })
}

/// Parses cgroup.procs: one pid per line.
pub(super) fn parse_pids(path: &Path, content: &str) -> Result<Vec<i32>, CgroupError> {
    content
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse().map_err(|_| parse_error(path, content)))
        .collect()
}

/// `mkdir` that treats an existing directory as success: creation must be
/// idempotent so that a retried `create` (or a racing one) does not fail.
pub(super) fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `mkdir -p`; std tries the leaf first, so an existing parent costs nothing.
pub(super) fn make_dir_all(path: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(path).map_err(|source| CgroupError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// Every cgroup directory below `dir` (not `dir` itself), children before
/// their parents, so the list can be removed in order. A directory that
/// vanished meanwhile is skipped.
pub(super) fn descendants_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect_descendants(dir, &mut out, 0);
    out
}

/// Nesting bound: cgroup trees are shallow; this only guards against loops.
const MAX_DEPTH: usize = 32;

fn collect_descendants(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let child = entry.path();
            collect_descendants(&child, out, depth + 1);
            out.push(child);
        }
    }
}

/// Pids in `dir` and in every cgroup below it, sorted and deduplicated.
/// A missing `dir` has no processes.
pub(super) fn pids_recursive(dir: &Path) -> Result<BTreeSet<i32>, CgroupError> {
    let mut pids = BTreeSet::new();
    let mut dirs = descendants_deepest_first(dir);
    dirs.push(dir.to_path_buf());
    for d in dirs {
        let path = d.join("cgroup.procs");
        if let Some(content) = read_optional(&path)? {
            pids.extend(parse_pids(&path, &content)?);
        }
    }
    Ok(pids)
}

/// What happened to a directory we tried to remove.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Removal {
    /// Removed now, or already gone.
    Done,
    /// The kernel still holds it: processes or child cgroups remain.
    Busy,
}

pub(super) fn remove_dir(path: &Path) -> Result<Removal, CgroupError> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(Removal::Done),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Removal::Done),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(Removal::Busy),
        Err(source) => Err(CgroupError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Polls `done` with a growing sleep (1 ms up to 20 ms) until it returns
/// true or `limit` has passed. Returns whether it finished in time. The
/// growing sleep keeps the common case (done after a millisecond or two)
/// fast without spinning for the slow one.
pub(super) fn wait_until(
    limit: Duration,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let start = Instant::now();
    let mut nap = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        if start.elapsed() >= limit {
            return Ok(false);
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_value_finds_exact_key() {
        let events = "populated 1\nfrozen 0\n";
        assert_eq!(keyed_value(events, "frozen"), Some(0));
        assert_eq!(keyed_value(events, "populated"), Some(1));
        assert_eq!(keyed_value(events, "froze"), None);
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(oom, "oom_kill"), Some(3));
    }

    #[test]
    fn parse_pids_skips_blank_lines_and_rejects_garbage() {
        let p = Path::new("/x/cgroup.procs");
        assert_eq!(parse_pids(p, "1\n22\n\n").ok(), Some(vec![1, 22]));
        assert!(parse_pids(p, "1\nabc\n").is_err());
    }

    #[test]
    fn limit_files_read_max_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let max = dir.path().join("pids.max");
        fs::write(&max, "max\n").unwrap();
        assert_eq!(read_limit_optional(&max).unwrap(), None);
        fs::write(&max, "10\n").unwrap();
        assert_eq!(read_limit_optional(&max).unwrap(), Some(10));
        assert_eq!(
            read_limit_optional(&dir.path().join("missing")).unwrap(),
            None
        );
    }

    #[test]
    fn remove_dir_missing_is_done() {
        let gone = Path::new("/nonexistent/berth/cgroup");
        assert_eq!(remove_dir(gone).unwrap(), Removal::Done);
    }
}
