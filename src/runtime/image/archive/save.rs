//! `save`: images to one uncompressed tar stream in moby's (≥ 25) layout.
//!
//! Blobs are streamed from the content store as they are; only the small JSON
//! documents are built in memory. Every entry has mtime 0, owner 0:0 and a
//! fixed mode, and entries are written in sorted order, so saving the same
//! images again gives the same bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};

use indexmap::IndexMap;
use tar::{EntryType, Header};

use super::ArchiveError;
use super::format::{
    self, BLOBS_DIR, Descriptor, DockerItem, IMAGE_NAME, INDEX_JSON, Index, MANIFEST_JSON,
    Manifest, OCI_INDEX, OCI_LAYOUT, OCI_LAYOUT_CONTENT, OCI_MANIFEST, Platform, REF_NAME,
    REPOSITORIES,
};
use crate::runtime::image::content::ContentStore;
use crate::runtime::image::digest::{Digest, HashingReader};
use crate::runtime::image::reference::Reference;
use crate::runtime::image::refs::Index as RefIndex;
use crate::runtime::image::{ImageError, ImageStore};
use crate::runtime::store::Store;

const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// One image as it goes into the archive.
struct Saved {
    id: Digest,
    tags: Vec<Reference>,
    manifest: Descriptor,
    config_size: u64,
    layers: Vec<(Digest, u64)>,
}

/// Writes `names` (tags, `name@digest`, IDs or ID prefixes) as one archive.
/// A repository name without a tag saves every tag of that repository, as
/// docker does; an ID or digest saves the image without tags.
pub fn save(store: &Store, names: &[String], out: impl Write) -> Result<(), ArchiveError> {
    // Shared with other writers; garbage collection waits until we are done.
    let _content = store.lock_shared("content")?;
    let images = ImageStore::new(store);
    let index = images.refs().load()?;
    let mut selected: IndexMap<Digest, Vec<Reference>> = IndexMap::new();
    for name in names {
        for (id, tag) in matches(&images, &index, name)? {
            let tags = selected.entry(id).or_default();
            if let Some(tag) = tag.filter(|t| !tags.contains(t)) {
                tags.push(tag);
            }
        }
    }
    let saved = selected
        .into_iter()
        .map(|(id, tags)| read_image(&images, &index, id, tags))
        .collect::<Result<Vec<_>, _>>()?;
    write_archive(&ContentStore::new(store), &saved, out)
}

/// The images `name` selects, each with the tag to record (if any).
fn matches(
    images: &ImageStore<'_>,
    index: &RefIndex,
    name: &str,
) -> Result<Vec<(Digest, Option<Reference>)>, ArchiveError> {
    if let Some(r) = Reference::parse(name)
        .ok()
        .filter(|_| !name.starts_with("sha256:"))
    {
        let by_name = match (r.tag(), r.digest()) {
            (_, Some(_)) => index.lookup(&r).map(|t| vec![(t.config, None)]),
            (Some(_), None) => index.lookup(&r).map(|t| vec![(t.config, Some(r.clone()))]),
            (None, None) => Some(repository_tags(index, &r)).filter(|v| !v.is_empty()),
        };
        if let Some(found) = by_name {
            return Ok(found);
        }
    }
    match images.resolve(name) {
        Ok(image) => Ok(vec![(image.id, None)]),
        Err(e) if e.is_not_found() => Err(ArchiveError::NoSuchImage {
            name: name.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Every tag of the repository `r` names, in tag order.
fn repository_tags(index: &RefIndex, r: &Reference) -> Vec<(Digest, Option<Reference>)> {
    let prefix = format!("{}:", r.name());
    index
        .refs
        .iter()
        .filter_map(|(key, target)| {
            let tag = key.strip_prefix(&prefix)?;
            let tagged = r.with_tag(tag).ok()?;
            Some((target.config.clone(), Some(tagged)))
        })
        .collect()
}

fn read_image(
    images: &ImageStore<'_>,
    index: &RefIndex,
    id: Digest,
    tags: Vec<Reference>,
) -> Result<Saved, ArchiveError> {
    let unsaveable = |reason: String| ArchiveError::Unsaveable {
        id: id.clone(),
        reason,
    };
    let record = index
        .images
        .get(&id)
        .ok_or_else(|| ImageError::UnknownImage { id: id.clone() })?;
    let image = images.get(&id)?;
    let content = images.content();
    let bytes = content.read_verified(&record.manifest)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| unsaveable(format!("manifest {} is invalid: {e}", record.manifest)))?;
    if manifest.config.digest != id.as_str() {
        return Err(unsaveable(format!(
            "manifest {} names config {}",
            record.manifest, manifest.config.digest
        )));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        let digest = Digest::parse(&layer.digest).map_err(|e| unsaveable(e.to_string()))?;
        check_blob(&content, &digest, layer.size).map_err(unsaveable)?;
        layers.push((digest, layer.size));
    }
    check_blob(&content, &id, manifest.config.size).map_err(unsaveable)?;
    let media_type = match manifest.media_type.as_str() {
        "" => OCI_MANIFEST,
        other => other,
    };
    let mut descriptor = Descriptor::new(media_type, record.manifest.as_str(), bytes.len() as u64);
    descriptor.platform = Some(Platform {
        architecture: image.config.architecture().to_string(),
        os: image.config.os().to_string(),
        variant: image.config.variant().clone(),
    });
    Ok(Saved {
        id,
        tags,
        manifest: descriptor,
        config_size: manifest.config.size,
        layers,
    })
}

/// The blob is present with the size the manifest gives.
fn check_blob(content: &ContentStore<'_>, digest: &Digest, size: u64) -> Result<(), String> {
    let path = content.path(digest);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() == size => Ok(()),
        Ok(m) => Err(format!(
            "blob {digest} has {} bytes, its manifest says {size}",
            m.len()
        )),
        Err(e) => Err(format!("blob {digest} is not readable: {e}")),
    }
}

fn write_archive(
    content: &ContentStore<'_>,
    saved: &[Saved],
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    for image in saved {
        let manifest = Digest::parse(&image.manifest.digest).map_err(ImageError::from)?;
        blobs.insert(manifest, image.manifest.size);
        blobs.insert(image.id.clone(), image.config_size);
        blobs.extend(image.layers.iter().cloned());
    }
    let mut tar = tar::Builder::new(out);
    append(&mut tar, EntryType::Directory, "blobs/", &[][..], 0)?;
    append(
        &mut tar,
        EntryType::Directory,
        &format!("{BLOBS_DIR}/"),
        &[][..],
        0,
    )?;
    for (digest, size) in &blobs {
        append_blob(&mut tar, content, digest, *size)?;
    }
    let documents = [
        (INDEX_JSON, Some(index_json(saved)?)),
        (MANIFEST_JSON, Some(manifest_json(saved)?)),
        (OCI_LAYOUT, Some(OCI_LAYOUT_CONTENT.as_bytes().to_vec())),
        (REPOSITORIES, repositories_json(saved)?),
    ];
    for (name, bytes) in documents {
        if let Some(bytes) = bytes {
            append(
                &mut tar,
                EntryType::Regular,
                name,
                &bytes[..],
                bytes.len() as u64,
            )?;
        }
    }
    let mut out = tar.into_inner().map_err(write_error)?;
    out.flush().map_err(write_error)
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    kind: EntryType,
    name: &str,
    data: impl Read,
    size: u64,
) -> Result<(), ArchiveError> {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_path(name).map_err(write_error)?;
    header.set_size(size);
    header.set_mode(if kind == EntryType::Directory {
        DIR_MODE
    } else {
        FILE_MODE
    });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    tar.append(&header, data).map_err(write_error)
}

/// Streams one blob, hashing it on the way: the archive must not carry a blob
/// that no longer matches its name.
fn append_blob(
    tar: &mut tar::Builder<impl Write>,
    content: &ContentStore<'_>,
    digest: &Digest,
    size: u64,
) -> Result<(), ArchiveError> {
    let path = content.path(digest);
    let file = File::open(&path).map_err(|e| ArchiveError::io("open", &path, e))?;
    let mut reader = ReadErrors {
        inner: HashingReader::new(file.take(size)),
        error: None,
    };
    let name = format::blob_path(digest.hex());
    if let Err(e) = append(tar, EntryType::Regular, &name, &mut reader, size) {
        return Err(match reader.error {
            Some(source) => ArchiveError::io("read", &path, source),
            None => e,
        });
    }
    let (actual, len) = reader.inner.finish();
    let reason = if len != size {
        format!("{len} bytes instead of {size}")
    } else if &actual != digest {
        format!("its content is now {actual}")
    } else {
        return Ok(());
    };
    Err(ArchiveError::BlobChanged {
        digest: digest.clone(),
        reason,
    })
}

fn index_json(saved: &[Saved]) -> Result<Vec<u8>, ArchiveError> {
    let mut manifests = Vec::new();
    for image in saved {
        if image.tags.is_empty() {
            manifests.push(image.manifest.clone());
        }
        for tag in &image.tags {
            let mut descriptor = image.manifest.clone();
            descriptor
                .annotations
                .insert(IMAGE_NAME.to_string(), tag.to_string());
            if let Some(t) = tag.effective_tag() {
                descriptor
                    .annotations
                    .insert(REF_NAME.to_string(), t.to_string());
            }
            manifests.push(descriptor);
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX.to_string(),
        manifests,
    };
    serde_json::to_vec(&index).map_err(|e| json_error("index", e))
}

fn manifest_json(saved: &[Saved]) -> Result<Vec<u8>, ArchiveError> {
    let items: Vec<DockerItem> = saved
        .iter()
        .map(|image| DockerItem {
            config: format::blob_path(image.id.hex()),
            repo_tags: Some(image.tags.iter().map(Reference::familiar).collect())
                .filter(|t: &Vec<String>| !t.is_empty()),
            layers: image
                .layers
                .iter()
                .map(|(d, _)| format::blob_path(d.hex()))
                .collect(),
        })
        .collect();
    let mut bytes = serde_json::to_vec(&items).map_err(|e| json_error("manifest", e))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The pre-1.10 `repositories` file: repository, tag, top layer. None when no
/// tagged image has a layer.
fn repositories_json(saved: &[Saved]) -> Result<Option<Vec<u8>>, ArchiveError> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in saved {
        let Some((top, _)) = image.layers.last() else {
            continue;
        };
        for tag in &image.tags {
            if let Some(t) = tag.effective_tag() {
                repos
                    .entry(tag.familiar_name())
                    .or_default()
                    .insert(t.to_string(), top.hex().to_string());
            }
        }
    }
    if repos.is_empty() {
        return Ok(None);
    }
    let mut bytes = serde_json::to_vec(&repos).map_err(|e| json_error("repositories", e))?;
    bytes.push(b'\n');
    Ok(Some(bytes))
}

fn json_error(what: &'static str, e: serde_json::Error) -> ArchiveError {
    ArchiveError::Image(ImageError::Build {
        what,
        reason: e.to_string(),
    })
}

fn write_error(source: io::Error) -> ArchiveError {
    ArchiveError::Write { source }
}

/// Keeps the reader's own error, so a failing disk is not reported as a
/// failing output.
struct ReadErrors<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for ReadErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
}
