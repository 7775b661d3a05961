//! What a berth killed half-way through a create, rename or remove leaves in
//! `containers/`, and how the next command tells it from work in progress.
//!
//! - A container directory is built as `tmp/container-<pid-stamped suffix>` (a
//!   dead writer's temp, which gc reclaims) and renamed to `containers/<id>` once
//!   its record and state are written. A removal flocks `<id>` and renames it to
//!   `.rm-<id>` first, so one nobody holds is a leftover and [`sweep`] deletes
//!   it. `record::list` skips dot-names.
//! - A name claim (`names/<name>`, holding an id) is made and dropped under the
//!   lock `locks/name-<name>.lock`, held until the record naming it is in place.
//!   A claim whose id has no record of that name is stale: its creator died before
//!   the record was written, or its container was removed or renamed.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::ContainerError;
use super::record;
use crate::runtime::store::{Store, TransientLock};

pub const RM_PREFIX: &str = ".rm-";
/// A container directory being built in `tmp/`: `container-<pid>-...`.
const BUILD_PREFIX: &str = "container-";

/// A directory flocked by the process working on it.
pub struct DirLock {
    _lock: Flock<File>,
}

/// Locks `dir` (open as a directory) exclusively, waiting if need be.
pub fn lock_dir(dir: &Path) -> Result<DirLock, ContainerError> {
    let file = File::open(dir).map_err(|e| ContainerError::io(dir, e))?;
    match Flock::lock(file, FlockArg::LockExclusive) {
        Ok(lock) => Ok(DirLock { _lock: lock }),
        Err((_, errno)) => Err(ContainerError::io(dir, errno.into())),
    }
}

/// Deletes the `.rm-*` directories no live berth is working on, and the
/// container directories dead creates left half-built in `tmp/`.
/// Errors are ignored: a leftover that cannot go now is tried again next time.
pub fn sweep(store: &Store) {
    sweep_dead_builds(store);
    let Ok(entries) = std::fs::read_dir(store.containers_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(RM_PREFIX) {
            continue;
        }
        let path = entry.path();
        if abandoned(&path) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn sweep_dead_builds(store: &Store) {
    use crate::runtime::image::gc::{owner_pid, process_exists};
    let Ok(entries) = std::fs::read_dir(store.tmp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(BUILD_PREFIX)) else {
            continue;
        };
        if owner_pid(suffix).is_some_and(|pid| !process_exists(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a `.rm-*` directory is a leftover: held, a remove is running;
/// free, its berth died.
pub fn abandoned(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok()
}

/// Where a new container's directory is built: named like every temp under
/// `tmp/` (`<kind>-<suffix with the writer's pid>`), so gc knows a dead
/// writer's.
pub fn tmp_dir(store: &Store) -> PathBuf {
    let suffix = crate::runtime::store::unique_suffix();
    store.tmp_dir().join(format!("{BUILD_PREFIX}{suffix}"))
}

/// `containers/.rm-<id>`, where a removed container's directory is deleted.
pub fn rm_dir(store: &Store, id: &str) -> PathBuf {
    store.containers_dir().join(format!("{RM_PREFIX}{id}"))
}

/// The lock every change of `name`'s claim is made under.
pub fn lock_name(store: &Store, name: &str) -> Result<TransientLock, ContainerError> {
    store
        .lock_transient(&format!("name-{name}"))
        .map_err(|e| ContainerError::Store(e.to_string()))
}

/// Whether the claim `name -> id` is backed by a record of that name. Called
/// with the name's lock held, so no create of that name is half-way.
pub fn claim_is_live(store: &Store, name: &str, id: &str) -> bool {
    let dir = record::container_dir(store.root(), id.trim());
    record::read_record(&dir).is_ok_and(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_unlocked_leftovers() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path().join("root"))?;
        let dead = rm_dir(&store, "aa");
        let busy = rm_dir(&store, "bb");
        let removed = rm_dir(&store, "cc");
        let live = store.containers_dir().join("dd");
        for d in [&dead, &busy, &removed, &live] {
            std::fs::create_dir_all(d.join("upper"))?;
        }
        let _held = lock_dir(&busy)?;
        sweep(&store);
        assert!(!dead.exists());
        assert!(!removed.exists());
        assert!(busy.exists());
        assert!(live.exists());
        Ok(())
    }

    #[test]
    fn sweep_removes_builds_of_dead_creates_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path().join("root"))?;
        // pid_max is at most 2^22: this pid cannot exist.
        let dead = store
            .tmp_dir()
            .join(format!("{BUILD_PREFIX}{}-1-0", 1 << 23));
        let mine = tmp_dir(&store);
        std::fs::create_dir_all(dead.join("upper"))?;
        std::fs::create_dir_all(mine.join("upper"))?;
        sweep(&store);
        assert!(!dead.exists());
        assert!(mine.exists());
        Ok(())
    }
}
