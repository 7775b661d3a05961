//! The image index, `<root>/images.json`: every image the store holds and
//! every tag pointing at one.
//!
//! ```json
//! {
//!   "images": { "sha256:<config>": { "manifest": "sha256:...", "size": 1234 } },
//!   "refs": { "docker.io/library/busybox:latest":
//!             { "manifest": "sha256:...", "config": "sha256:..." } }
//! }
//! ```
//!
//! Images are keyed by ID (the config digest) so untagged images stay known;
//! tags use the fully normalized `name:tag`. The file is replaced atomically,
//! and every read-modify-write holds the `images` store lock.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::config;
use super::digest::Digest;
use super::error::ImageError;
use super::reference::Reference;
use crate::runtime::store::{self, Store};

pub const INDEX_FILE: &str = "images.json";
const LOCK_NAME: &str = "images";

/// What a tag points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefTarget {
    pub manifest: Digest,
    pub config: Digest,
}

/// What the store keeps about one image besides its blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub manifest: Digest,
    /// Unpacked size: bytes of regular-file content over all layers.
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub images: BTreeMap<Digest, ImageRecord>,
    #[serde(default)]
    pub refs: BTreeMap<String, RefTarget>,
    /// When each tag was last set (RFC 3339), for `LastTagTime`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tagged: BTreeMap<String, String>,
}

impl Index {
    /// The target of `reference`: by tag, or for a digest reference the image
    /// whose manifest has that digest (content-addressed, so the repository
    /// part does not change what it names).
    pub fn lookup(&self, reference: &Reference) -> Option<RefTarget> {
        if let Some(digest) = reference.digest() {
            return self
                .images
                .iter()
                .find(|(_, rec)| &rec.manifest == digest)
                .map(|(id, rec)| RefTarget {
                    manifest: rec.manifest.clone(),
                    config: id.clone(),
                });
        }
        reference.tag_key().and_then(|k| self.refs.get(&k).cloned())
    }

    /// Every tag (normalized) pointing at image `id`, sorted.
    pub fn tags_of(&self, id: &Digest) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, t)| &t.config == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The latest time one of the image's current tags was set.
    pub fn last_tag_time(&self, id: &Digest) -> Option<&str> {
        self.tags_of(id)
            .iter()
            .filter_map(|k| self.tagged.get(k))
            .max()
            .map(String::as_str)
    }

    /// Removes a tag (by key); returns what it pointed at.
    pub fn remove_tag(&mut self, key: &str) -> Option<RefTarget> {
        self.tagged.remove(key);
        self.refs.remove(key)
    }

    fn set_tag(
        &mut self,
        reference: &Reference,
        id: &Digest,
    ) -> Result<Option<RefTarget>, ImageError> {
        let key = tag_key(reference)?;
        let record = self
            .images
            .get(id)
            .ok_or_else(|| ImageError::UnknownImage { id: id.clone() })?;
        let target = RefTarget {
            manifest: record.manifest.clone(),
            config: id.clone(),
        };
        self.tagged
            .insert(key.clone(), config::rfc3339(SystemTime::now()));
        Ok(self.refs.insert(key, target))
    }
}

fn tag_key(reference: &Reference) -> Result<String, ImageError> {
    match (reference.digest(), reference.tag_key()) {
        (None, Some(key)) => Ok(key),
        _ => Err(ImageError::DigestTag {
            reference: reference.familiar(),
        }),
    }
}

/// The index of one [`Store`].
#[derive(Debug, Clone, Copy)]
pub struct Refs<'a> {
    store: &'a Store,
}

impl<'a> Refs<'a> {
    pub fn new(store: &'a Store) -> Refs<'a> {
        Refs { store }
    }

    pub fn path(&self) -> PathBuf {
        self.store.root().join(INDEX_FILE)
    }

    /// The current index; empty when the file (or the whole root) is absent.
    pub fn load(&self) -> Result<Index, ImageError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(source) => {
                return Err(ImageError::Io {
                    op: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| ImageError::CorruptIndex { path, source })
    }

    /// Read-modify-write under the `images` lock; `f`'s error leaves the file
    /// untouched.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, ImageError>,
    ) -> Result<T, ImageError> {
        let _lock = self.store.lock(LOCK_NAME)?;
        let mut index = self.load()?;
        let out = f(&mut index)?;
        let bytes =
            serde_json::to_vec_pretty(&index).map_err(|source| ImageError::CorruptIndex {
                path: self.path(),
                source,
            })?;
        store::write_atomic(&self.path(), &bytes)?;
        Ok(out)
    }

    /// Records image `id` and, optionally, points `tag` at it in the same
    /// write. Returns what the tag pointed at before.
    pub fn add_image(
        &self,
        id: &Digest,
        record: ImageRecord,
        tag: Option<&Reference>,
    ) -> Result<Option<RefTarget>, ImageError> {
        self.update(|index| {
            index.images.insert(id.clone(), record);
            match tag {
                Some(r) => index.set_tag(r, id),
                None => Ok(None),
            }
        })
    }

    /// Points `reference` (a tag) at image `id`, which must be in the index.
    pub fn tag(&self, reference: &Reference, id: &Digest) -> Result<Option<RefTarget>, ImageError> {
        self.update(|index| index.set_tag(reference, id))
    }

    /// Removes a tag; returns what it pointed at (None if it did not exist).
    pub fn untag(&self, reference: &Reference) -> Result<Option<RefTarget>, ImageError> {
        let key = tag_key(reference)?;
        self.update(|index| Ok(index.remove_tag(&key)))
    }

    pub fn lookup(&self, reference: &Reference) -> Result<Option<RefTarget>, ImageError> {
        Ok(self.load()?.lookup(reference))
    }

    /// Every tag with its target, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, RefTarget)>, ImageError> {
        Ok(self.load()?.refs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: &str) -> ImageRecord {
        ImageRecord {
            manifest: Digest::of_bytes(format!("manifest {n}").as_bytes()),
            size: 1,
        }
    }

    #[test]
    fn tag_untag_lookup_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let refs = Refs::new(&store);
        let id = Digest::of_bytes(b"config a");
        let busybox = Reference::parse("busybox").unwrap();
        assert_eq!(
            refs.add_image(&id, record("a"), Some(&busybox)).unwrap(),
            None
        );
        let target = refs.lookup(&busybox).unwrap().unwrap();
        assert_eq!(target.config, id);
        let by_digest = Reference::parse(&format!("anything@{}", record("a").manifest)).unwrap();
        assert_eq!(refs.lookup(&by_digest).unwrap(), Some(target.clone()));

        let v2 = Reference::parse("busybox:v2").unwrap();
        refs.tag(&v2, &id).unwrap();
        let names: Vec<String> = refs.list().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "docker.io/library/busybox:latest",
                "docker.io/library/busybox:v2"
            ]
        );
        assert_eq!(refs.untag(&busybox).unwrap(), Some(target));
        assert_eq!(refs.untag(&busybox).unwrap(), None);
        assert_eq!(
            refs.load().unwrap().tags_of(&id),
            ["docker.io/library/busybox:v2"]
        );
        // The untagged image is still known.
        assert!(refs.load().unwrap().images.contains_key(&id));
    }

    #[test]
    fn tagging_requires_a_known_image_and_a_tag() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let refs = Refs::new(&store);
        let missing = Digest::of_bytes(b"nope");
        let r = Reference::parse("x").unwrap();
        assert!(matches!(
            refs.tag(&r, &missing),
            Err(ImageError::UnknownImage { .. })
        ));
        let digest_ref = Reference::parse(&format!("x@{missing}")).unwrap();
        assert!(matches!(
            refs.untag(&digest_ref),
            Err(ImageError::DigestTag { .. })
        ));
        assert!(!refs.path().exists(), "failed updates must not write");
    }

    #[test]
    fn absent_root_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_readonly(dir.path().join("nope"));
        let refs = Refs::new(&store);
        assert_eq!(refs.load().unwrap(), Index::default());
        assert!(refs.list().unwrap().is_empty());
    }

    #[test]
    fn corrupt_index_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let refs = Refs::new(&store);
        fs::write(refs.path(), b"{not json").unwrap();
        let err = refs.load().unwrap_err();
        assert!(err.to_string().contains("images.json"), "{err}");
    }
}
