//! Crash safety of container directories and name claims.
//!
//! A container directory is built as `containers/.new-<id>-<suffix>` and
//! renamed to `containers/<id>` once complete; a removal renames it to
//! `containers/.rm-<id>-<suffix>` before deleting the tree. So `<id>` is
//! always a whole container, and a `kill -9` half-way leaves only a dot
//! entry carrying the dead writer's pid, swept by the next create or rm.
//!
//! The staging directory exists before the name is claimed, so a claim whose
//! container directory is absent and whose staging directory has no live
//! writer belongs to a writer that died, and can be taken over.

use std::path::{Path, PathBuf};

use super::ContainerError;
use super::record::{self, CONFIG_FILE};
use crate::runtime::image::gc::{owner_pid, process_exists};
use crate::runtime::store::{Store, unique_suffix};

const NEW_PREFIX: &str = ".new-";
const RM_PREFIX: &str = ".rm-";

/// A fresh staging directory name for container `id`.
pub fn staging_dir(store: &Store, id: &str) -> PathBuf {
    store
        .containers_dir()
        .join(format!("{NEW_PREFIX}{id}-{}", unique_suffix()))
}

/// A fresh tombstone name for container `id`.
pub fn tombstone(store: &Store, id: &str) -> PathBuf {
    store
        .containers_dir()
        .join(format!("{RM_PREFIX}{id}-{}", unique_suffix()))
}

/// `(id, writer pid)` of a staging or tombstone entry name.
fn parse(name: &str) -> Option<(&str, Option<i32>)> {
    let rest = name
        .strip_prefix(NEW_PREFIX)
        .or_else(|| name.strip_prefix(RM_PREFIX))?;
    let (id, suffix) = rest.split_once('-')?;
    Some((id, owner_pid(suffix)))
}

/// Removes the staging directories and tombstones of writers that died.
pub fn sweep_dead(store: &Store) {
    let dir = store.containers_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((_, pid)) = name.to_str().and_then(parse) else {
            continue;
        };
        if pid.is_some_and(|p| !process_exists(p)) {
            // Best effort: the next sweep tries again.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a live writer is still building container `id`.
fn being_created(store: &Store, id: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(store.containers_dir()) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let staged = name.to_str().filter(|n| n.starts_with(NEW_PREFIX));
        staged
            .and_then(parse)
            .is_some_and(|(i, pid)| i == id && pid.is_none_or(process_exists))
    })
}

/// Whether the claim of `name` for `id` is left over: the container does not
/// exist (and nobody is creating it), or it goes by another name now (a
/// rename that died before releasing the old one).
pub fn claim_is_stale(store: &Store, name: &str, id: &str) -> bool {
    let dir = record::container_dir(store.root(), id);
    if !dir.join(CONFIG_FILE).is_file() {
        return !dir.is_dir() && !being_created(store, id);
    }
    record::read_record(&dir).is_ok_and(|r| r.name != name)
}

/// Renames a finished staging directory to the container's own name.
pub fn publish(staged: &Path, dir: &Path) -> Result<(), ContainerError> {
    std::fs::rename(staged, dir).map_err(|e| ContainerError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_id_and_writer() {
        let id = "a".repeat(64);
        let name = format!(".rm-{id}-42-ff-0");
        assert_eq!(parse(&name), Some((id.as_str(), Some(42))));
        assert_eq!(parse(&id), None);
    }

    #[test]
    fn dead_writers_are_swept_and_their_claims_stale() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path().join("root"))?;
        let id = "b".repeat(64);
        // pid_max is at most 2^22: this pid cannot exist.
        let dead = store
            .containers_dir()
            .join(format!(".new-{id}-{}-1-0", 1 << 23));
        std::fs::create_dir_all(dead.join("upper"))?;
        assert!(claim_is_stale(&store, "web", &id));
        let live = staging_dir(&store, &id);
        std::fs::create_dir(&live)?;
        assert!(!claim_is_stale(&store, "web", &id));
        sweep_dead(&store);
        assert!(!dead.exists());
        assert!(live.exists());
        Ok(())
    }
}
