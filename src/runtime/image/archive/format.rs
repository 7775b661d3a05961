//! The JSON documents of image archives. Only the fields berth reads or
//! writes are modelled; maps are `BTreeMap`s so output is byte-for-byte
//! reproducible.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MANIFEST_JSON: &str = "manifest.json";
pub const INDEX_JSON: &str = "index.json";
pub const OCI_LAYOUT: &str = "oci-layout";
pub const REPOSITORIES: &str = "repositories";
pub const BLOBS_DIR: &str = "blobs/sha256";
pub const OCI_LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion": "1.0.0"}"#;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// containerd's (and moby's) full image name, `docker.io/library/busybox:latest`.
pub const IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI reference name: a tag (`latest`) or, from skopeo, `name:tag`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The archive path of a blob.
pub fn blob_path(hex: &str) -> String {
    format!("{BLOBS_DIR}/{hex}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An OCI image index or a docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

/// An OCI image manifest or a docker schema2 manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// One entry of docker's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DockerItem {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// What a JSON blob in an index says it is, from its media type or, when the
/// descriptor has none, from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Manifest,
    Other,
}

pub fn kind_of(media_type: &str, bytes: &[u8]) -> Kind {
    match media_type {
        OCI_INDEX | DOCKER_LIST => Kind::Index,
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
        "" => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(v) if v.get("manifests").is_some() => Kind::Index,
            Ok(v) if v.get("config").is_some() && v.get("layers").is_some() => Kind::Manifest,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}
