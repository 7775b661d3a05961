//! What the runtime reports: the containers, networks, volumes and images that
//! exist now. The runtime fills these plain structs; the planner only reads them.
//!
//! Containers are recognized by compose's label keys, so `docker compose ps`-style
//! tooling and berth agree on which container belongs to which service replica.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::hash::{ConfigHash, canonical_bytes, hex};

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
/// berth's own addition: the canonical service JSON behind the config hash, so a
/// later plan can say which field changed. Compose has no equivalent.
pub const LABEL_CANONICAL_CONFIG: &str = "io.berth.canonical-config";

/// A snapshot of the runtime, as far as the planner cares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    /// Real network names (`demo_default`, or an external network's name).
    pub networks: Vec<String>,
    /// Real volume names.
    pub volumes: Vec<String>,
    /// Image reference as written in the stack file -> image id (`sha256:...`).
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub project: String,
    pub service: String,
    pub number: u32,
    pub config_hash: String,
    /// The canonical config the hash was computed from, when the runtime kept it.
    #[serde(default)]
    pub canonical: Option<serde_json::Value>,
    /// The image id the container was created from.
    #[serde(default)]
    pub image_id: Option<String>,
    pub status: ContainerStatus,
    /// Containers of `berth run`: never part of the stack, never orphans.
    #[serde(default)]
    pub oneoff: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Exited {
        code: i32,
    },
    /// Exited because a user stopped it (`stop`, a Ctrl-C'd `up`): `up` starts
    /// it again, even a one-shot whose clean exit would otherwise be final.
    Stopped {
        code: i32,
    },
}

impl ContainerStatus {
    /// Running, paused and restarting containers are alive: the monitor owns them.
    pub fn is_alive(self) -> bool {
        matches!(
            self,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        )
    }
}

impl Observed {
    /// A digest of the whole snapshot, independent of the order the runtime listed
    /// things in. A saved plan records it so applying it later can refuse to run
    /// against a state that has moved on.
    ///
    /// The JSON is streamed into the hasher rather than built as a `Value`, since
    /// this runs on every plan: struct fields come out in declaration order and
    /// maps sorted, which is deterministic for a given berth version.
    pub fn fingerprint(&self) -> String {
        let mut containers: Vec<&ObservedContainer> = self.containers.iter().collect();
        containers.sort_by(|a, b| a.id.cmp(&b.id));
        let view = FingerprintView {
            containers,
            networks: sorted_unique(&self.networks),
            volumes: sorted_unique(&self.volumes),
            images: &self.images,
        };
        let mut hasher = HashWriter(Sha256::new());
        // Writing plain structs into a hasher has no failure path: no I/O errors,
        // no non-string map keys.
        let _ = serde_json::to_writer(&mut hasher, &view);
        format!("sha256:{}", hex(&hasher.0.finalize()))
    }
}

#[derive(Serialize)]
struct FingerprintView<'a> {
    containers: Vec<&'a ObservedContainer>,
    networks: Vec<&'a str>,
    volumes: Vec<&'a str>,
    images: &'a BTreeMap<String, String>,
}

fn sorted_unique(names: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = names.iter().map(String::as_str).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Feeds serialized bytes straight into a digest.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The labels berth puts on a stack container; [`from_labels`] reads them back.
pub fn container_labels(
    project: &str,
    service: &str,
    number: u32,
    hash: &ConfigHash,
    oneoff: bool,
) -> BTreeMap<String, String> {
    let pairs = [
        (LABEL_PROJECT, project.to_string()),
        (LABEL_SERVICE, service.to_string()),
        (LABEL_CONTAINER_NUMBER, number.to_string()),
        (LABEL_CONFIG_HASH, hash.value.clone()),
        (
            LABEL_ONEOFF,
            if oneoff { "True" } else { "False" }.to_string(),
        ),
        (
            LABEL_CANONICAL_CONFIG,
            String::from_utf8_lossy(&canonical_bytes(&hash.canonical)).into_owned(),
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Builds an [`ObservedContainer`] from a container's labels. Returns `None` for
/// containers that do not belong to a stack (no project or service label) or whose
/// replica number is unreadable, since the planner cannot place those.
pub fn from_labels(
    id: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    status: ContainerStatus,
    image_id: Option<String>,
) -> Option<ObservedContainer> {
    let oneoff = labels
        .get(LABEL_ONEOFF)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let number = match labels.get(LABEL_CONTAINER_NUMBER) {
        Some(text) => text.parse().ok()?,
        // One-off containers are never matched to a replica, so they need no number.
        None if oneoff => 0,
        None => return None,
    };
    Some(ObservedContainer {
        id: id.to_string(),
        name: name.to_string(),
        project: labels.get(LABEL_PROJECT)?.clone(),
        service: labels.get(LABEL_SERVICE)?.clone(),
        number,
        config_hash: labels.get(LABEL_CONFIG_HASH).cloned().unwrap_or_default(),
        canonical: labels
            .get(LABEL_CANONICAL_CONFIG)
            .and_then(|text| serde_json::from_str(text).ok()),
        image_id,
        status,
        oneoff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::hash::hash_service;
    use crate::planner::testutil::service;

    #[test]
    fn labels_round_trip() {
        let hash = hash_service(&service("busybox:1")).unwrap();
        let labels = container_labels("demo", "web", 2, &hash, false);
        let back =
            from_labels("abc", "demo-web-2", &labels, ContainerStatus::Running, None).unwrap();
        assert_eq!(back.project, "demo");
        assert_eq!(back.service, "web");
        assert_eq!(back.number, 2);
        assert_eq!(back.config_hash, hash.value);
        assert_eq!(back.canonical, Some(hash.canonical));
        assert!(!back.oneoff);
    }

    #[test]
    fn containers_without_stack_labels_are_skipped() {
        let labels = BTreeMap::from([("other".to_string(), "x".to_string())]);
        assert!(from_labels("a", "b", &labels, ContainerStatus::Running, None).is_none());
    }

    #[test]
    fn status_serializes_with_a_state_tag() {
        let text = serde_json::to_string(&ContainerStatus::Exited { code: 3 }).unwrap();
        assert_eq!(text, r#"{"state":"exited","code":3}"#);
        let back: ContainerStatus = serde_json::from_str(r#"{"state":"running"}"#).unwrap();
        assert_eq!(back, ContainerStatus::Running);
    }

    #[test]
    fn fingerprint_ignores_listing_order_but_not_content() {
        let mut a = Observed {
            networks: vec!["n1".into(), "n2".into()],
            ..Observed::default()
        };
        let mut b = a.clone();
        b.networks.reverse();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.fingerprint().starts_with("sha256:"));
        a.volumes.push("v".into());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
