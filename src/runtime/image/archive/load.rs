//! `load`: an archive (plain or gzip) into the store.
//!
//! Three steps, so that a bad archive changes nothing:
//! 1. read the tar once into a spool directory (`members.rs`), checking every
//!    `blobs/sha256/<hex>` member against its name;
//! 2. for each image, check its config and unpack each new layer into a temp
//!    snapshot, comparing the uncompressed content with the config's diff_id;
//! 3. only then move the blobs into the content store and the snapshots to
//!    their ChainID names, and record the images and tags, last.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufReader, Read};

use super::ArchiveError;
use super::format::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Descriptor, Manifest,
};
use super::members::{self, Members, Spooled};
use super::sources::{self, Candidate, Member};
use crate::runtime::image::compression;
use crate::runtime::image::config;
use crate::runtime::image::content::ContentStore;
use crate::runtime::image::digest::{Digest, HashingReader};
use crate::runtime::image::reference::Reference;
use crate::runtime::image::refs::{ImageRecord, Refs};
use crate::runtime::image::snapshot::{self, ChainId, SnapshotError, TempSnapshot};
use crate::runtime::image::{ImageError, ImageId};
use crate::runtime::store::{self, Store};

const READ_BUFFER: usize = 1 << 16;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A tag the load set, and the image it pointed at before, if another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTag {
    pub reference: Reference,
    pub replaced: Option<ImageId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: ImageId,
    pub tags: Vec<LoadedTag>,
}

/// Loads every image of the archive `reader` carries. `on_layer` hears of
/// each layer unpacked (diff_id, archive bytes), for progress output.
pub fn load(
    store: &Store,
    reader: impl Read,
    on_layer: &mut dyn FnMut(&Digest, u64),
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let input = compression::decompressing(reader)
        .map_err(ImageError::from)
        .map_err(|e| match e {
            ImageError::Input { source } => ArchiveError::Read { source },
            other => other.into(),
        })?;
    let _content = store.lock_shared("content")?;
    let members = Members::read(store, input)?;
    let candidates = sources::candidates(&members)?;
    let mut unpacked = Unpacked::default();
    let prepared = candidates
        .into_iter()
        .map(|c| prepare(store, &members, c, &mut unpacked, on_layer))
        .collect::<Result<Vec<_>, _>>()?;
    commit(store, &prepared, unpacked)
}

/// Layers unpacked by this load: new ones wait in temp snapshots.
#[derive(Default)]
struct Unpacked {
    sizes: HashMap<(ChainId, Digest), u64>,
    temps: Vec<(ChainId, TempSnapshot)>,
}

/// An image checked and unpacked, not yet visible.
struct Prepared {
    id: ImageId,
    config: Member,
    layers: Vec<Member>,
    manifest: ManifestBlob,
    size: u64,
    tags: Vec<Reference>,
}

enum ManifestBlob {
    Member(Member),
    /// Built for archives without manifest blobs.
    Built(Vec<u8>),
}

fn prepare(
    store: &Store,
    members: &Members,
    candidate: Candidate,
    unpacked: &mut Unpacked,
    on_layer: &mut dyn FnMut(&Digest, u64),
) -> Result<Prepared, ArchiveError> {
    let Candidate {
        config,
        layers,
        manifest,
        tags,
    } = candidate;
    let id = config.digest().clone();
    let diff_ids = diff_ids(members, &config)?;
    if diff_ids.len() != layers.len() {
        return Err(ArchiveError::invalid(
            &config.name,
            format!(
                "the config lists {} layers, the archive gives {}",
                diff_ids.len(),
                layers.len()
            ),
        ));
    }
    let mut parent: Option<ChainId> = None;
    let mut size = 0;
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let chain = ChainId::next(parent.as_ref(), diff_id);
        size += unpack_once(store, layer, diff_id, &chain, unpacked, on_layer)?;
        parent = Some(chain);
    }
    let manifest = match manifest {
        Some(m) => ManifestBlob::Member(m),
        None => ManifestBlob::Built(build_manifest(&config, &layers)?),
    };
    Ok(Prepared {
        id,
        config,
        layers,
        manifest,
        size,
        tags,
    })
}

fn diff_ids(members: &Members, config: &Member) -> Result<Vec<Digest>, ArchiveError> {
    let bytes = members.bytes(&config.name, &config.spooled)?;
    let id = config.digest();
    let parsed =
        config::parse_config(id, &bytes).map_err(|e| ArchiveError::invalid(&config.name, e))?;
    config::diff_ids(id, &parsed).map_err(|e| ArchiveError::invalid(&config.name, e))
}

/// Unpacks a layer unless this load did already; returns its unpacked size.
fn unpack_once(
    store: &Store,
    layer: &Member,
    diff_id: &Digest,
    chain: &ChainId,
    unpacked: &mut Unpacked,
    on_layer: &mut dyn FnMut(&Digest, u64),
) -> Result<u64, ArchiveError> {
    // The same layer may come as another blob (compressed differently):
    // every blob is checked, every snapshot extracted once.
    let key = (chain.clone(), layer.digest().clone());
    if let Some(size) = unpacked.sizes.get(&key) {
        return Ok(*size);
    }
    let pending = unpacked.temps.iter().any(|(c, _)| c == chain);
    let (temp, size) = unpack(
        store,
        layer,
        diff_id,
        pending || snapshot::exists(store, chain),
    )?;
    if let Some(temp) = temp {
        unpacked.temps.push((chain.clone(), temp));
        on_layer(diff_id, layer.spooled.size);
    }
    unpacked.sizes.insert(key, size);
    Ok(size)
}

/// Extracts the layer into a temp snapshot (or, when its snapshot exists,
/// only reads it through) and checks it against `diff_id`.
fn unpack(
    store: &Store,
    layer: &Member,
    diff_id: &Digest,
    exists: bool,
) -> Result<(Option<TempSnapshot>, u64), ArchiveError> {
    let file = members::open(&layer.spooled)?;
    let input = compression::decompressing(BufReader::with_capacity(READ_BUFFER, file))
        .map_err(|e| ArchiveError::layer(&layer.name, e))?;
    let mut hashing = HashingReader::new(input);
    let (temp, size) = if exists {
        let size = unpacked_size(&mut hashing).map_err(|e| ArchiveError::layer(&layer.name, e))?;
        (None, size)
    } else {
        let temp = snapshot::extract_to_temp(store, &mut hashing)
            .map_err(|e| ArchiveError::layer(&layer.name, e))?;
        let size = temp.size();
        (Some(temp), size)
    };
    let (actual, _) = hashing.finish();
    if &actual != diff_id {
        return Err(ArchiveError::DiffId {
            member: layer.name.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok((temp, size))
}

/// Bytes of regular-file content in a layer stream, which is read to its end.
fn unpacked_size(reader: impl Read) -> Result<u64, SnapshotError> {
    let tar_error = |source| SnapshotError::Tar { source };
    let mut archive = tar::Archive::new(BufReader::with_capacity(READ_BUFFER, reader));
    let mut size = 0;
    for entry in archive.entries().map_err(tar_error)? {
        let entry = entry.map_err(tar_error)?;
        if entry.header().entry_type().is_file() {
            size += entry.size();
        }
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(tar_error)?;
    Ok(size)
}

/// A docker schema2 manifest for an archive that has none (docker < 25):
/// config and layer blobs as the archive carries them.
fn build_manifest(config: &Member, layers: &[Member]) -> Result<Vec<u8>, ArchiveError> {
    let mut descriptors = Vec::with_capacity(layers.len());
    for layer in layers {
        let media_type = if is_gzip(&layer.spooled)? {
            DOCKER_LAYER_GZIP
        } else {
            DOCKER_LAYER
        };
        descriptors.push(descriptor(media_type, &layer.spooled));
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: DOCKER_MANIFEST.to_string(),
        config: descriptor(DOCKER_CONFIG, &config.spooled),
        layers: descriptors,
    };
    serde_json::to_vec(&manifest).map_err(|e| {
        ArchiveError::Image(ImageError::Build {
            what: "manifest",
            reason: e.to_string(),
        })
    })
}

fn descriptor(media_type: &str, spooled: &Spooled) -> Descriptor {
    Descriptor::new(media_type, spooled.digest.as_str(), spooled.size)
}

fn is_gzip(spooled: &Spooled) -> Result<bool, ArchiveError> {
    let mut head = [0u8; 2];
    let mut file = members::open(spooled)?;
    match file.read_exact(&mut head) {
        Ok(()) => Ok(head == GZIP_MAGIC),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(ArchiveError::io("read", &spooled.path, e)),
    }
}

/// Makes everything visible: blobs, then snapshots, then the index entries,
/// so a crash in between leaves unreferenced content and never a tag
/// pointing at something missing.
fn commit(
    store: &Store,
    prepared: &[Prepared],
    unpacked: Unpacked,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let content = ContentStore::new(store);
    let mut manifests = Vec::with_capacity(prepared.len());
    for image in prepared {
        adopt(store, &content, &image.config.spooled)?;
        for layer in &image.layers {
            adopt(store, &content, &layer.spooled)?;
        }
        let manifest = match &image.manifest {
            ManifestBlob::Member(m) => {
                adopt(store, &content, &m.spooled)?;
                m.digest().clone()
            }
            ManifestBlob::Built(bytes) => content.put_bytes(bytes)?.0,
        };
        manifests.push(manifest);
    }
    for (chain, temp) in unpacked.temps {
        temp.commit(store, &chain)?;
    }
    prepared
        .iter()
        .zip(manifests)
        .map(|(image, manifest)| register(store, image, manifest))
        .collect()
}

/// Moves a verified spool file into the content store under its digest;
/// renaming saves writing every layer a second time.
fn adopt(store: &Store, content: &ContentStore<'_>, spooled: &Spooled) -> Result<(), ArchiveError> {
    if content.exists(&spooled.digest) {
        return Ok(());
    }
    let target = content.path(&spooled.digest);
    fs::File::open(&spooled.path)
        .and_then(|f| f.sync_all())
        .map_err(|e| ArchiveError::io("fsync", &spooled.path, e))?;
    fs::rename(&spooled.path, &target).map_err(|e| ArchiveError::io("rename", &target, e))?;
    store::fsync_dir(&store.blobs_dir())?;
    Ok(())
}

fn register(
    store: &Store,
    image: &Prepared,
    manifest: Digest,
) -> Result<LoadedImage, ArchiveError> {
    let refs = Refs::new(store);
    let record = ImageRecord {
        manifest,
        size: image.size,
    };
    let (first, rest) = match image.tags.split_first() {
        Some((first, rest)) => (Some(first), rest),
        None => (None, &[][..]),
    };
    let mut tags = Vec::with_capacity(image.tags.len());
    let before = refs.add_image(&image.id, record, first)?;
    if let Some(reference) = first {
        tags.push(loaded_tag(reference, before, &image.id));
    }
    for reference in rest {
        let before = refs.tag(reference, &image.id)?;
        tags.push(loaded_tag(reference, before, &image.id));
    }
    Ok(LoadedImage {
        id: image.id.clone(),
        tags,
    })
}

fn loaded_tag(
    reference: &Reference,
    before: Option<crate::runtime::image::refs::RefTarget>,
    id: &ImageId,
) -> LoadedTag {
    LoadedTag {
        reference: reference.clone(),
        replaced: before.map(|t| t.config).filter(|old| old != id),
    }
}
