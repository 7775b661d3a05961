//! The content store: immutable blobs named by their sha256 under
//! `blobs/sha256/<hex>`.
//!
//! A blob is streamed into a temp file under `tmp/`, hashed on the way, checked
//! against the digest the caller expects, fsynced, and only then renamed to its
//! final name. A reader that sees `blobs/sha256/<hex>` therefore always sees
//! the complete content of that digest.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::digest::{Digest, HashingWriter};
use crate::runtime::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest} not found in the content store")]
    NotFound { digest: Digest },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ContentError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> ContentError {
        ContentError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Blobs of one [`Store`].
#[derive(Debug, Clone, Copy)]
pub struct ContentStore<'a> {
    store: &'a Store,
}

impl<'a> ContentStore<'a> {
    pub fn new(store: &'a Store) -> ContentStore<'a> {
        ContentStore { store }
    }

    /// Where the blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.store.blobs_dir().join(digest.hex())
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Starts a blob whose digest is known only at the end of the stream.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        BlobWriter::create(self.store)
    }

    /// Streams `reader` into the store. With `expected`, a different digest is
    /// an error and nothing is stored.
    pub fn put_stream(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), ContentError> {
        let mut writer = self.writer()?;
        let tmp = writer.tmp_path().to_path_buf();
        io::copy(&mut reader, &mut writer).map_err(|e| ContentError::io("write", &tmp, e))?;
        writer.commit(expected)
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64), ContentError> {
        let digest = Digest::of_bytes(bytes);
        if self.exists(&digest) {
            // Content-addressed: an existing blob of this digest is this content.
            return Ok((digest, bytes.len() as u64));
        }
        self.put_stream(bytes, Some(&digest))
    }

    pub fn open(&self, digest: &Digest) -> Result<File, ContentError> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| self.not_found_or(digest, "open", &path, e))
    }

    /// Reads a (small) blob whole and checks its digest, so a corrupted config
    /// or manifest is reported instead of parsed.
    pub fn read_verified(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let path = self.path(digest);
        let bytes = fs::read(&path).map_err(|e| self.not_found_or(digest, "read", &path, e))?;
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(ContentError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Re-hashes the blob on disk.
    pub fn verify(&self, digest: &Digest) -> Result<(), ContentError> {
        let mut file = self.open(digest)?;
        let mut hasher = HashingWriter::new(io::sink());
        io::copy(&mut file, &mut hasher)
            .map_err(|e| ContentError::io("read", &self.path(digest), e))?;
        let (_, actual, _) = hasher.finish();
        if &actual == digest {
            Ok(())
        } else {
            Err(ContentError::DigestMismatch {
                expected: digest.clone(),
                actual,
            })
        }
    }

    /// Removes the blob; returns false when it was not there.
    pub fn delete(&self, digest: &Digest) -> Result<bool, ContentError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ContentError::io("remove", &path, e)),
        }
    }

    /// Every blob digest in the store (files with other names are ignored).
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.store.blobs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ContentError::io("list", &dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ContentError::io("list", &dir, e))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    fn not_found_or(
        &self,
        digest: &Digest,
        op: &'static str,
        path: &Path,
        e: io::Error,
    ) -> ContentError {
        if e.kind() == io::ErrorKind::NotFound {
            ContentError::NotFound {
                digest: digest.clone(),
            }
        } else {
            ContentError::io(op, path, e)
        }
    }
}

/// A blob being written. Nothing is visible under `blobs/` until
/// [`BlobWriter::commit`]; dropping the writer without committing removes the
/// temp file.
pub struct BlobWriter {
    inner: Option<HashingWriter<BufWriter<File>>>,
    tmp: PathBuf,
    blobs_dir: PathBuf,
}

impl BlobWriter {
    fn create(store: &Store) -> Result<BlobWriter, ContentError> {
        let tmp = store
            .tmp_dir()
            .join(format!("blob-{}", store::unique_suffix()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| ContentError::io("create", &tmp, e))?;
        Ok(BlobWriter {
            inner: Some(HashingWriter::new(BufWriter::with_capacity(1 << 16, file))),
            tmp,
            blobs_dir: store.blobs_dir(),
        })
    }

    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.bytes_written())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the blob durable and visible under its digest. With `expected`, a
    /// mismatch discards the data. An existing blob of the same digest is kept
    /// and the new copy dropped.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), ContentError> {
        let Some(inner) = self.inner.take() else {
            return Err(ContentError::io(
                "commit",
                &self.tmp,
                io::Error::other("blob writer already finished"),
            ));
        };
        let (buffered, digest, len) = inner.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| ContentError::io("write", &self.tmp, e.into_error()))?;
        if let Some(expected) = expected.filter(|e| **e != digest) {
            return Err(ContentError::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
            });
        }
        let target = self.blobs_dir.join(digest.hex());
        if target.is_file() {
            return Ok((digest, len));
        }
        file.sync_all()
            .map_err(|e| ContentError::io("fsync", &self.tmp, e))?;
        fs::rename(&self.tmp, &target).map_err(|e| ContentError::io("rename", &target, e))?;
        store::fsync_dir(&self.blobs_dir)?;
        Ok((digest, len))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("blob writer already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful rename the temp name no longer exists; in every
        // other case (error, mismatch, duplicate, abandoned) it must go.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_entries(store: &Store) -> usize {
        fs::read_dir(store.tmp_dir()).unwrap().count()
    }

    #[test]
    fn put_open_verify_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cs = ContentStore::new(&store);
        let (d, n) = cs.put_bytes(b"hello").unwrap();
        assert_eq!(n, 5);
        assert_eq!(d, Digest::of_bytes(b"hello"));
        assert!(cs.exists(&d));
        let mut s = String::new();
        cs.open(&d).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        cs.verify(&d).unwrap();
        assert_eq!(cs.list().unwrap(), vec![d.clone()]);
        // Duplicate put is a no-op.
        cs.put_stream(&b"hello"[..], Some(&d)).unwrap();
        assert_eq!(tmp_entries(&store), 0);
        assert!(cs.delete(&d).unwrap());
        assert!(!cs.delete(&d).unwrap());
        assert!(matches!(cs.open(&d), Err(ContentError::NotFound { .. })));
    }

    #[test]
    fn wrong_digest_is_rejected_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cs = ContentStore::new(&store);
        let wrong = Digest::of_bytes(b"something else");
        let err = cs.put_stream(&b"hello"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(wrong.as_str()));
        assert_eq!(tmp_entries(&store), 0);
        assert!(!cs.exists(&Digest::of_bytes(b"hello")));
        assert!(cs.list().unwrap().is_empty());
    }

    #[test]
    fn abandoned_writer_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cs = ContentStore::new(&store);
        let mut w = cs.writer().unwrap();
        w.write_all(b"partial").unwrap();
        assert_eq!(tmp_entries(&store), 1);
        drop(w);
        assert_eq!(tmp_entries(&store), 0);
    }

    #[test]
    fn verify_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cs = ContentStore::new(&store);
        let (d, _) = cs.put_bytes(b"config").unwrap();
        fs::write(cs.path(&d), b"tampered").unwrap();
        assert!(matches!(
            cs.verify(&d),
            Err(ContentError::DigestMismatch { .. })
        ));
        assert!(cs.read_verified(&d).is_err());
    }
}
