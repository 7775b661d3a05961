//! The root directory of berth's state (default `/var/lib/berth`).
//!
//! Layout (every directory 0700, created by [`Store::open`]):
//!
//! ```text
//! <root>/blobs/sha256/<hex>   content-addressed blobs (layers, configs, manifests)
//! <root>/snapshots/<hex>      unpacked layers keyed by ChainID
//! <root>/containers/<id>/     per-container state
//! <root>/volumes/<name>/      named volumes
//! <root>/networks/            networks and IP allocations
//! <root>/tmp/                 temp files; renamed into place once complete
//! <root>/locks/<name>.lock    flock(2) files guarding multi-step mutations
//! <root>/images.json          the image and tag index (see `image::refs`)
//! ```
//!
//! Every write is atomic (temp file + fsync + rename + fsync of the directory),
//! so a crash leaves either the old or the new version of a file, never half of one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Subdirectories created under the root, in creation order.
const LAYOUT: [&str; 9] = [
    "blobs",
    "blobs/sha256",
    "blobs/ingest",
    "snapshots",
    "containers",
    "volumes",
    "networks",
    "tmp",
    "locks",
];

/// Mode of every directory berth creates in its root: state is root-only.
const DIR_MODE: u32 = 0o700;

/// Mode of files written with [`write_atomic`]: readable, because some of them
/// (hosts, resolv.conf) are bind-mounted into containers; the 0700 directories
/// keep them private on the host.
const FILE_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid lock name {name:?}: use letters, digits, '-', '_' and '.'")]
    InvalidLockName { name: String },
    #[error("the state directory {} was opened read-only; this command cannot change it", root.display())]
    ReadOnly { root: PathBuf },
}

impl StoreError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Handle on a state root. Cheap to clone; holds no open files.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    readonly: bool,
}

impl Store {
    /// Opens `root`, creating it and its layout if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        create_dir_all_private(&root)?;
        for sub in LAYOUT {
            create_dir_private(&root.join(sub))?;
        }
        Ok(Store {
            root,
            readonly: false,
        })
    }

    /// Opens `root` without creating anything, for read-only verbs (`images`,
    /// `ps`, `inspect`) that must work, and show nothing, before the first
    /// write. Mutating helpers ([`Store::lock`]) refuse to run on it.
    pub fn open_readonly(root: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            readonly: true,
        }
    }

    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `blobs/sha256/`: blobs named by the hex of their sha256 digest.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// Blobs being downloaded, kept across interruptions so a pull resumes.
    pub fn ingest_dir(&self) -> PathBuf {
        self.root.join("blobs/ingest")
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    pub fn networks_dir(&self) -> PathBuf {
        self.root.join("networks")
    }

    /// Scratch space on the same filesystem as the rest of the root, so a
    /// finished temp file can be renamed into place atomically.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// Takes the exclusive lock `locks/<name>.lock`, waiting for other holders
    /// (in this or another process). Released when the guard drops.
    pub fn lock(&self, name: &str) -> Result<LockGuard, StoreError> {
        self.lock_with(name, FlockArg::LockExclusive)
    }

    /// Takes `locks/<name>.lock` shared: many holders at once, but none while
    /// someone holds it exclusively. Writers of new content hold `content`
    /// shared, so garbage collection (exclusive) never sees their blobs and
    /// snapshots before the index references them.
    pub fn lock_shared(&self, name: &str) -> Result<LockGuard, StoreError> {
        self.lock_with(name, FlockArg::LockShared)
    }

    fn lock_with(&self, name: &str, arg: FlockArg) -> Result<LockGuard, StoreError> {
        if self.readonly {
            return Err(StoreError::ReadOnly {
                root: self.root.clone(),
            });
        }
        validate_lock_name(name)?;
        let path = self.locks_dir().join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("open lock file", &path, e))?;
        let flock = flock(file, arg).map_err(|e| StoreError::io("lock", &path, e))?;
        Ok(LockGuard {
            _flock: flock,
            path,
        })
    }
}

impl Store {
    /// Takes `locks/<name>.lock` exclusively, and the file goes with the lock:
    /// for locks named after things that come and go (container names), so
    /// `locks/` does not grow with every name ever used. The file is unlinked
    /// while still locked; a waiter that then gets the lock on the unlinked
    /// file sees the path no longer leads to it, and locks the new one.
    pub fn lock_transient(&self, name: &str) -> Result<TransientLock, StoreError> {
        use std::os::unix::fs::MetadataExt;
        loop {
            let guard = self.lock(name)?;
            let held = guard._flock.metadata();
            let current = fs::metadata(&guard.path);
            if let (Ok(held), Ok(current)) = (held, current)
                && held.ino() == current.ino()
                && held.dev() == current.dev()
            {
                return Ok(TransientLock(guard));
            }
        }
    }
}

/// An exclusive lock whose file is removed when it is released.
#[derive(Debug)]
pub struct TransientLock(LockGuard);

impl Drop for TransientLock {
    fn drop(&mut self) {
        // Unlinked before the flock is released (the field drops after this).
        let _ = fs::remove_file(&self.0.path);
    }
}

/// A flock(2); dropping it unlocks (and closes) the lock file.
#[derive(Debug)]
pub struct LockGuard {
    _flock: Flock<File>,
    path: PathBuf,
}

impl LockGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn flock(mut file: File, arg: FlockArg) -> io::Result<Flock<File>> {
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(lock),
            // A signal interrupted the wait; keep waiting.
            Err((f, Errno::EINTR)) => file = f,
            Err((_, errno)) => return Err(io::Error::from(errno)),
        }
    }
}

fn validate_lock_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidLockName {
            name: name.to_string(),
        })
    }
}

fn create_dir_all_private(path: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .map_err(|e| StoreError::io("create directory", path, e))
}

fn create_dir_private(path: &Path) -> Result<(), StoreError> {
    match DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(StoreError::io("create directory", path, e)),
    }
}

/// A name unique among concurrent writers: pid, time and a per-process counter.
/// Callers still create with O_EXCL / mkdir, so a clash is an error, never a
/// shared file.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{:x}-{n}", std::process::id(), nanos)
}

/// Replaces `path` with `bytes` atomically (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_atomic_mode(path, bytes, FILE_MODE)
}

/// Replaces `path` with `bytes` atomically: a crash leaves the old file or the
/// new one. The temp file sits in the same directory so the rename cannot
/// cross filesystems.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", unique_suffix()));
    let result = write_new_file(&tmp, bytes, mode)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| StoreError::io("rename", path, e)))
        .and_then(|()| fsync_dir(dir));
    if result.is_err() {
        // Best effort: the temp name is ours alone, nothing else refers to it.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| StoreError::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| StoreError::io("write", path, e))?;
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", path, e))
}

/// Makes a rename or unlink in `dir` durable.
pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn open_creates_private_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let store = Store::open(&root).unwrap();
        for sub in [
            store.blobs_dir(),
            store.snapshots_dir(),
            store.containers_dir(),
            store.volumes_dir(),
            store.networks_dir(),
            store.tmp_dir(),
            store.locks_dir(),
        ] {
            let mode = fs::metadata(&sub).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", sub.display());
        }
        // Opening again is fine.
        Store::open(&root).unwrap();
    }

    #[test]
    fn readonly_creates_nothing_and_refuses_locks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("absent");
        let store = Store::open_readonly(&root);
        assert!(!root.exists());
        assert!(matches!(store.lock("x"), Err(StoreError::ReadOnly { .. })));
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn lock_names_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(matches!(
                store.lock(bad),
                Err(StoreError::InvalidLockName { .. })
            ));
        }
    }

    #[test]
    fn lock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let guard = store.lock("images").unwrap();
        let acquired = Arc::new(AtomicBool::new(false));
        let flag = acquired.clone();
        let other = store.clone();
        let handle = std::thread::spawn(move || {
            let _g = other.lock("images").unwrap();
            flag.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!acquired.load(Ordering::SeqCst), "lock was not exclusive");
        drop(guard);
        handle.join().unwrap();
        assert!(acquired.load(Ordering::SeqCst));
    }
}
