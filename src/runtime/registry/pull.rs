//! `pull`: a manifest (via an index, for the host platform), its config, and
//! its layers, into the local store.
//!
//! Each missing layer streams in one pass: bytes from the registry are hashed
//! and appended to `blobs/ingest/<hex>` while a second thread decompresses
//! and unpacks them into a snapshot, checking the diff_id. Several layers run
//! at once; their snapshots are independent (named by ChainID, which the
//! config fixes in advance). A blob reaches `blobs/sha256/<hex>` only once its
//! digest is verified, so an interrupted pull leaves a partial ingest file,
//! which the next pull resumes with a Range request, never a corrupt blob.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::client::{self, Client};
use super::config::RegistriesConfig;
use super::credentials;
use super::error::RegistryError;
use super::manifest::{self, Descriptor, Manifest, Parsed, Platform};
use super::progress::{LayerStatus, Progress};
use crate::runtime::image::compression::{self, CompressionError};
use crate::runtime::image::config as image_config;
use crate::runtime::image::digest::HashingReader;
use crate::runtime::image::gc;
use crate::runtime::image::refs::{ImageRecord, Refs};
use crate::runtime::image::snapshot::{self, ChainId};
use crate::runtime::image::{ContentStore, Digest, ImageError, ImageStore, Reference};
use crate::runtime::store::{self, Store};

/// Layers fetched at once (docker's default).
const CONCURRENT_LAYERS: usize = 3;
const CHUNK: usize = 256 << 10;
/// Chunks buffered between download and unpack: bounded, so a slow disk
/// slows the download instead of filling memory.
const PIPE_DEPTH: usize = 32;
const RETRIES: u32 = 3;
const MAX_CONFIG: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("layer {digest}: {reason}")]
    Layer { digest: Digest, reason: String },
    #[error("{reference}: {reason}")]
    Invalid { reference: String, reason: String },
}

impl From<CompressionError> for PullError {
    fn from(e: CompressionError) -> Self {
        PullError::Invalid {
            reference: "layer".into(),
            reason: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    UpToDate,
    Downloaded,
}

#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image ID (config digest).
    pub id: Digest,
    /// The digest docker prints: of the index when there was one.
    pub digest: Digest,
    pub status: PullStatus,
}

/// Pulls `reference` for `platform` (default: the host's).
pub fn pull(
    store: &Store,
    registries: &RegistriesConfig,
    reference: &Reference,
    platform: Option<&Platform>,
    progress: &dyn Progress,
) -> Result<Pulled, PullError> {
    let _content = store.lock_shared("content").map_err(ImageError::from)?;
    if let Err(e) = gc::sweep_dead_writers(store) {
        tracing::warn!("cannot remove what an interrupted pull left: {e}");
    }
    let wanted = platform.cloned().unwrap_or_else(manifest::host_platform);
    let what = reference
        .digest()
        .map(Digest::to_string)
        .or_else(|| reference.effective_tag().map(str::to_string))
        .unwrap_or_default();
    progress.line(&format!("{what}: Pulling from {}", reference.path()));
    let resolved = resolve(registries, reference, &what, &wanted)?;
    let content = ContentStore::new(store);
    let config_digest = descriptor_digest(&resolved.manifest.config, reference)?;
    let config_bytes = match content.read_verified(&config_digest) {
        Ok(bytes) => bytes,
        Err(_) => resolved.client.blob_bytes(&config_digest, MAX_CONFIG)?,
    };
    let config = image_config::parse_config(&config_digest, &config_bytes)?;
    let diff_ids = image_config::diff_ids(&config_digest, &config)?;
    let layers = &resolved.manifest.layers;
    if diff_ids.len() != layers.len() {
        return Err(PullError::Invalid {
            reference: reference.familiar(),
            reason: format!(
                "the manifest lists {} layers but the config {} diff_ids",
                layers.len(),
                diff_ids.len()
            ),
        });
    }
    let up_to_date = is_current(store, reference, &config_digest);
    let jobs = plan_layers(store, reference, layers, &diff_ids, progress)?;
    let sizes = fetch_layers(store, &resolved.client, &jobs, progress)?;
    content.put_bytes(&config_bytes).map_err(ImageError::from)?;
    let (manifest_digest, _) = content
        .put_bytes(&resolved.bytes)
        .map_err(ImageError::from)?;
    let size = total_size(store, &diff_ids, &sizes);
    let tag = reference.digest().is_none().then_some(reference);
    Refs::new(store).add_image(
        &config_digest,
        ImageRecord {
            manifest: manifest_digest,
            size,
        },
        tag,
    )?;
    Ok(Pulled {
        id: config_digest,
        digest: resolved.top_digest,
        status: if up_to_date && jobs.is_empty() {
            PullStatus::UpToDate
        } else {
            PullStatus::Downloaded
        },
    })
}

struct Resolved {
    client: Client,
    manifest: Manifest,
    bytes: Vec<u8>,
    top_digest: Digest,
}

/// Finds the manifest on the first endpoint (mirrors first) that has it.
fn resolve(
    registries: &RegistriesConfig,
    reference: &Reference,
    what: &str,
    platform: &Platform,
) -> Result<Resolved, PullError> {
    let agent = client::agent();
    let endpoints = registries.pull_endpoints(reference.domain());
    let mut last_error = None;
    for endpoint in endpoints {
        let mirror = endpoint.mirror;
        let credentials = credentials::lookup(if mirror {
            &endpoint.host
        } else {
            reference.domain()
        })?;
        let client = Client::new(
            agent.clone(),
            endpoint,
            reference.path(),
            "pull",
            &[],
            credentials,
        );
        match resolve_on(client, reference, what, platform) {
            Ok(r) => return Ok(r),
            Err(e) if mirror => {
                tracing::warn!("mirror failed, trying the next endpoint: {e}");
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| PullError::Invalid {
        reference: reference.familiar(),
        reason: "no registry endpoint".into(),
    }))
}

fn resolve_on(
    client: Client,
    reference: &Reference,
    what: &str,
    platform: &Platform,
) -> Result<Resolved, PullError> {
    let top = client.manifest(what)?;
    let top_digest = top.digest.clone();
    let fetched = match manifest::parse(&top.bytes, &top.media_type, &reference.familiar())? {
        Parsed::Manifest(m) => {
            return Ok(Resolved {
                client,
                manifest: m,
                bytes: top.bytes,
                top_digest,
            });
        }
        Parsed::Index(index) => {
            let entry =
                manifest::select(&index, platform).ok_or_else(|| RegistryError::NoPlatform {
                    reference: reference.familiar(),
                    platform: manifest::platform_string(platform),
                })?;
            client.manifest(&entry.digest)?
        }
    };
    match manifest::parse(&fetched.bytes, &fetched.media_type, &reference.familiar())? {
        Parsed::Manifest(m) => Ok(Resolved {
            client,
            manifest: m,
            bytes: fetched.bytes,
            top_digest,
        }),
        Parsed::Index(_) => Err(PullError::Invalid {
            reference: reference.familiar(),
            reason: "an index entry points at another index".into(),
        }),
    }
}

fn descriptor_digest(d: &Descriptor, reference: &Reference) -> Result<Digest, PullError> {
    d.digest().map_err(|reason| PullError::Invalid {
        reference: reference.familiar(),
        reason,
    })
}

/// True when the tag already names this image and all its layers are here.
fn is_current(store: &Store, reference: &Reference, id: &Digest) -> bool {
    ImageStore::new(store)
        .resolve(&reference.to_string())
        .is_ok_and(|image| &image.id == id && image.check_layers().is_ok())
}

struct Job {
    index: usize,
    descriptor: Descriptor,
    digest: Digest,
    diff_id: Digest,
    parent: Option<ChainId>,
    short: String,
}

/// The layers that need work; reports the others as present.
fn plan_layers(
    store: &Store,
    reference: &Reference,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    progress: &dyn Progress,
) -> Result<Vec<Job>, PullError> {
    let chain = ChainId::chain(diff_ids);
    let content = ContentStore::new(store);
    let mut jobs = Vec::new();
    for (index, descriptor) in layers.iter().enumerate() {
        let digest = descriptor_digest(descriptor, reference)?;
        let short: String = digest.hex().chars().take(12).collect();
        if snapshot::exists(store, &chain[index]) && content.exists(&digest) {
            progress.layer(&short, LayerStatus::AlreadyExists, descriptor.size);
            continue;
        }
        progress.layer(&short, LayerStatus::Waiting, descriptor.size);
        jobs.push(Job {
            index,
            descriptor: descriptor.clone(),
            digest,
            diff_id: diff_ids[index].clone(),
            parent: index.checked_sub(1).map(|i| chain[i].clone()),
            short,
        });
    }
    Ok(jobs)
}

/// Runs the jobs on up to [`CONCURRENT_LAYERS`] threads; returns the unpacked
/// size of each layer it extracted, by layer index.
fn fetch_layers(
    store: &Store,
    client: &Client,
    jobs: &[Job],
    progress: &dyn Progress,
) -> Result<Vec<(usize, u64)>, PullError> {
    let next = AtomicUsize::new(0);
    let workers = CONCURRENT_LAYERS.min(jobs.len());
    let results: Vec<Result<Vec<(usize, u64)>, PullError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut sizes = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        match fetch_layer(store, client, job, progress) {
                            Ok(Some(size)) => sizes.push((job.index, size)),
                            Ok(None) => {}
                            Err(e) => {
                                // Let the other workers stop after their current layer.
                                next.store(jobs.len(), Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(sizes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(PullError::Invalid {
                        reference: "pull".into(),
                        reason: "a layer worker panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut sizes = Vec::new();
    for r in results {
        sizes.extend(r?);
    }
    Ok(sizes)
}

/// One layer: resume or start its download, unpack it on the way, then
/// publish the verified blob. Serialized per blob across processes.
fn fetch_layer(
    store: &Store,
    client: &Client,
    job: &Job,
    progress: &dyn Progress,
) -> Result<Option<u64>, PullError> {
    let _lock = store
        .lock(&format!("pull-{}", job.digest.hex()))
        .map_err(ImageError::from)?;
    let content = ContentStore::new(store);
    let chain = ChainId::next(job.parent.as_ref(), &job.diff_id);
    let have_blob = content.exists(&job.digest);
    if have_blob && snapshot::exists(store, &chain) {
        // Another process finished it while this one waited.
        progress.layer(&job.short, LayerStatus::PullComplete, job.descriptor.size);
        return Ok(None);
    }
    if have_blob {
        match unpack_local(store, job)? {
            Some(size) => {
                progress.layer(&job.short, LayerStatus::PullComplete, job.descriptor.size);
                return Ok(size);
            }
            None => tracing::warn!(
                "layer {}: the stored blob was corrupt; fetching it again",
                job.digest
            ),
        }
    }
    let size = download_and_unpack(store, client, job, progress)?;
    progress.layer(&job.short, LayerStatus::PullComplete, job.descriptor.size);
    Ok(size)
}

/// The blob is here but its snapshot is not (deleted, or a crash between
/// the two): unpack from the local copy, verifying it on the way. None when
/// the blob turned out corrupt (it is deleted, to be fetched again).
fn unpack_local(store: &Store, job: &Job) -> Result<Option<Option<u64>>, PullError> {
    let file = ContentStore::new(store)
        .open(&job.digest)
        .map_err(ImageError::from)?;
    let mut hashing = HashingReader::new(file);
    let result = compression::decompressing(&mut hashing)
        .map_err(PullError::from)
        .and_then(|r| {
            snapshot::unpack_sized(store, job.parent.as_ref(), &job.diff_id, r)
                .map_err(|e| ImageError::from(e).into())
        });
    if result.is_err() {
        // Finish the hash: a good blob must not be mistaken for a corrupt one.
        let _ = io::copy(&mut hashing, &mut io::sink());
    }
    if hashing.finish().0 != job.digest {
        ContentStore::new(store)
            .delete(&job.digest)
            .map_err(ImageError::from)?;
        return Ok(None);
    }
    Ok(Some(result?.1))
}

fn download_and_unpack(
    store: &Store,
    client: &Client,
    job: &Job,
    progress: &dyn Progress,
) -> Result<Option<u64>, PullError> {
    let ingest = Ingest::open(store, &job.digest, job.descriptor.size)?;
    let resumed = ingest.len;
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(PIPE_DEPTH);
    let partial = ingest.path.clone();
    let (downloaded, unpacked) = std::thread::scope(|scope| {
        let unpacker = scope.spawn(move || unpack_stream(store, job, &partial, resumed, rx));
        let downloaded = download(client, job, ingest, tx, progress);
        let unpacked = unpacker.join().unwrap_or_else(|_| {
            Err(PullError::Layer {
                digest: job.digest.clone(),
                reason: "the unpacker panicked".into(),
            })
        });
        (downloaded, unpacked)
    });
    // A failed download starves the unpacker, and a failed unpacker (a full
    // disk) stops the download: report the cause, not its echo.
    match (downloaded, unpacked) {
        (Ok(ingest), Ok(size)) => {
            ingest.publish(store)?;
            Ok(size)
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(download), Err(unpack)) => match &download {
            PullError::Layer { reason, .. } if reason == UNPACKING_STOPPED => Err(unpack),
            _ => Err(download),
        },
    }
}

/// The download's error when the unpacker gave up first.
const UNPACKING_STOPPED: &str = "unpacking stopped";

fn unpack_stream(
    store: &Store,
    job: &Job,
    partial: &PathBuf,
    resumed: u64,
    rx: Receiver<io::Result<Vec<u8>>>,
) -> Result<Option<u64>, PullError> {
    let head = File::open(partial)
        .map_err(|e| ImageError::Io {
            op: "open",
            path: partial.clone(),
            source: e,
        })?
        .take(resumed);
    let reader = head.chain(ChannelReader::new(rx));
    // Inflating and unpacking (hashing, creating files) each take about as
    // long as the other: a thread apiece overlaps them.
    std::thread::scope(|scope| {
        let (inflated_tx, inflated_rx) = sync_channel(PIPE_DEPTH);
        let inflater = scope.spawn(move || -> Result<(), PullError> {
            let decompressed = compression::decompressing(reader)?;
            pump(decompressed, &inflated_tx);
            Ok(())
        });
        let unpacked = snapshot::unpack_sized(
            store,
            job.parent.as_ref(),
            &job.diff_id,
            ChannelReader::new(inflated_rx),
        );
        let inflated = inflater.join().unwrap_or_else(|_| {
            Err(PullError::Layer {
                digest: job.digest.clone(),
                reason: "the decompressor panicked".into(),
            })
        });
        inflated?;
        Ok(unpacked.map_err(ImageError::from)?.1)
    })
}

/// Copies `reader` into the channel in chunks; a read error is passed on
/// for the receiving side to report. Stops when the receiver hangs up.
fn pump(mut reader: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>) {
    loop {
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// Streams the rest of the blob into the ingest file and the unpacker,
/// resuming with Range requests after a dropped connection.
fn download(
    client: &Client,
    job: &Job,
    mut ingest: Ingest,
    tx: SyncSender<io::Result<Vec<u8>>>,
    progress: &dyn Progress,
) -> Result<Ingest, PullError> {
    progress.layer(&job.short, LayerStatus::Downloading, job.descriptor.size);
    progress.bytes(&job.short, ingest.len);
    let mut attempt = 0;
    loop {
        match stream_body(client, job, &mut ingest, &tx, progress) {
            Ok(()) => break,
            Err(Transfer::Retry(reason)) if attempt < RETRIES => {
                attempt += 1;
                tracing::info!("layer {}: {reason}; retrying", job.short);
                progress.layer(
                    &job.short,
                    LayerStatus::Retrying(attempt),
                    job.descriptor.size,
                );
                std::thread::sleep(Duration::from_millis(250 << attempt));
            }
            Err(Transfer::Retry(reason) | Transfer::Fatal(reason)) => {
                return Err(PullError::Layer {
                    digest: job.digest.clone(),
                    reason,
                });
            }
            Err(Transfer::Registry(e)) => return Err(e.into()),
            Err(Transfer::UnpackerGone) => {
                return Err(PullError::Layer {
                    digest: job.digest.clone(),
                    reason: UNPACKING_STOPPED.into(),
                });
            }
        }
    }
    let actual = ingest.finish_hash();
    if actual != job.digest || ingest.len != job.descriptor.size {
        ingest.discard();
        return Err(PullError::Layer {
            digest: job.digest.clone(),
            reason: format!("downloaded content has digest {actual}; it was discarded"),
        });
    }
    progress.layer(
        &job.short,
        LayerStatus::DownloadComplete,
        job.descriptor.size,
    );
    Ok(ingest)
}

enum Transfer {
    Retry(String),
    Fatal(String),
    Registry(RegistryError),
    UnpackerGone,
}

fn stream_body(
    client: &Client,
    job: &Job,
    ingest: &mut Ingest,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    progress: &dyn Progress,
) -> Result<(), Transfer> {
    if ingest.len == job.descriptor.size {
        return Ok(());
    }
    let (body, ranged) = match client.blob(&job.digest, ingest.len) {
        Ok(b) => b,
        Err(RegistryError::Unreachable { reason, .. }) => return Err(Transfer::Retry(reason)),
        Err(e) => return Err(Transfer::Registry(e)),
    };
    let mut reader = body.into_reader();
    if !ranged && ingest.len > 0 {
        // The registry ignored the Range: skip what is already here.
        io::copy(&mut (&mut reader).take(ingest.len), &mut io::sink())
            .map_err(|e| Transfer::Retry(e.to_string()))?;
    }
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Transfer::Retry(e.to_string())),
        };
        buf.truncate(n);
        if ingest.len + n as u64 > job.descriptor.size {
            ingest.discard_on_drop();
            return Err(Transfer::Fatal(format!(
                "the registry sent more than the {} bytes the manifest declares",
                job.descriptor.size
            )));
        }
        ingest.append(&buf).map_err(Transfer::Fatal)?;
        if tx.send(Ok(buf)).is_err() {
            return Err(Transfer::UnpackerGone);
        }
        progress.bytes(&job.short, ingest.len);
    }
    if ingest.len < job.descriptor.size {
        return Err(Transfer::Retry(format!(
            "connection closed after {} of {} bytes",
            ingest.len, job.descriptor.size
        )));
    }
    Ok(())
}

/// A partially downloaded blob, `blobs/ingest/<hex>`.
struct Ingest {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
    remove: bool,
}

impl Ingest {
    /// Opens (or starts) the ingest file and re-hashes what it holds.
    fn open(store: &Store, digest: &Digest, size: u64) -> Result<Ingest, PullError> {
        let path = store.ingest_dir().join(digest.hex());
        let io_err = |op, e| ImageError::Io {
            op,
            path: path.clone(),
            source: e,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err("open", e))?;
        let mut hasher = Sha256::new();
        let mut len =
            io::copy(&mut file, &mut HashSink(&mut hasher)).map_err(|e| io_err("read", e))?;
        if len > size {
            file.set_len(0).map_err(|e| io_err("truncate", e))?;
            hasher = Sha256::new();
            len = 0;
        }
        Ok(Ingest {
            path,
            file,
            hasher,
            len,
            remove: false,
        })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.file
            .write_all(bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn finish_hash(&self) -> Digest {
        Digest::from_hasher(self.hasher.clone())
    }

    fn discard_on_drop(&mut self) {
        self.remove = true;
    }

    fn discard(mut self) {
        self.remove = true;
    }

    /// fsyncs the verified blob and renames it into the content store.
    fn publish(self, store: &Store) -> Result<(), PullError> {
        let target = ContentStore::new(store).path(&self.finish_hash());
        let io_err = |op, path: &PathBuf, e| ImageError::Io {
            op,
            path: path.clone(),
            source: e,
        };
        self.file
            .sync_all()
            .map_err(|e| io_err("fsync", &self.path, e))?;
        fs::rename(&self.path, &target).map_err(|e| io_err("rename", &target, e))?;
        store::fsync_dir(&store.blobs_dir()).map_err(ImageError::from)?;
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.remove {
            let _ = fs::remove_file(&self.path);
        }
    }
}

struct HashSink<'h>(&'h mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the chunks a producer thread sends; EOF when it hangs up.
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: Receiver<io::Result<Vec<u8>>>) -> ChannelReader {
        ChannelReader {
            rx,
            current: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The image's unpacked size: what this pull measured, the rest from disk.
fn total_size(store: &Store, diff_ids: &[Digest], measured: &[(usize, u64)]) -> u64 {
    ChainId::chain(diff_ids)
        .iter()
        .enumerate()
        .map(|(i, chain)| {
            measured.iter().find(|(index, _)| *index == i).map_or_else(
                || snapshot::disk_usage(&snapshot::path(store, chain)),
                |(_, s)| *s,
            )
        })
        .sum()
}
