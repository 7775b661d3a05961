//! Removing images, with docker's `rmi` rules, and `image prune`.
//!
//! By reference (`rmi busybox:1`): the tag goes. If it was the image's last
//! tag, the image goes too, unless a container uses it: without force that
//! is refused (the image would be left dangling under a container); with
//! force the tag goes and the image stays while a container runs on it.
//!
//! By ID (`rmi 3f57d9401f8d`): the image and all its tags go. A running
//! container prevents it even with force; several tags, or a stopped
//! container, need force.
//!
//! The image record leaves the index in one update (under its lock); then
//! garbage collection frees what nothing references any more. Snapshots a
//! container still uses as lowerdirs stay (see [`gc`]), so forcing never takes
//! a layer from under a container.

use std::collections::HashSet;

use super::digest::Digest;
use super::error::ImageError;
use super::gc::{self, GcError, Reclaimed};
use super::images::{Image, ImageStore};
use super::reference::Reference;
use super::refs::Refs;
use crate::runtime::container::ContainerError;
use crate::runtime::container::lifecycle;
use crate::runtime::store::Store;

/// One line of docker's delete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A tag, in familiar form (`busybox:latest`).
    Untagged(String),
    /// An image ID or a layer's ChainID.
    Deleted(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("No such image: {reference}")]
    NoSuchImage { reference: String },
    #[error(
        "conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}"
    )]
    ReferenceInUse {
        reference: String,
        container: String,
        image: String,
    },
    #[error("conflict: unable to delete {image} ({}) - {reason}", if *.hard { "cannot be forced" } else { "must be forced" })]
    Conflict {
        image: String,
        /// Force does not help (a running container).
        hard: bool,
        reason: String,
    },
    #[error("cannot list the containers that use images: {0}")]
    Containers(#[source] ContainerError),
    #[error(transparent)]
    Image(ImageError),
    #[error(transparent)]
    Gc(#[from] GcError),
}

impl From<ImageError> for RemoveError {
    fn from(e: ImageError) -> RemoveError {
        match e {
            ImageError::NotFound { reference } => RemoveError::NoSuchImage { reference },
            other => RemoveError::Image(other),
        }
    }
}

impl RemoveError {
    /// Conflicts and unknown images are the user's to fix (docker exits 1);
    /// anything else is berth failing.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            RemoveError::NoSuchImage { .. }
                | RemoveError::ReferenceInUse { .. }
                | RemoveError::Conflict { .. }
                | RemoveError::Image(ImageError::Reference(_) | ImageError::Ambiguous { .. })
        )
    }
}

/// A container using an image.
struct User {
    id: String,
    running: bool,
}

/// `rmi [-f] NAME`: what was untagged and deleted, in docker's order.
pub fn remove(store: &Store, name: &str, force: bool) -> Result<Vec<Removal>, RemoveError> {
    let image = ImageStore::new(store).resolve(name)?;
    let users = users(store, &image.id)?;
    if is_id_prefix(&image.id, name) {
        by_id(store, &image, &users, force)
    } else {
        by_reference(store, name, &image, &users, force)
    }
}

fn by_id(
    store: &Store,
    image: &Image,
    users: &[User],
    force: bool,
) -> Result<Vec<Removal>, RemoveError> {
    if let Some(u) = users.iter().find(|u| u.running) {
        return Err(conflict(
            image,
            true,
            format!("image is being used by running container {}", short(&u.id)),
        ));
    }
    if !force && image.tags.len() > 1 {
        return Err(conflict(
            image,
            false,
            "image is referenced in multiple repositories".into(),
        ));
    }
    if let Some(u) = users.first().filter(|_| !force) {
        return Err(conflict(
            image,
            false,
            format!("image is being used by stopped container {}", short(&u.id)),
        ));
    }
    Ok(delete(store, image, &image.tags, true)?.0)
}

fn by_reference(
    store: &Store,
    name: &str,
    image: &Image,
    users: &[User],
    force: bool,
) -> Result<Vec<Removal>, RemoveError> {
    let reference = Reference::parse(name).map_err(ImageError::from)?;
    let keys = match (reference.digest(), reference.tag_key()) {
        (None, Some(key)) => vec![key],
        // A digest names the content: every tag of that repository on it.
        _ => image
            .tags
            .iter()
            .filter(|t| Reference::parse(t).is_ok_and(|r| r.name() == reference.name()))
            .cloned()
            .collect(),
    };
    if keys.is_empty() {
        if image.tags.is_empty() {
            return by_id(store, image, users, force);
        }
        return Err(RemoveError::NoSuchImage {
            reference: reference.familiar(),
        });
    }
    let last = keys.len() == image.tags.len();
    if let Some(u) = users.first().filter(|_| last && !force) {
        return Err(RemoveError::ReferenceInUse {
            reference: name.to_string(),
            container: short(&u.id).to_string(),
            image: image.short_id().to_string(),
        });
    }
    // As in docker, removing the image after its last tag is quiet: a running
    // container keeps it (untagged), with or without force.
    let delete_too = last && !users.iter().any(|u| u.running);
    Ok(delete(store, image, &keys, delete_too)?.0)
}

/// Removes the `keys` that still point at `image` and, with `delete_too`,
/// the image once no tag is left; then collects garbage. Returns the
/// removals and what collection freed (None when the image stayed).
fn delete(
    store: &Store,
    image: &Image,
    keys: &[String],
    delete_too: bool,
) -> Result<(Vec<Removal>, Option<Reclaimed>), RemoveError> {
    let mut out = untag_and_drop(store, image, keys, delete_too)?;
    if !matches!(out.last(), Some(Removal::Deleted(_))) {
        return Ok((out, None));
    }
    let reclaimed = collect_quietly(store);
    out.extend(layer_removals(image, &reclaimed, &mut HashSet::new()));
    Ok((out, Some(reclaimed)))
}

/// The index update: untags, then drops the record if asked and no tag is
/// left (a concurrent `tag` wins over the delete).
fn untag_and_drop(
    store: &Store,
    image: &Image,
    keys: &[String],
    delete_too: bool,
) -> Result<Vec<Removal>, RemoveError> {
    let (untagged, deleted) = Refs::new(store).update(|index| {
        let mut untagged = Vec::new();
        for key in keys {
            if index.refs.get(key).is_some_and(|t| t.config == image.id) {
                index.remove_tag(key);
                untagged.push(key.clone());
            }
        }
        let deleted = delete_too
            && index.tags_of(&image.id).is_empty()
            && index.images.remove(&image.id).is_some();
        Ok((untagged, deleted))
    })?;
    let mut out: Vec<Removal> = untagged
        .iter()
        .map(|k| Removal::Untagged(familiar(k)))
        .collect();
    if deleted {
        out.push(Removal::Deleted(image.id.to_string()));
    }
    Ok(out)
}

/// The image is already gone from the index; a failed collection only delays
/// freeing space (the next one retries), so it is reported, not fatal.
fn collect_quietly(store: &Store) -> Reclaimed {
    gc::collect(store).unwrap_or_else(|e| {
        tracing::warn!("{e}");
        Reclaimed::default()
    })
}

/// `Deleted:` lines for the image's snapshots that collection removed, top
/// layer first; each at most once over several images.
fn layer_removals(
    image: &Image,
    reclaimed: &Reclaimed,
    shown: &mut HashSet<String>,
) -> Vec<Removal> {
    image
        .chain
        .iter()
        .rev()
        .filter(|c| reclaimed.snapshots.contains(c) && shown.insert(c.to_string()))
        .map(|c| Removal::Deleted(c.to_string()))
        .collect()
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: Vec<Removal>,
    /// Bytes garbage collection freed.
    pub reclaimed: u64,
}

/// `image prune`: untagged images no container uses, or with `all` every
/// image no container uses.
pub fn prune(store: &Store, all: bool) -> Result<Pruned, RemoveError> {
    let used: HashSet<String> = lifecycle::list(store)
        .map_err(RemoveError::Containers)?
        .into_iter()
        .map(|c| c.record.image_id)
        .collect();
    let mut deleted = Vec::new();
    for image in ImageStore::new(store).all()? {
        if used.contains(image.id.as_str()) || (!all && !image.tags.is_empty()) {
            continue;
        }
        let removals = untag_and_drop(store, &image, &image.tags, true)?;
        deleted.push((image, removals));
    }
    // One collection for all: it also frees what earlier crashes left.
    let reclaimed = collect_quietly(store);
    let mut shown = HashSet::new();
    let mut out = Pruned {
        removed: Vec::new(),
        reclaimed: reclaimed.bytes,
    };
    for (image, removals) in deleted {
        let gone = matches!(removals.last(), Some(Removal::Deleted(_)));
        out.removed.extend(removals);
        if gone {
            out.removed
                .extend(layer_removals(&image, &reclaimed, &mut shown));
        }
    }
    Ok(out)
}

fn users(store: &Store, image: &Digest) -> Result<Vec<User>, RemoveError> {
    Ok(lifecycle::list(store)
        .map_err(RemoveError::Containers)?
        .into_iter()
        .filter(|c| c.record.image_id == image.as_str())
        .map(|c| User {
            running: c.is_running(),
            id: c.record.id,
        })
        .collect())
}

fn conflict(image: &Image, hard: bool, reason: String) -> RemoveError {
    RemoveError::Conflict {
        image: image.short_id().to_string(),
        hard,
        reason,
    }
}

/// docker's `isImageIDPrefix`: the name is (a prefix of) the ID, with or
/// without `sha256:`.
fn is_id_prefix(id: &Digest, name: &str) -> bool {
    id.as_str().starts_with(name) || id.hex().starts_with(name)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn familiar(key: &str) -> String {
    Reference::parse(key).map_or_else(|_| key.to_string(), |r| r.familiar())
}
