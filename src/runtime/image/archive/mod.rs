//! Image archives: `save` writes images as one tar, `load` reads one back.
//!
//! `save` writes the layout of `docker save` since moby 25, which is at the
//! same time an OCI image layout (`oci-layout`, `index.json`, `blobs/`) and a
//! docker archive (`manifest.json`, `repositories`):
//!
//! ```text
//! blobs/sha256/<hex>   manifests, configs and layers, byte for byte as stored
//! index.json           one manifest descriptor per tag (untagged images: none)
//! manifest.json        [{"Config": "blobs/sha256/..", "RepoTags": [..], "Layers": [..]}]
//! oci-layout           {"imageLayoutVersion": "1.0.0"}
//! repositories         {"busybox": {"latest": "<top layer hex>"}}, for old docker
//! ```
//!
//! `load` reads that, the pre-25 `docker save` layout (`<hex>.json` configs,
//! `<dir>/layer.tar` layers, no manifest blobs) and plain OCI layouts, plain
//! or gzip-compressed. The input is read once (it may be a pipe) into a spool
//! directory under the store's `tmp/`; everything is verified and unpacked
//! before the first blob, snapshot or tag becomes visible.

mod format;
mod load;
mod members;
mod save;
mod sources;

use std::io;
use std::path::PathBuf;

use super::content::ContentError;
use super::digest::Digest;
use super::error::ImageError;
use super::reference::ReferenceError;
use super::snapshot::SnapshotError;
use crate::runtime::store::StoreError;

pub use load::{LoadedImage, LoadedTag, load};
pub use save::save;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("No such image: {name}")]
    NoSuchImage { name: String },
    #[error("cannot save image {id}: {reason}")]
    Unsaveable { id: Digest, reason: String },
    #[error("blob {digest} changed while it was being saved ({reason}); the archive is incomplete")]
    BlobChanged { digest: Digest, reason: String },
    #[error("cannot write the archive: {source}")]
    Write {
        #[source]
        source: io::Error,
    },
    #[error("cannot read the archive: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("the input is empty or not a tar archive")]
    Empty,
    #[error("the input is not a tar archive: {source}")]
    NotTar {
        #[source]
        source: io::Error,
    },
    #[error("the archive is truncated or corrupt at member {member}: {source}")]
    Truncated {
        member: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the archive has neither manifest.json nor index.json: it is not a docker save or OCI image archive"
    )]
    NoManifest,
    #[error("archive member {member} is missing (referenced by {by})")]
    Missing { member: String, by: String },
    #[error("archive member {member} is corrupt: its content is {actual}, expected {expected}")]
    Mismatch {
        member: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("archive member {member} has {actual} bytes, but {by} says {expected}")]
    SizeMismatch {
        member: String,
        by: String,
        expected: u64,
        actual: u64,
    },
    #[error("archive member {member} is not valid: {reason}")]
    Invalid { member: String, reason: String },
    #[error("layer {member} does not match the image config: diff_id {expected}, content {actual}")]
    DiffId {
        member: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {member}: {source}")]
    Layer {
        member: String,
        #[source]
        source: Box<ImageError>,
    },
    #[error("{member}: invalid image name {name:?}: {source}")]
    Name {
        member: String,
        name: String,
        #[source]
        source: ReferenceError,
    },
    #[error("{member} has no image for {platform}")]
    NoPlatform { member: String, platform: String },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ArchiveError {
    fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    fn invalid(member: &str, reason: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Invalid {
            member: member.to_string(),
            reason: reason.to_string(),
        }
    }

    fn layer(member: &str, source: impl Into<ImageError>) -> ArchiveError {
        ArchiveError::Layer {
            member: member.to_string(),
            source: Box::new(source.into()),
        }
    }
}

impl From<SnapshotError> for ArchiveError {
    fn from(e: SnapshotError) -> ArchiveError {
        ArchiveError::Image(e.into())
    }
}
