//! `push`: a local image's blobs and manifest, exactly as stored, to a
//! registry. Blobs the registry has are skipped (HEAD); blobs another local
//! tag of the same registry came from are mounted across repositories; the
//! rest are uploaded (POST, PATCH, PUT). The manifest goes last, so the tag
//! never names missing blobs.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::client::{self, Client, UploadStart};
use super::config::RegistriesConfig;
use super::credentials;
use super::error::RegistryError;
use super::manifest::{self, Descriptor, OCI_MANIFEST, Parsed};
use super::progress::{LayerStatus, Progress};
use crate::runtime::image::digest::HashingReader;
use crate::runtime::image::{ContentStore, Digest, ImageError, ImageStore, Reference};
use crate::runtime::store::Store;

const CONCURRENT_BLOBS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchTag(String),
    #[error(
        "blob {digest} is corrupt in the local store (its content hashes to {actual}); remove the image and pull or load it again"
    )]
    Corrupt { digest: Digest, actual: Digest },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("image {reference}: {reason}")]
    Invalid { reference: String, reason: String },
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub tag: String,
    pub digest: Digest,
    pub size: usize,
}

pub fn push(
    store: &Store,
    registries: &RegistriesConfig,
    reference: &Reference,
    progress: &dyn Progress,
) -> Result<Pushed, PushError> {
    let images = ImageStore::new(store);
    let tag = reference
        .effective_tag()
        .filter(|_| reference.digest().is_none())
        .ok_or_else(|| PushError::NoSuchTag(reference.familiar()))?;
    let index = images.refs().load()?;
    let target = index
        .lookup(reference)
        .ok_or_else(|| PushError::NoSuchTag(reference.familiar_name()))?;
    let image = images.get(&target.config)?;
    let content = ContentStore::new(store);
    let manifest_bytes = content
        .read_verified(&image.manifest)
        .map_err(ImageError::from)?;
    let invalid = |reason: String| PushError::Invalid {
        reference: reference.familiar(),
        reason,
    };
    let manifest = match manifest::parse(&manifest_bytes, "", &reference.familiar())? {
        Parsed::Manifest(m) => m,
        Parsed::Index(_) => return Err(invalid("its manifest is an index".into())),
    };
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    let sources = mount_sources(store, reference)?;
    let endpoint = registries.endpoint(reference.domain());
    let credentials = credentials::lookup(reference.domain())?;
    let source_repos: Vec<String> = sources.iter().map(|(repo, _)| repo.clone()).collect();
    let client = Client::new(
        client::agent(),
        endpoint,
        reference.path(),
        "pull,push",
        &source_repos,
        credentials,
    );
    progress.line(&format!(
        "The push refers to repository [{}]",
        reference.familiar_name()
    ));
    let diff_ids = image.config.rootfs().diff_ids().clone();
    let mut blobs: Vec<Blob> = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate().rev() {
        let shown = diff_ids
            .get(i)
            .cloned()
            .unwrap_or_else(|| layer.digest.clone());
        blobs.push(Blob::new(layer, &shown, &sources).map_err(invalid)?);
    }
    for blob in &blobs {
        progress.layer(&blob.short, LayerStatus::Preparing, blob.size);
    }
    run_parallel(&blobs, |blob| {
        push_blob(store, &client, blob, Some(progress))
    })?;
    let config = Blob::new(&manifest.config, &manifest.config.digest, &sources).map_err(invalid)?;
    push_blob(store, &client, &config, None)?;
    client.put_manifest(tag, &media_type, &manifest_bytes)?;
    Ok(Pushed {
        tag: tag.to_string(),
        digest: image.manifest.clone(),
        size: manifest_bytes.len(),
    })
}

struct Blob {
    digest: Digest,
    size: u64,
    short: String,
    /// A repository on the same registry that has this blob.
    mount_from: Option<String>,
}

impl Blob {
    fn new(d: &Descriptor, shown: &str, sources: &[(String, Vec<Digest>)]) -> Result<Blob, String> {
        let digest = d.digest()?;
        let mount_from = sources
            .iter()
            .find(|(_, blobs)| blobs.contains(&digest))
            .map(|(repo, _)| repo.clone());
        Ok(Blob {
            short: shown
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect(),
            digest,
            size: d.size,
            mount_from,
        })
    }
}

fn push_blob(
    store: &Store,
    client: &Client,
    blob: &Blob,
    progress: Option<&dyn Progress>,
) -> Result<(), PushError> {
    let report = |status: LayerStatus| {
        if let Some(p) = progress {
            p.layer(&blob.short, status, blob.size);
        }
    };
    if client.blob_exists(&blob.digest)? {
        report(LayerStatus::LayerExists);
        return Ok(());
    }
    let mount = blob.mount_from.as_deref().map(|from| (&blob.digest, from));
    let location = match client.start_upload(mount)? {
        UploadStart::Mounted => {
            report(LayerStatus::Mounted(
                blob.mount_from.clone().unwrap_or_default(),
            ));
            return Ok(());
        }
        UploadStart::Upload(location) => location,
    };
    report(LayerStatus::Pushing);
    let file = ContentStore::new(store)
        .open(&blob.digest)
        .map_err(ImageError::from)?;
    let mut reader = Counting {
        inner: HashingReader::new(file),
        done: 0,
        id: &blob.short,
        progress,
    };
    let uploaded = client.upload(&location, &blob.digest, &mut reader);
    let (actual, _) = reader.inner.finish();
    if actual != blob.digest {
        return Err(PushError::Corrupt {
            digest: blob.digest.clone(),
            actual,
        });
    }
    uploaded?;
    report(LayerStatus::Pushed);
    Ok(())
}

/// Other local tags on the same registry, with the blobs of their images:
/// candidates for cross-repository mounts.
fn mount_sources(
    store: &Store,
    reference: &Reference,
) -> Result<Vec<(String, Vec<Digest>)>, PushError> {
    let index = ImageStore::new(store).refs().load()?;
    let content = ContentStore::new(store);
    let mut out: Vec<(String, Vec<Digest>)> = Vec::new();
    for (key, target) in &index.refs {
        let Ok(other) = Reference::parse(key) else {
            continue;
        };
        if other.domain() != reference.domain()
            || other.path() == reference.path()
            || out.iter().any(|(repo, _)| repo == other.path())
        {
            continue;
        }
        let Ok(bytes) = content.read_verified(&target.manifest) else {
            continue;
        };
        if let Ok(Parsed::Manifest(m)) = manifest::parse(&bytes, "", key) {
            let blobs = m.layers.iter().filter_map(|l| l.digest().ok()).collect();
            out.push((other.path().to_string(), blobs));
        }
    }
    Ok(out)
}

fn run_parallel<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), PushError> + Sync,
) -> Result<(), PushError> {
    let next = AtomicUsize::new(0);
    let workers = CONCURRENT_BLOBS.min(items.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Err(e) = f(item) {
                            next.store(items.len(), Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| PushError::Invalid {
                reference: "push".into(),
                reason: "an upload worker panicked".into(),
            })??;
        }
        Ok(())
    })
}

struct Counting<'p, R> {
    inner: R,
    done: u64,
    id: &'p str,
    progress: Option<&'p dyn Progress>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if let Some(p) = self.progress {
            p.bytes(self.id, self.done);
        }
        Ok(n)
    }
}
