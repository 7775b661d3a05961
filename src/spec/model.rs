//! The normalized stack: every short syntax expanded to its long form, every path
//! absolute, every default filled in. This is what `berth config` prints and what the
//! planner consumes.
//!
//! Serialization goes through `serde_json::Value` with sorted keys, so output and
//! config hashes are deterministic (docker compose also prints keys sorted).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::duration::Duration;

/// Keys in the stack file that berth keeps as given (validated by the schema) but
/// does not interpret itself.
pub type Extra = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Project {
    pub name: String,
    #[serde(skip)]
    pub working_dir: std::path::PathBuf,
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub secrets: BTreeMap<String, Extra>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub configs: BTreeMap<String, Extra>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub env_file: Vec<EnvFile>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub volumes: Vec<ServiceVolume>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub configs: Vec<FileRef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mem_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memswap_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shm_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub build: Option<serde_json::Value>,
    /// Every other service key, as written (after interpolation), in JSON form.
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Port {
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host_ip: Option<String>,
    pub target: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub published: Option<String>,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: VolumeKind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub consistency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bind: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tmpfs: Option<TmpfsOptions>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VolumeKind {
    Volume,
    Bind,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub propagation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub create_host_path: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub selinux: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nocopy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subpath: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dependency {
    pub condition: Condition,
    pub required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub restart: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Healthcheck {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retries: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub disable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Deploy {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resources: Option<Resources>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limits: Option<ResourceSpec>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reservations: Option<ResourceSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ResourceSpec {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pids: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipv6_address: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A secret or config granted to a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRef {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Range { soft: i64, hard: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub external: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub internal: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub external: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Service {
    /// Replica count: `deploy.replicas`, else 1.
    pub fn replicas(&self) -> u32 {
        self.deploy.as_ref().and_then(|d| d.replicas).unwrap_or(1)
    }
}

impl Project {
    /// The canonical JSON of the project: sorted keys, no insignificant whitespace.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
