//! Synthetic stores for the removal, collection and listing tests: images
//! with chosen layers, times and tags, and container records using them.

use std::fs;
use std::time::{Duration, UNIX_EPOCH};

use oci_spec::image::{History, MediaType, RootFs};

use super::fixtures::*;
use crate::runtime::container::lifecycle::process_start;
use crate::runtime::container::record::{self, ContainerRecord, ContainerState, RunConfig, Status};
use crate::runtime::image::config;
use crate::runtime::image::content::ContentStore;
use crate::runtime::image::refs::{ImageRecord, Refs};
use crate::runtime::image::snapshot::{self, ChainId};
use crate::runtime::image::{Digest, Image, ImageStore, ImportOptions, Reference, import_with};
use crate::runtime::store::{Store, unique_suffix};

/// A one-file layer.
pub fn layer(name: &str, data: &[u8]) -> Vec<u8> {
    Layer::new().file(name, 0o644, data).finish()
}

/// Imports a one-layer image holding `file` with `data`, created at
/// `secs` after the epoch, with `changes`.
pub fn imported(
    store: &Store,
    tag: Option<&str>,
    data: &[u8],
    secs: u64,
    changes: &[String],
) -> Image {
    let options = ImportOptions {
        reference: tag,
        changes,
        created: Some(UNIX_EPOCH + Duration::from_secs(secs)),
        ..ImportOptions::default()
    };
    let id = import_with(store, &layer("file", data)[..], &options).unwrap();
    ImageStore::new(store).get(&id).unwrap()
}

/// A multi-layer image: each layer unpacked on the previous, its blob
/// stored, and a config with exactly `history`.
pub fn layered(
    store: &Store,
    layers: &[Vec<u8>],
    history: Vec<History>,
    tag: Option<&str>,
) -> Image {
    let content = ContentStore::new(store);
    let mut parent: Option<ChainId> = None;
    let mut diff_ids = Vec::new();
    let mut descriptors = Vec::new();
    for tar in layers {
        let diff_id = Digest::of_bytes(tar);
        parent = Some(snapshot::unpack(store, parent.as_ref(), &diff_id, &tar[..]).unwrap());
        content.put_bytes(tar).unwrap();
        descriptors
            .push(config::descriptor(MediaType::ImageLayer, &diff_id, tar.len() as u64).unwrap());
        diff_ids.push(diff_id.to_string());
    }
    let created = config::rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let first = Digest::of_bytes(&layers[0]);
    let mut cfg = config::single_layer_config(&first, &created, None, History::default());
    let mut rootfs = RootFs::default();
    rootfs.set_diff_ids(diff_ids);
    cfg.set_rootfs(rootfs).set_history(Some(history));
    let (id, size) = content
        .put_bytes(&config::canonical_json(&cfg).unwrap())
        .unwrap();
    let config_desc = config::descriptor(MediaType::ImageConfig, &id, size).unwrap();
    let manifest = config::manifest(config_desc, descriptors).unwrap();
    let (manifest, _) = content
        .put_bytes(&config::canonical_json(&manifest).unwrap())
        .unwrap();
    let record = ImageRecord { manifest, size: 0 };
    let tag = tag.map(|t| Reference::parse(t).unwrap());
    Refs::new(store)
        .add_image(&id, record, tag.as_ref())
        .unwrap();
    ImageStore::new(store).get(&id).unwrap()
}

pub fn step(created_by: &str, empty: bool) -> History {
    let mut h = config::history("2023-11-14T22:13:20Z", created_by.to_string(), None);
    if empty {
        h.set_empty_layer(Some(true));
    }
    h
}

/// A container record on `image`, running (as this test process, which is
/// alive) or exited. Returns its ID.
pub fn container(store: &Store, image: &Image, running: bool) -> String {
    let id = Digest::of_bytes(unique_suffix().as_bytes())
        .hex()
        .to_string();
    let dir = record::container_dir(store.root(), &id);
    fs::create_dir_all(&dir).unwrap();
    let rec = ContainerRecord {
        id: id.clone(),
        name: format!("c{}", &id[..6]),
        created: "2024-01-01T00:00:00Z".into(),
        image: image.reference.clone().unwrap_or_default(),
        image_id: image.id.to_string(),
        config: RunConfig {
            layers: image.layer_dirs.clone(),
            ..RunConfig::default()
        },
    };
    let me = std::process::id() as i32;
    let state = ContainerState {
        status: if running {
            Status::Running
        } else {
            Status::Exited
        },
        pid: if running { me } else { 0 },
        pid_start: if running { process_start(me) } else { None },
        ..ContainerState::default()
    };
    fs::write(
        dir.join(record::CONFIG_FILE),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
    fs::write(
        dir.join(record::STATE_FILE),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    id
}

/// Blob digests and snapshot names in the store.
pub fn contents(store: &Store) -> (Vec<Digest>, Vec<ChainId>) {
    (
        ContentStore::new(store).list().unwrap(),
        snapshot::list(store).unwrap(),
    )
}
