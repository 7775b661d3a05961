//! `import`: a rootfs tarball (plain or gzip) becomes a one-layer image.
//!
//! The input is read once. Its decompressed bytes are teed into the layer
//! blob (hashed on the way: the layer is stored uncompressed, so its digest
//! is also its diff_id) and into the snapshot extractor. Then the config and
//! manifest blobs are written, and the index (with the tag) last, so a crash
//! leaves at worst unreferenced blobs and snapshots, never a tag pointing at
//! something missing.

use std::io::{self, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oci_spec::image::{Config, MediaType};

use super::ImageId;
use super::changes;
use super::compression;
use super::config;
use super::content::{BlobWriter, ContentStore};
use super::digest::Digest;
use super::error::ImageError;
use super::reference::Reference;
use super::refs::{ImageRecord, Refs};
use super::snapshot::{self, ChainId};
use crate::runtime::store::Store;

/// Everything `import` can be told besides the input.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions<'a> {
    /// Tag for the new image (`name[:tag]`); None leaves it untagged.
    pub reference: Option<&'a str>,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV K=V`, ...).
    pub changes: &'a [String],
    /// Commit message, recorded as the history comment.
    pub message: Option<&'a str>,
    /// Where the tarball came from, for the history (`-` for stdin).
    pub source: Option<&'a str>,
    /// Creation time; None means now, or `$SOURCE_DATE_EPOCH` when set.
    /// Fixing it makes the image ID a function of content and changes alone.
    pub created: Option<SystemTime>,
}

/// Like `docker import`: imports a rootfs tar (plain or gzip) from `reader`.
pub fn import(
    store: &Store,
    reader: impl Read,
    reference: Option<&str>,
    changes: &[String],
    message: Option<&str>,
) -> Result<ImageId, ImageError> {
    let options = ImportOptions {
        reference,
        changes,
        message,
        ..ImportOptions::default()
    };
    import_with(store, reader, &options)
}

pub fn import_with(
    store: &Store,
    reader: impl Read,
    options: &ImportOptions<'_>,
) -> Result<ImageId, ImageError> {
    // Validate everything cheap before consuming the input.
    let reference = options.reference.map(Reference::parse).transpose()?;
    if let Some(r) = reference
        .as_ref()
        .filter(|r| r.tag_key().is_none() || r.digest().is_some())
    {
        return Err(ImageError::DigestTag {
            reference: r.familiar(),
        });
    }
    let exec = exec_config(options.changes)?;

    let _content = store.lock_shared("content")?;
    let layer = store_layer(store, reader)?;
    let created = config::rfc3339(options.created.unwrap_or_else(default_created));
    let source = options.source.unwrap_or("-");
    let history = config::history(
        &created,
        format!("Imported from {source}"),
        options.message.map(str::to_string),
    );
    let image_config = config::single_layer_config(&layer.diff_id, &created, exec, history);
    let content = ContentStore::new(store);
    let (config_digest, config_size) = config::put_json(&content, &image_config, "config")?;
    let manifest = config::manifest(
        config::descriptor(MediaType::ImageConfig, &config_digest, config_size)?,
        vec![config::descriptor(
            MediaType::ImageLayer,
            &layer.diff_id,
            layer.blob_size,
        )?],
    )?;
    let (manifest_digest, _) = config::put_json(&content, &manifest, "manifest")?;
    let record = ImageRecord {
        manifest: manifest_digest,
        size: layer.unpacked_size,
    };
    Refs::new(store).add_image(&config_digest, record, reference.as_ref())?;
    Ok(config_digest)
}

/// The runtime config the changes describe; None without changes.
fn exec_config(changes: &[String]) -> Result<Option<Config>, ImageError> {
    if changes.is_empty() {
        return Ok(None);
    }
    let parsed = changes::parse_all(changes)?;
    let mut exec = Config::default();
    changes::apply(&mut exec, &parsed);
    Ok(Some(exec))
}

fn default_created() -> SystemTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(SystemTime::now, |secs| {
            UNIX_EPOCH + Duration::from_secs(secs)
        })
}

struct StoredLayer {
    diff_id: Digest,
    blob_size: u64,
    unpacked_size: u64,
}

/// One pass over the input: decompress, tee into the blob writer, extract.
fn store_layer(store: &Store, reader: impl Read) -> Result<StoredLayer, ImageError> {
    let input = compression::decompressing(reader)?;
    let mut blob = ContentStore::new(store).writer()?;
    let mut tee = Tee {
        inner: input,
        sink: &mut blob,
        write_error: None,
    };
    let extracted = snapshot::extract_to_temp(store, &mut tee);
    if let Some(source) = tee.write_error.take() {
        return Err(ImageError::Io {
            op: "write layer blob",
            path: blob.tmp_path().to_path_buf(),
            source,
        });
    }
    let temp = extracted?;
    let (diff_id, blob_size) = blob.commit(None)?;
    let unpacked_size = temp.size();
    temp.commit(store, &ChainId::next(None, &diff_id))?;
    Ok(StoredLayer {
        diff_id,
        blob_size,
        unpacked_size,
    })
}

/// Passes reads through and copies every byte into the blob writer. A write
/// failure is kept aside so it is reported as a storage error, not as a
/// corrupt tar stream.
struct Tee<'w, R> {
    inner: R,
    sink: &'w mut BlobWriter,
    write_error: Option<io::Error>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = io::Write::write_all(self.sink, &buf[..n]) {
            let msg = e.to_string();
            self.write_error = Some(e);
            return Err(io::Error::other(format!(
                "writing the layer blob failed: {msg}"
            )));
        }
        Ok(n)
    }
}
