//! Unpacked layers, one directory per layer under `snapshots/<chainid hex>/`.
//!
//! A snapshot holds only its own layer's files, already in overlayfs format
//! (whiteouts are 0/0 character devices, opaque directories carry
//! `trusted.overlay.opaque=y`), so the container code can stack the snapshots
//! of an image as overlay lowerdirs as they are.
//!
//! Snapshots are keyed by ChainID, which names a layer *together with
//! everything below it*; two images sharing a base share its snapshots. A
//! layer is unpacked into `snapshots/tmp-<unique>` and renamed to its final
//! name only when complete, so a directory named by a ChainID is always whole.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::{Digest, HashingReader};
use super::extract;
use crate::runtime::store::{self, Store, StoreError};

const TMP_PREFIX: &str = "tmp-";
const READ_BUFFER: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {entry:?}: cannot {op}: {source}")]
    Entry {
        entry: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {entry:?} rejected: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("layer entry {entry:?} has unsupported tar type {kind}")]
    UnsupportedEntry { entry: String, kind: String },
    #[error("invalid layer tar stream: {source}")]
    Tar {
        #[source]
        source: io::Error,
    },
    #[error("layer content does not match its diff id: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: Digest, actual: Digest },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SnapshotError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> SnapshotError {
        SnapshotError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The OCI ChainID of a layer stack: `chain(L1) = diffid(L1)`,
/// `chain(Ln) = sha256(chain(Ln-1) + " " + diffid(Ln))`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(Digest);

impl ChainId {
    /// The ChainID of `diff_id` stacked on `parent`.
    pub fn next(parent: Option<&ChainId>, diff_id: &Digest) -> ChainId {
        match parent {
            None => ChainId(diff_id.clone()),
            Some(p) => ChainId(Digest::of_bytes(format!("{} {diff_id}", p.0).as_bytes())),
        }
    }

    /// The ChainIDs of every prefix of `diff_ids`, lowest layer first.
    pub fn chain(diff_ids: &[Digest]) -> Vec<ChainId> {
        let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
        for diff_id in diff_ids {
            let next = ChainId::next(out.last(), diff_id);
            out.push(next);
        }
        out
    }

    pub fn digest(&self) -> &Digest {
        &self.0
    }

    pub fn hex(&self) -> &str {
        self.0.hex()
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

/// `snapshots/<chainid hex>` (whether or not it exists).
pub fn path(store: &Store, chain: &ChainId) -> PathBuf {
    store.snapshots_dir().join(chain.hex())
}

pub fn exists(store: &Store, chain: &ChainId) -> bool {
    path(store, chain).is_dir()
}

/// Every complete snapshot (in-progress `tmp-*` directories are skipped).
pub fn list(store: &Store) -> Result<Vec<ChainId>, SnapshotError> {
    let dir = store.snapshots_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SnapshotError::io("list", &dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SnapshotError::io("list", &dir, e))?;
        let name = entry.file_name();
        if let Some(d) = name.to_str().and_then(|n| Digest::from_hex(n).ok()) {
            out.push(ChainId(d));
        }
    }
    out.sort();
    Ok(out)
}

/// Unpacks one layer (an uncompressed tar stream) on top of `parent` and
/// returns its ChainID. The stream must hash to `diff_id`; on mismatch nothing
/// is kept. An existing snapshot of the same ChainID is reused (the stream is
/// still read through and verified).
pub fn unpack(
    store: &Store,
    parent: Option<&ChainId>,
    diff_id: &Digest,
    reader: impl Read,
) -> Result<ChainId, SnapshotError> {
    unpack_sized(store, parent, diff_id, reader).map(|(chain, _)| chain)
}

/// Like [`unpack`], also returning the layer's unpacked size (bytes of
/// regular-file content) when this call extracted it; None when the snapshot
/// already existed (see [`disk_usage`]).
pub fn unpack_sized(
    store: &Store,
    parent: Option<&ChainId>,
    diff_id: &Digest,
    reader: impl Read,
) -> Result<(ChainId, Option<u64>), SnapshotError> {
    let chain = ChainId::next(parent, diff_id);
    let mut hashing = HashingReader::new(reader);
    let temp = if exists(store, &chain) {
        drain(&mut hashing)?;
        None
    } else {
        Some(extract_to_temp(store, &mut hashing)?)
    };
    let (actual, _) = hashing.finish();
    if &actual != diff_id {
        // Dropping `temp` removes the half-trusted tree.
        return Err(SnapshotError::DiffIdMismatch {
            expected: diff_id.clone(),
            actual,
        });
    }
    let Some(temp) = temp else {
        return Ok((chain, None));
    };
    let size = temp.size();
    temp.commit(store, &chain)?;
    Ok((chain, Some(size)))
}

/// Bytes of regular-file content under `dir`, each inode once (a layer's
/// hardlinks share their data), not following symlinks: the unpacked size as
/// extraction counts it. Iterative, so no nesting depth overflows the stack;
/// what cannot be read (a path beyond PATH_MAX) counts as zero.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut seen = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && (meta.nlink() == 1 || seen.insert((meta.dev(), meta.ino())))
            {
                total += meta.len();
            }
        }
    }
    total
}

fn drain(reader: impl Read) -> Result<(), SnapshotError> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    io::copy(&mut reader, &mut io::sink()).map_err(|source| SnapshotError::Tar { source })?;
    Ok(())
}

/// Extracts a tar stream into a fresh `snapshots/tmp-*` directory and reads
/// the stream to its end (so a hashing or tee-ing reader sees every byte).
pub(crate) fn extract_to_temp(
    store: &Store,
    reader: impl Read,
) -> Result<TempSnapshot, SnapshotError> {
    let mut temp = TempSnapshot::create(store)?;
    let reader = BufReader::with_capacity(READ_BUFFER, reader);
    temp.size = extract::extract(&temp.path, reader)?;
    Ok(temp)
}

/// A fully extracted layer not yet under its final name. Dropping it removes
/// the directory.
pub(crate) struct TempSnapshot {
    path: PathBuf,
    size: u64,
    committed: bool,
}

impl TempSnapshot {
    fn create(store: &Store) -> Result<TempSnapshot, SnapshotError> {
        let path = store
            .snapshots_dir()
            .join(format!("{TMP_PREFIX}{}", store::unique_suffix()));
        extract::create_root(&path)?;
        Ok(TempSnapshot {
            path,
            size: 0,
            committed: false,
        })
    }

    /// Bytes of regular-file content in the layer (its unpacked size).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Renames the tree to `snapshots/<chain hex>`, or drops it when that
    /// snapshot already exists (an earlier import or a concurrent process).
    pub(crate) fn commit(
        mut self,
        store: &Store,
        chain: &ChainId,
    ) -> Result<PathBuf, SnapshotError> {
        let target = path(store, chain);
        if target.is_dir() {
            return Ok(target);
        }
        // Flush the extracted files first: after a crash the final name must
        // not point at a tree of empty files.
        sync_filesystem(&self.path)?;
        match fs::rename(&self.path, &target) {
            Ok(()) => self.committed = true,
            // Lost a race with another unpack of the same layer: theirs is whole.
            Err(_) if target.is_dir() => return Ok(target),
            Err(e) => return Err(SnapshotError::io("rename snapshot to", &target, e)),
        }
        store::fsync_dir(&store.snapshots_dir())?;
        Ok(target)
    }
}

impl Drop for TempSnapshot {
    fn drop(&mut self) {
        if !self.committed {
            // Never follows symlinks inside the tree, and copes with any depth.
            let _ = extract::remove_dir_all(&self.path);
        }
    }
}

fn sync_filesystem(dir: &Path) -> Result<(), SnapshotError> {
    let file = File::open(dir).map_err(|e| SnapshotError::io("open", dir, e))?;
    nix::unistd::syncfs(&file).map_err(|e| SnapshotError::io("syncfs", dir, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of_bytes(s.as_bytes())
    }

    #[test]
    fn disk_usage_counts_file_content_once_per_inode() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/one"), vec![0u8; 100]).unwrap();
        fs::write(root.join("a/b/two"), vec![0u8; 20]).unwrap();
        fs::hard_link(root.join("a/one"), root.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("s")).unwrap();
        assert_eq!(disk_usage(root), 120);
        assert_eq!(disk_usage(&root.join("absent")), 0);
    }

    #[test]
    fn chain_id_matches_hand_computed_values() {
        // diff ids are sha256("a") and sha256("b"); the second ChainID is
        // sha256("sha256:ca97...48bb sha256:3e23...009d"), computed with
        // `printf '%s' 'sha256:<a> sha256:<b>' | sha256sum`.
        let a = d("a");
        let b = d("b");
        assert_eq!(
            a.as_str(),
            "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        let chain = ChainId::chain(&[a.clone(), b.clone()]);
        assert_eq!(chain[0].digest(), &a);
        assert_eq!(
            chain[1].to_string(),
            "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
        );
        assert_eq!(chain[1], ChainId::next(Some(&chain[0]), &b));
        assert!(ChainId::chain(&[]).is_empty());
    }
}
