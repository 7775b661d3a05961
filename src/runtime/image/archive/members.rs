//! The one pass over an archive: every regular member is spooled into a
//! private directory under the store's `tmp/` (hashed on the way), links are
//! remembered, and nothing is interpreted until the whole tar has been read,
//! since tar member order is arbitrary (`docker save` puts manifest.json last).

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use tar::EntryType;

use super::ArchiveError;
use super::format::BLOBS_DIR;
use crate::runtime::image::digest::{Digest, HashingWriter};
use crate::runtime::store::{self, Store};

/// JSON documents (manifests, configs, indexes) larger than this are refused
/// rather than read into memory.
const MAX_JSON: u64 = 32 << 20;
/// Symlinks followed to reach a member (legacy layers link to each other).
const MAX_LINKS: usize = 16;
const WRITE_BUFFER: usize = 1 << 16;

/// A member's content, spooled to disk.
#[derive(Debug, Clone)]
pub struct Spooled {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug)]
enum Entry {
    File(Spooled),
    /// A symlink or hardlink, its target already made an archive path.
    Link(String),
}

/// The regular files and links of an archive. Dropping it removes the spool
/// directory and whatever is still in it.
pub struct Members {
    dir: PathBuf,
    entries: HashMap<String, Entry>,
    spooled: usize,
}

impl Members {
    /// Reads the whole tar stream.
    pub fn read(store: &Store, reader: impl Read) -> Result<Members, ArchiveError> {
        let dir = store
            .tmp_dir()
            .join(format!("load-{}", store::unique_suffix()));
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| ArchiveError::io("create", &dir, e))?;
        let mut members = Members {
            dir,
            entries: HashMap::new(),
            spooled: 0,
        };
        members.read_all(reader)?;
        if members.entries.is_empty() {
            return Err(ArchiveError::Empty);
        }
        members.verify_blob_names()?;
        Ok(members)
    }

    fn read_all(&mut self, reader: impl Read) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(reader);
        let mut last: Option<String> = None;
        let read_error = |last: &Option<String>, source| match last {
            None => ArchiveError::NotTar { source },
            Some(member) => ArchiveError::Truncated {
                member: member.clone(),
                source,
            },
        };
        let entries = archive.entries().map_err(|e| read_error(&last, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_error(&last, e))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            self.add(&name, entry)?;
            last = Some(name);
        }
        Ok(())
    }

    fn add(&mut self, raw: &str, mut entry: tar::Entry<'_, impl Read>) -> Result<(), ArchiveError> {
        // A name that climbs out of the archive cannot be referenced; it is
        // never used as a path on disk either, so it is simply skipped.
        let Some(name) = normalize("", raw) else {
            return Ok(());
        };
        let kind = entry.header().entry_type();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let resolved = match (kind, link) {
            (EntryType::Regular | EntryType::Continuous, _) => {
                let spooled = self.spool(&name, &mut entry)?;
                Entry::File(spooled)
            }
            (EntryType::Symlink, Some(target)) => match normalize(parent(&name), &target) {
                Some(t) => Entry::Link(t),
                None => return Ok(()),
            },
            (EntryType::Link, Some(target)) => match normalize("", &target) {
                Some(t) => Entry::Link(t),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        if let Some(Entry::File(old)) = self.entries.insert(name, resolved) {
            // A later member of the same name replaces the earlier one.
            let _ = fs::remove_file(&old.path);
        }
        Ok(())
    }

    fn spool(&mut self, name: &str, entry: &mut impl Read) -> Result<Spooled, ArchiveError> {
        self.spooled += 1;
        let path = self.dir.join(self.spooled.to_string());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| ArchiveError::io("create", &path, e))?;
        let mut writer = HashingWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file));
        copy_member(entry, &mut writer, name, &path)?;
        writer
            .flush()
            .map_err(|e| ArchiveError::io("write", &path, e))?;
        let (_, digest, size) = writer.finish();
        Ok(Spooled { path, digest, size })
    }

    /// Every `blobs/sha256/<hex>` member must hash to its name, referenced or not.
    fn verify_blob_names(&self) -> Result<(), ArchiveError> {
        let prefix = format!("{BLOBS_DIR}/");
        for (name, entry) in &self.entries {
            let (Some(hex), Entry::File(spooled)) = (name.strip_prefix(&prefix), entry) else {
                continue;
            };
            let expected = Digest::from_hex(hex)
                .map_err(|e| ArchiveError::invalid(name, format!("not a blob name: {e}")))?;
            check_digest(name, &expected, spooled)?;
        }
        Ok(())
    }

    /// The member `name`, following links; None when absent.
    pub fn get(&self, name: &str) -> Option<&Spooled> {
        let mut current = normalize("", name)?;
        for _ in 0..MAX_LINKS {
            match self.entries.get(&current)? {
                Entry::File(spooled) => return Some(spooled),
                Entry::Link(target) => current = target.clone(),
            }
        }
        None
    }

    /// Like [`Members::get`], with the error naming who wanted the member.
    pub fn require(&self, name: &str, by: &str) -> Result<&Spooled, ArchiveError> {
        self.get(name).ok_or_else(|| ArchiveError::Missing {
            member: name.to_string(),
            by: by.to_string(),
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A small member's bytes.
    pub fn bytes(&self, name: &str, spooled: &Spooled) -> Result<Vec<u8>, ArchiveError> {
        if spooled.size > MAX_JSON {
            return Err(ArchiveError::invalid(
                name,
                format!("{} bytes is too large for a JSON document", spooled.size),
            ));
        }
        fs::read(&spooled.path).map_err(|e| ArchiveError::io("read", &spooled.path, e))
    }

    /// Parses the member `name` as JSON.
    pub fn json<T: DeserializeOwned>(&self, name: &str, by: &str) -> Result<T, ArchiveError> {
        let spooled = self.require(name, by)?;
        parse_json(name, &self.bytes(name, spooled)?)
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        // Files adopted into the content store are gone already; the rest is
        // scratch.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn parse_json<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::invalid(name, e))
}

pub fn check_digest(name: &str, expected: &Digest, spooled: &Spooled) -> Result<(), ArchiveError> {
    if &spooled.digest == expected {
        return Ok(());
    }
    Err(ArchiveError::Mismatch {
        member: name.to_string(),
        expected: expected.clone(),
        actual: spooled.digest.clone(),
    })
}

/// Copies one member, telling a truncated or unreadable archive apart from a
/// failing spool disk.
fn copy_member(
    entry: &mut impl Read,
    out: &mut impl Write,
    name: &str,
    path: &Path,
) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; WRITE_BUFFER];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ArchiveError::invalid(name, format!("cannot read: {e}"))),
        };
        out.write_all(&buf[..n])
            .map_err(|e| ArchiveError::io("write", path, e))?;
    }
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `path` taken relative to the archive directory `base` (an absolute path is
/// relative to the archive root), with `.` and `..` resolved; None when it
/// climbs above the root or names nothing.
pub fn normalize(base: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    if !path.starts_with('/') {
        parts.extend(base.split('/').filter(|p| !p.is_empty()));
    }
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// Opens a spooled member for reading.
pub fn open(spooled: &Spooled) -> Result<File, ArchiveError> {
    File::open(&spooled.path).map_err(|e| ArchiveError::io("open", &spooled.path, e))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn names_are_normalized_inside_the_archive() {
        assert_eq!(
            normalize("", "./manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(
            normalize("", "blobs//sha256/x").as_deref(),
            Some("blobs/sha256/x")
        );
        assert_eq!(
            normalize("a", "../b/layer.tar").as_deref(),
            Some("b/layer.tar")
        );
        assert_eq!(normalize("a/c", "/x.tar").as_deref(), Some("x.tar"));
        assert_eq!(normalize("", "../etc/passwd"), None);
        assert_eq!(normalize("", "./"), None);
    }
}
