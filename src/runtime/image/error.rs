//! The error type of the image layer; the submodules' own errors convert into it.

use std::io;
use std::path::PathBuf;

use super::changes::ChangeError;
use super::content::ContentError;
use super::digest::{Digest, DigestError};
use super::reference::ReferenceError;
use super::snapshot::{ChainId, SnapshotError};
use crate::runtime::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Worded like docker's, which users and scripts recognize.
    #[error("Unable to find image '{reference}' locally")]
    NotFound { reference: String },
    #[error("image id prefix {prefix:?} is ambiguous: it matches {}; use more characters", candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("cannot tag with {reference:?}: a tag is required, not a digest")]
    DigestTag { reference: String },
    #[error("image {id} is not in the store")]
    UnknownImage { id: Digest },
    #[error("image {id} is missing its layer snapshot {chain}; remove and re-import or re-pull it")]
    MissingLayer { id: Digest, chain: ChainId },
    #[error("image config {digest} is invalid: {reason}")]
    InvalidConfig { digest: Digest, reason: String },
    #[error("image index {} is corrupt: {source}; fix or remove it", path.display())]
    CorruptIndex {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot build the image {what}: {reason}")]
    Build { what: &'static str, reason: String },
    #[error(
        "{format}-compressed input is not supported; decompress it first (plain, gzip and zstd tar are accepted)"
    )]
    UnsupportedCompression { format: &'static str },
    #[error("cannot read the import input: {source}")]
    Input {
        #[source]
        source: io::Error,
    },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImageError {
    /// True for "no such image", which the CLI may answer by pulling.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ImageError::NotFound { .. })
    }
}
