//! Finding images: by reference, by ID, by unique ID prefix.

use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;

use super::config;
use super::content::ContentStore;
use super::digest::{Digest, is_lower_hex};
use super::error::ImageError;
use super::reference::Reference;
use super::refs::{Index, Refs};
use super::snapshot::{self, ChainId};
use crate::runtime::store::Store;

/// Shortest hex prefix accepted as an image ID: shorter strings are far more
/// likely to be meant as names, and collide too easily.
pub const MIN_ID_PREFIX: usize = 4;

/// An image as the rest of berth sees it.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image ID: the digest of its config blob.
    pub id: Digest,
    /// The normalized reference it was found by, or its first tag.
    pub reference: Option<String>,
    /// Every tag pointing at it (normalized, sorted).
    pub tags: Vec<String>,
    pub manifest: Digest,
    pub config: ImageConfiguration,
    /// ChainIDs of its layers, lowest first.
    pub chain: Vec<ChainId>,
    /// `snapshots/<chainid>` of each layer, lowest first: overlay lowerdirs
    /// are these in reverse order.
    pub layer_dirs: Vec<PathBuf>,
    /// Unpacked size in bytes.
    pub size: u64,
    pub created: Option<String>,
    pub healthcheck: Option<config::ImageHealthcheck>,
}

/// One step of an image's history, as `history` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub created: Option<String>,
    pub created_by: String,
    pub comment: String,
    /// Unpacked size of the layer this step added; 0 for empty layers.
    pub size: u64,
    pub empty_layer: bool,
}

impl Image {
    pub fn short_id(&self) -> &str {
        self.id.short()
    }

    /// The config's history, newest first, each non-empty step paired with
    /// its layer (in order, as docker pairs them). A layer's size is measured
    /// on its snapshot: regular-file bytes, as extraction counted them.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, ImageError> {
        let steps = self.config.history().clone().unwrap_or_default();
        let mut layers = self.layer_dirs.iter();
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            let empty_layer = step.empty_layer().unwrap_or(false);
            let size = if empty_layer {
                0
            } else {
                let dir = layers.next().ok_or_else(|| ImageError::InvalidConfig {
                    digest: self.id.clone(),
                    reason: "too many non-empty layers in History section".into(),
                })?;
                snapshot::disk_usage(dir)
            };
            out.push(HistoryEntry {
                created: step.created().clone(),
                created_by: step.created_by().clone().unwrap_or_default(),
                comment: step.comment().clone().unwrap_or_default(),
                size,
                empty_layer,
            });
        }
        out.reverse();
        Ok(out)
    }

    /// Fails when a layer snapshot is gone (crash, manual deletion), so a
    /// container is not started on an incomplete root.
    pub fn check_layers(&self) -> Result<(), ImageError> {
        for (chain, dir) in self.chain.iter().zip(&self.layer_dirs) {
            if !dir.is_dir() {
                return Err(ImageError::MissingLayer {
                    id: self.id.clone(),
                    chain: chain.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Images of one [`Store`].
#[derive(Debug, Clone, Copy)]
pub struct ImageStore<'a> {
    store: &'a Store,
}

impl<'a> ImageStore<'a> {
    pub fn new(store: &'a Store) -> ImageStore<'a> {
        ImageStore { store }
    }

    pub fn store(&self) -> &'a Store {
        self.store
    }

    pub fn refs(&self) -> Refs<'a> {
        Refs::new(self.store)
    }

    pub fn content(&self) -> ContentStore<'a> {
        ContentStore::new(self.store)
    }

    /// Accepts, in docker's order: a full `sha256:<hex>` ID (or `sha256:`
    /// prefix), a reference (`busybox`, `x:tag`, `x@sha256:...`), then a
    /// unique hex prefix of an ID (at least [`MIN_ID_PREFIX`] digits).
    pub fn resolve(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let index = self.refs().load()?;
        if let Some(hex) = name_or_id.strip_prefix("sha256:") {
            return self.by_id_prefix(&index, hex, name_or_id);
        }
        let reference = match Reference::parse(name_or_id) {
            Ok(r) => r,
            Err(_) if looks_like_id(name_or_id) => {
                return self.by_id_prefix(&index, name_or_id, name_or_id);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(target) = index.lookup(&reference) {
            return self.load(&index, &target.config, Some(reference.to_string()));
        }
        if looks_like_id(name_or_id) {
            match self.by_id_prefix(&index, name_or_id, name_or_id) {
                Err(ImageError::NotFound { .. }) => {}
                other => return other,
            }
        }
        Err(ImageError::NotFound {
            reference: reference.familiar(),
        })
    }

    /// The image with exactly this ID.
    pub fn get(&self, id: &Digest) -> Result<Image, ImageError> {
        let index = self.refs().load()?;
        self.load(&index, id, None)
    }

    /// One entry per tag, plus one per untagged image (like `docker images`),
    /// newest first.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let index = self.refs().load()?;
        let mut out = Vec::new();
        for id in index.images.keys() {
            let image = self.load(&index, id, None)?;
            if image.tags.is_empty() {
                out.push(image);
                continue;
            }
            for tag in &image.tags {
                out.push(Image {
                    reference: Some(tag.clone()),
                    ..image.clone()
                });
            }
        }
        out.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.reference.cmp(&b.reference))
        });
        Ok(out)
    }

    /// One entry per image (with all its tags), newest first; ties in
    /// creation time are ordered by tag, then ID, so the output is stable.
    pub fn all(&self) -> Result<Vec<Image>, ImageError> {
        let index = self.refs().load()?;
        let mut out = index
            .images
            .keys()
            .map(|id| self.load(&index, id, None))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.tags.cmp(&b.tags))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    fn by_id_prefix(&self, index: &Index, hex: &str, input: &str) -> Result<Image, ImageError> {
        let not_found = || ImageError::NotFound {
            reference: input.to_string(),
        };
        if !is_lower_hex(hex) || hex.len() > 64 {
            return Err(not_found());
        }
        let matches: Vec<&Digest> = index
            .images
            .keys()
            .filter(|id| id.hex().starts_with(hex))
            .collect();
        match matches.as_slice() {
            [] => Err(not_found()),
            [id] => self.load(index, id, None),
            many => Err(ImageError::Ambiguous {
                prefix: hex.to_string(),
                candidates: many.iter().map(|d| d.short().to_string()).collect(),
            }),
        }
    }

    fn load(
        &self,
        index: &Index,
        id: &Digest,
        reference: Option<String>,
    ) -> Result<Image, ImageError> {
        let record = index.images.get(id).ok_or_else(|| ImageError::NotFound {
            reference: id.to_string(),
        })?;
        let bytes = self.content().read_verified(id)?;
        let config = config::parse_config(id, &bytes)?;
        let chain = ChainId::chain(&config::diff_ids(id, &config)?);
        let layer_dirs = chain
            .iter()
            .map(|c| snapshot::path(self.store, c))
            .collect();
        let tags = index.tags_of(id);
        Ok(Image {
            id: id.clone(),
            reference: reference.or_else(|| tags.first().cloned()),
            tags,
            manifest: record.manifest.clone(),
            created: config.created().clone(),
            config,
            chain,
            layer_dirs,
            size: record.size,
            healthcheck: config::healthcheck(&bytes),
        })
    }
}

fn looks_like_id(s: &str) -> bool {
    s.len() >= MIN_ID_PREFIX && s.len() <= 64 && is_lower_hex(s)
}
