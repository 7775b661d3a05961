//! Garbage collection of the image store.
//!
//! Live content is whatever the index reaches, plus what containers use:
//!
//! - blobs: every image's config and manifest, and the descriptors the
//!   manifest names (config, layers, and the manifests of an index);
//! - snapshots: the ChainIDs of every image's layers, and every snapshot a
//!   container lists as a lowerdir (a container outlives an `rmi -f` of its
//!   image).
//!
//! Everything else under `blobs/sha256` and `snapshots/` goes, together with
//! temp files left by writers that died (their names carry the writer's pid,
//! see [`store::unique_suffix`]) or that are older than an hour.
//!
//! Writers of new content hold the `content` lock shared from their first blob
//! to their index update; collection holds it exclusively, so it never sees a
//! blob or snapshot that is about to be referenced. When a record cannot be
//! read (a missing manifest, a corrupt config or container record), what it
//! would have reached is unknown, and that kind of content is kept whole.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::config;
use super::content::{ContentError, ContentStore};
use super::digest::Digest;
use super::error::ImageError;
use super::extract;
use super::refs::Refs;
use super::snapshot::{self, ChainId, SnapshotError};
use crate::runtime::container::record;
use crate::runtime::store::{self, Store, StoreError};

/// Temp files this old are abandoned even if their writer's pid is alive
/// (pids are reused).
const STALE_AFTER: Duration = Duration::from_secs(3600);
const SNAPSHOT_TMP_PREFIX: &str = "tmp-";
const INDEX_TMP_PREFIX: &str = ".images.json.tmp-";
/// An index may list manifests that are indexes themselves; real ones nest
/// once or twice.
const MAX_MANIFEST_DEPTH: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("garbage collection: cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("garbage collection: cannot read the image index: {0}")]
    Index(#[source] ImageError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GcError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> GcError {
        GcError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What one collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Blobs removed from `blobs/sha256`.
    pub blobs: Vec<Digest>,
    /// Snapshots removed, by ChainID.
    pub snapshots: Vec<ChainId>,
    /// Abandoned temp files and directories removed.
    pub temps: usize,
    /// Bytes freed: blob sizes plus the regular-file content of snapshots and
    /// temp directories.
    pub bytes: u64,
}

/// Removes every blob and snapshot nothing uses, and abandoned temp files.
pub fn collect(store: &Store) -> Result<Reclaimed, GcError> {
    let _content = store.lock("content")?;
    let live = Live::scan(store)?;
    let mut out = Reclaimed::default();
    if live.blobs_known {
        remove_blobs(store, &live, &mut out)?;
    }
    if live.chains_known {
        remove_snapshots(store, &live, &mut out)?;
    }
    remove_temps(store, &mut out)?;
    Ok(out)
}

/// What must stay.
#[derive(Debug, Default)]
struct Live {
    blobs: HashSet<Digest>,
    /// Hex names of snapshot directories.
    chains: HashSet<String>,
    blobs_known: bool,
    chains_known: bool,
}

impl Live {
    fn scan(store: &Store) -> Result<Live, GcError> {
        let index = Refs::new(store).load().map_err(GcError::Index)?;
        let mut live = Live {
            blobs_known: true,
            chains_known: true,
            ..Live::default()
        };
        for (id, record) in &index.images {
            live.blobs.insert(id.clone());
            live.add_manifest(store, &record.manifest, 0);
            live.add_chain(store, id);
        }
        for target in index.refs.values() {
            live.blobs.insert(target.config.clone());
            live.blobs.insert(target.manifest.clone());
        }
        live.add_container_layers(store)?;
        Ok(live)
    }

    fn add_manifest(&mut self, store: &Store, digest: &Digest, depth: usize) {
        self.blobs.insert(digest.clone());
        let bytes = match ContentStore::new(store).read_verified(digest) {
            Ok(b) => b,
            // A platform an index lists but that was never pulled.
            Err(_) if depth > 0 => return,
            Err(e) => return self.unknown_blobs(digest, &e.to_string()),
        };
        let Ok(manifest) = serde_json::from_slice::<Value>(&bytes) else {
            return self.unknown_blobs(digest, "not JSON");
        };
        for d in descriptors(&manifest, "config").chain(descriptors(&manifest, "layers")) {
            self.blobs.insert(d);
        }
        if depth < MAX_MANIFEST_DEPTH {
            for child in descriptors(&manifest, "manifests") {
                self.add_manifest(store, &child, depth + 1);
            }
        }
    }

    fn unknown_blobs(&mut self, manifest: &Digest, why: &str) {
        tracing::warn!("manifest {manifest} is unreadable ({why}); keeping every blob");
        self.blobs_known = false;
    }

    fn add_chain(&mut self, store: &Store, id: &Digest) {
        let diff_ids = ContentStore::new(store)
            .read_verified(id)
            .map_err(ImageError::from)
            .and_then(|bytes| config::parse_config(id, &bytes))
            .and_then(|cfg| config::diff_ids(id, &cfg));
        match diff_ids {
            Ok(ids) => {
                let chain = ChainId::chain(&ids);
                self.chains
                    .extend(chain.iter().map(|c| c.hex().to_string()));
            }
            Err(e) => {
                tracing::warn!("image {id}: {e}; keeping every snapshot");
                self.chains_known = false;
            }
        }
    }

    /// Container records are read directly, not through the state files: a
    /// container whose state is unreadable still needs its layers.
    fn add_container_layers(&mut self, store: &Store) -> Result<(), GcError> {
        let dir = store.containers_dir();
        for path in list_dir(&dir)? {
            if !path.join(record::CONFIG_FILE).exists() {
                continue;
            }
            match record::read_record(&path) {
                Ok(rec) => {
                    let names = rec.config.layers.iter().filter_map(|l| l.file_name());
                    self.chains
                        .extend(names.map(|n| n.to_string_lossy().into_owned()));
                }
                Err(e) => {
                    tracing::warn!("{e}; keeping every snapshot");
                    self.chains_known = false;
                }
            }
        }
        Ok(())
    }
}

/// Digests of the descriptors under `key` (one object or an array of them).
fn descriptors<'a>(manifest: &'a Value, key: &str) -> impl Iterator<Item = Digest> + 'a {
    let items: Vec<&Value> = match manifest.get(key) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|d| d.get("digest").and_then(Value::as_str))
        .filter_map(|d| Digest::parse(d).ok())
}

fn remove_blobs(store: &Store, live: &Live, out: &mut Reclaimed) -> Result<(), GcError> {
    let content = ContentStore::new(store);
    let all = content.list()?;
    for digest in all.into_iter().filter(|d| !live.blobs.contains(d)) {
        let path = content.path(&digest);
        let size = fs::symlink_metadata(&path).map_or(0, |m| m.len());
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(GcError::io("remove", &path, e)),
        }
        out.bytes += size;
        out.blobs.push(digest);
    }
    if !out.blobs.is_empty() {
        store::fsync_dir(&store.blobs_dir())?;
    }
    Ok(())
}

fn remove_snapshots(store: &Store, live: &Live, out: &mut Reclaimed) -> Result<(), GcError> {
    let all = snapshot::list(store)?;
    for chain in all.into_iter().filter(|c| !live.chains.contains(c.hex())) {
        out.bytes += remove_snapshot(store, &chain)?;
        out.snapshots.push(chain);
    }
    Ok(())
}

/// Renames the snapshot to a temp name first: a crash half-way through the
/// removal must not leave a partial tree under a ChainID, which an import
/// would take for the whole layer.
fn remove_snapshot(store: &Store, chain: &ChainId) -> Result<u64, GcError> {
    let dir = store.snapshots_dir();
    let from = snapshot::path(store, chain);
    let tmp_name = format!("{SNAPSHOT_TMP_PREFIX}{}", store::unique_suffix());
    let to = dir.join(&tmp_name);
    fs::rename(&from, &to).map_err(|e| GcError::io("rename", &from, e))?;
    store::fsync_dir(&dir)?;
    let size = snapshot::disk_usage(&to);
    remove_dir_tree(&dir, OsStr::new(&tmp_name))?;
    Ok(size)
}

fn remove_dir_tree(dir: &Path, name: &OsStr) -> Result<(), GcError> {
    let path = dir.join(name);
    extract::remove_dir_all(&path).map_err(|e| GcError::io("remove", &path, e))
}

/// `snapshots/tmp-*`, everything in `tmp/`, and index temp files, when their
/// writer is gone or they are older than [`STALE_AFTER`].
fn remove_temps(store: &Store, out: &mut Reclaimed) -> Result<(), GcError> {
    remove_temps_if(store, out, is_abandoned)
}

/// Removes the temp files and snapshots of writers that died (a `kill -9`
/// mid-pull). Safe while holding `content` shared, as writers do: a dead
/// writer's temps are nobody's.
pub fn sweep_dead_writers(store: &Store) -> Result<Reclaimed, GcError> {
    let mut out = Reclaimed::default();
    remove_temps_if(store, &mut out, |pid, _, _| {
        pid.is_some_and(|p| !process_exists(p))
    })?;
    Ok(out)
}

/// The temp files and snapshots of writers that died, for `system check`.
pub fn dead_writer_temps(store: &Store) -> Result<Vec<PathBuf>, GcError> {
    let found = temps_if(store, |pid, _, _| pid.is_some_and(|p| !process_exists(p)))?;
    Ok(found
        .into_iter()
        .map(|(dir, name, _)| dir.join(name))
        .collect())
}

fn remove_temps_if(
    store: &Store,
    out: &mut Reclaimed,
    abandoned: impl Fn(Option<i32>, &Metadata, SystemTime) -> bool,
) -> Result<(), GcError> {
    for (dir, name, meta) in temps_if(store, abandoned)? {
        out.bytes += remove_temp(&dir, &name, &meta)?;
        out.temps += 1;
    }
    Ok(())
}

/// Temp entries (directory, name, metadata) that `abandoned` picks.
fn temps_if(
    store: &Store,
    abandoned: impl Fn(Option<i32>, &Metadata, SystemTime) -> bool,
) -> Result<Vec<(PathBuf, String, Metadata)>, GcError> {
    let now = SystemTime::now();
    let places = [
        (store.snapshots_dir(), Some(SNAPSHOT_TMP_PREFIX)),
        (store.tmp_dir(), None),
        (store.root().to_path_buf(), Some(INDEX_TMP_PREFIX)),
    ];
    let mut out = Vec::new();
    for (dir, prefix) in places {
        for path in list_dir(&dir)? {
            let Some(name) = path.file_name().and_then(OsStr::to_str) else {
                continue;
            };
            let pid = match prefix {
                Some(p) if !name.starts_with(p) => continue,
                Some(p) => owner_pid(&name[p.len()..]),
                // tmp/ names are `<kind>-<unique suffix>`.
                None => name.split_once('-').and_then(|(_, rest)| owner_pid(rest)),
            };
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if abandoned(pid, &meta, now) {
                out.push((dir.clone(), name.to_string(), meta));
            }
        }
    }
    Ok(out)
}

fn remove_temp(dir: &Path, name: &str, meta: &Metadata) -> Result<u64, GcError> {
    let path = dir.join(name);
    if meta.is_dir() {
        let size = snapshot::disk_usage(&path);
        remove_dir_tree(dir, OsStr::new(name))?;
        return Ok(size);
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(meta.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(GcError::io("remove", &path, e)),
    }
}

/// The pid at the start of a [`store::unique_suffix`].
pub fn owner_pid(suffix: &str) -> Option<i32> {
    suffix.split('-').next()?.parse().ok()
}

fn is_abandoned(pid: Option<i32>, meta: &Metadata, now: SystemTime) -> bool {
    if pid.is_some_and(|p| !process_exists(p)) {
        return true;
    }
    let modified = meta.modified().unwrap_or(now);
    now.duration_since(modified).unwrap_or_default() > STALE_AFTER
}

pub fn process_exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        // EPERM: it exists, owned by someone else.
        Err(_) => true,
    }
}

/// Entries of `dir`; an absent directory has none.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, GcError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(GcError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        out.push(entry.map_err(|e| GcError::io("list", dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pids_are_read_from_unique_suffixes() {
        let suffix = store::unique_suffix();
        assert_eq!(owner_pid(&suffix), Some(std::process::id() as i32));
        assert_eq!(owner_pid("abc-1"), None);
        assert_eq!(owner_pid(""), None);
    }

    #[test]
    fn only_dead_writers_or_old_files_are_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let meta = fs::metadata(dir.path()).unwrap();
        let now = SystemTime::now();
        let me = std::process::id() as i32;
        assert!(!is_abandoned(Some(me), &meta, now));
        assert!(!is_abandoned(None, &meta, now));
        // pid_max is at most 2^22: this pid cannot exist.
        assert!(is_abandoned(Some(1 << 23), &meta, now));
        let later = now + STALE_AFTER + Duration::from_secs(1);
        assert!(is_abandoned(Some(me), &meta, later));
        assert!(is_abandoned(None, &meta, later));
    }
}
