//! Images: the content store, layer snapshots, the tag index, and import.
//!
//! ```text
//! blobs/sha256/<hex>      layers (as received), configs, manifests   content.rs
//! snapshots/<chain hex>/  one unpacked layer each, overlay format      snapshot.rs, extract.rs
//! images.json             image records and tags                      refs.rs
//! ```
//!
//! An image's ID is the digest of its config blob (docker's definition). The
//! config lists the layers' diff_ids, from which the ChainIDs, and so the
//! snapshot directories, follow; nothing else needs to be stored per layer.

pub mod archive;
pub mod changes;
pub mod compression;
pub mod config;
pub mod content;
pub mod digest;
mod error;
pub(crate) mod extract;
pub mod gc;
mod images;
pub mod import;
pub mod list;
pub mod reference;
pub mod refs;
pub mod remove;
pub mod snapshot;

#[cfg(test)]
mod tests;

pub use content::ContentStore;
pub use digest::Digest;
pub use error::ImageError;
pub use images::{HistoryEntry, Image, ImageStore, MIN_ID_PREFIX};
pub use import::{ImportOptions, import, import_with};
pub use reference::Reference;
pub use refs::Refs;
pub use snapshot::ChainId;

/// An image ID: the digest of the image's config blob.
pub type ImageId = Digest;
