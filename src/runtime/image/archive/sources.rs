//! What an archive offers: its images, each as config, layers, perhaps a
//! manifest blob, and tags, from docker's `manifest.json` (moby ≥ 25 and the
//! older layout alike) or, without one, from an OCI `index.json`.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use oci_spec::image::{Arch, Os};

use super::ArchiveError;
use super::format::{
    self, BLOBS_DIR, Descriptor, DockerItem, IMAGE_NAME, INDEX_JSON, Index, Kind, MANIFEST_JSON,
    Manifest, REF_NAME,
};
use super::members::{self, Members, Spooled};
use crate::runtime::image::digest::Digest;
use crate::runtime::image::reference::Reference;

/// Indexes nested deeper than this are refused (a loop of indexes would
/// otherwise never end).
const MAX_DEPTH: usize = 4;

/// An archive member picked for an image.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub spooled: Spooled,
}

impl Member {
    pub fn digest(&self) -> &Digest {
        &self.spooled.digest
    }
}

#[derive(Debug)]
pub struct Candidate {
    pub config: Member,
    pub layers: Vec<Member>,
    /// The archive's own manifest blob; None for the pre-25 docker layout,
    /// which has none.
    pub manifest: Option<Member>,
    pub tags: Vec<Reference>,
}

/// The images of the archive, one per config (tags of duplicates merged), in
/// archive order.
pub fn candidates(members: &Members) -> Result<Vec<Candidate>, ArchiveError> {
    let found = if members.contains(MANIFEST_JSON) {
        docker(members)?
    } else if members.contains(INDEX_JSON) {
        oci(members)?
    } else {
        return Err(ArchiveError::NoManifest);
    };
    let mut merged: IndexMap<Digest, Candidate> = IndexMap::new();
    for candidate in found {
        match merged.get_mut(candidate.config.digest()) {
            Some(existing) => {
                for tag in candidate.tags {
                    if !existing.tags.contains(&tag) {
                        existing.tags.push(tag);
                    }
                }
                existing.manifest = existing.manifest.take().or(candidate.manifest);
            }
            None => {
                merged.insert(candidate.config.digest().clone(), candidate);
            }
        }
    }
    Ok(merged.into_values().collect())
}

fn docker(members: &Members) -> Result<Vec<Candidate>, ArchiveError> {
    let items: Vec<DockerItem> = members.json(MANIFEST_JSON, "the archive")?;
    // moby ≥ 25 (and berth) also ship the manifests themselves; using them
    // keeps the manifest digest an image was pulled or saved with.
    let known = if members.contains(INDEX_JSON) {
        indexed_manifests(members)?
    } else {
        Vec::new()
    };
    items
        .iter()
        .map(|item| docker_item(members, item, &known))
        .collect()
}

fn docker_item(
    members: &Members,
    item: &DockerItem,
    known: &[(Member, Manifest)],
) -> Result<Candidate, ArchiveError> {
    let config = member(members, &item.config, MANIFEST_JSON)?;
    let layers = item
        .layers
        .iter()
        .map(|l| member(members, l, MANIFEST_JSON))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tags = Vec::new();
    for name in item.repo_tags.iter().flatten() {
        tags.extend(parse_name(MANIFEST_JSON, name)?);
    }
    let manifest = known
        .iter()
        .find(|(_, m)| describes(m, &config, &layers))
        .map(|(blob, _)| blob.clone());
    Ok(Candidate {
        config,
        layers,
        manifest,
        tags,
    })
}

fn describes(manifest: &Manifest, config: &Member, layers: &[Member]) -> bool {
    manifest.config.digest == config.digest().as_str()
        && manifest.layers.len() == layers.len()
        && manifest
            .layers
            .iter()
            .zip(layers)
            .all(|(d, l)| d.digest == l.digest().as_str())
}

/// Every manifest reachable from index.json, whatever its platform. A
/// multi-platform index may list manifests the archive does not carry (docker
/// exports one platform); those are skipped.
fn indexed_manifests(members: &Members) -> Result<Vec<(Member, Manifest)>, ArchiveError> {
    let index: Index = members.json(INDEX_JSON, "the archive")?;
    let mut out = Vec::new();
    let mut pending: Vec<(Descriptor, String, usize)> = index
        .manifests
        .into_iter()
        .map(|d| (d, INDEX_JSON.to_string(), 0))
        .collect();
    while let Some((descriptor, by, depth)) = pending.pop() {
        let digest = descriptor_digest(&descriptor, &by)?;
        if !members.contains(&format::blob_path(digest.hex())) {
            continue;
        }
        let blob = blob(members, &descriptor, &by)?;
        let bytes = members.bytes(&blob.name, &blob.spooled)?;
        match format::kind_of(&descriptor.media_type, &bytes) {
            Kind::Manifest => out.push((blob.clone(), members::parse_json(&blob.name, &bytes)?)),
            Kind::Index if depth < MAX_DEPTH => {
                let child: Index = members::parse_json(&blob.name, &bytes)?;
                pending.extend(
                    child
                        .manifests
                        .into_iter()
                        .map(|d| (d, blob.name.clone(), depth + 1)),
                );
            }
            Kind::Index => return Err(too_deep(&blob.name)),
            Kind::Other => {}
        }
    }
    Ok(out)
}

fn oci(members: &Members) -> Result<Vec<Candidate>, ArchiveError> {
    let index: Index = members.json(INDEX_JSON, "the archive")?;
    let mut out = Vec::new();
    for descriptor in &index.manifests {
        let Some((blob, manifest)) = select(members, descriptor, INDEX_JSON, 0)? else {
            continue;
        };
        let config = self::blob(members, &manifest.config, &blob.name)?;
        let layers = manifest
            .layers
            .iter()
            .map(|d| self::blob(members, d, &blob.name))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Candidate {
            config,
            layers,
            manifest: Some(blob),
            tags: annotated_name(&descriptor.annotations)?
                .into_iter()
                .collect(),
        });
    }
    if out.is_empty() {
        return Err(ArchiveError::NoPlatform {
            member: INDEX_JSON.to_string(),
            platform: host_platform(),
        });
    }
    Ok(out)
}

/// The manifest `descriptor` leads to: itself, or through (nested) indexes
/// the one for this host's platform. None for artifacts that are no image.
fn select(
    members: &Members,
    descriptor: &Descriptor,
    by: &str,
    depth: usize,
) -> Result<Option<(Member, Manifest)>, ArchiveError> {
    let blob = blob(members, descriptor, by)?;
    let bytes = members.bytes(&blob.name, &blob.spooled)?;
    match format::kind_of(&descriptor.media_type, &bytes) {
        Kind::Manifest => {
            let manifest = members::parse_json(&blob.name, &bytes)?;
            Ok(Some((blob, manifest)))
        }
        Kind::Index if depth < MAX_DEPTH => {
            let index: Index = members::parse_json(&blob.name, &bytes)?;
            let Some(child) = index.manifests.iter().find(|d| for_this_host(d)) else {
                return Err(ArchiveError::NoPlatform {
                    member: blob.name,
                    platform: host_platform(),
                });
            };
            select(members, child, &blob.name, depth + 1)
        }
        Kind::Index => Err(too_deep(&blob.name)),
        Kind::Other => Ok(None),
    }
}

/// A descriptor without a platform is taken to match.
fn for_this_host(descriptor: &Descriptor) -> bool {
    descriptor.platform.as_ref().is_none_or(|p| {
        p.os == Os::default().to_string() && p.architecture == Arch::default().to_string()
    })
}

fn host_platform() -> String {
    format!("{}/{}", Os::default(), Arch::default())
}

fn too_deep(name: &str) -> ArchiveError {
    ArchiveError::invalid(name, format!("indexes nest more than {MAX_DEPTH} deep"))
}

/// The image name of an index entry: containerd's full name, else an OCI
/// ref.name that is a whole reference (`name:tag`); a bare tag (`latest`)
/// names no repository, so the image loads untagged.
fn annotated_name(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<Reference>, ArchiveError> {
    let name = annotations.get(IMAGE_NAME).or_else(|| {
        annotations
            .get(REF_NAME)
            .filter(|r| r.contains(':') || r.contains('/'))
    });
    match name {
        Some(n) => parse_name(INDEX_JSON, n),
        None => Ok(None),
    }
}

/// A tag for the image; None for a digest-only name, which is no tag.
fn parse_name(member: &str, name: &str) -> Result<Option<Reference>, ArchiveError> {
    let reference = Reference::parse(name).map_err(|source| ArchiveError::Name {
        member: member.to_string(),
        name: name.to_string(),
        source,
    })?;
    Ok(reference.digest().is_none().then_some(reference))
}

fn descriptor_digest(descriptor: &Descriptor, by: &str) -> Result<Digest, ArchiveError> {
    Digest::parse(&descriptor.digest).map_err(|e| ArchiveError::invalid(by, e))
}

/// The blob a descriptor points at, checked against its digest and size.
fn blob(members: &Members, descriptor: &Descriptor, by: &str) -> Result<Member, ArchiveError> {
    let digest = descriptor_digest(descriptor, by)?;
    let name = format::blob_path(digest.hex());
    let spooled = members.require(&name, by)?.clone();
    members::check_digest(&name, &digest, &spooled)?;
    if spooled.size != descriptor.size {
        return Err(ArchiveError::SizeMismatch {
            member: name,
            by: by.to_string(),
            expected: descriptor.size,
            actual: spooled.size,
        });
    }
    Ok(Member { name, spooled })
}

/// A member named by path. Names that carry a digest (`blobs/sha256/<hex>`,
/// a legacy config's `<hex>.json`) must match it, whatever links led there.
fn member(members: &Members, name: &str, by: &str) -> Result<Member, ArchiveError> {
    let spooled = members.require(name, by)?.clone();
    let path = members::normalize("", name).unwrap_or_default();
    let hex = path
        .strip_prefix(BLOBS_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .or_else(|| path.strip_suffix(".json").filter(|p| !p.contains('/')));
    if let Some(expected) = hex.and_then(|h| Digest::from_hex(h).ok()) {
        members::check_digest(name, &expected, &spooled)?;
    }
    Ok(Member {
        name: name.to_string(),
        spooled,
    })
}
