//! Config hashes: one digest per service that changes exactly when a running
//! container of that service would have to be recreated.
//!
//! The hash input is the service's normalized JSON with sorted keys, minus the keys
//! that only affect how many containers run, in which order, or how the image is
//! obtained. The canonical JSON is kept next to the hash so that a later diff can
//! name the fields that changed instead of just "the hash differs".

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::spec::model::{Project, Service};

/// Prefix of every hash value. Bump it whenever the canonical form changes (a key
/// added to `IGNORED_KEYS`, a different serialization), so that hashes written by
/// an older berth are recognizably different rather than silently comparable.
pub const HASH_VERSION: &str = "v1";

/// Top-level service keys that never force a recreate: scaling, start order,
/// profiles and image build/pull settings.
const IGNORED_KEYS: &[&str] = &["build", "pull_policy", "scale", "depends_on", "profiles"];

/// A service's config hash and the canonical JSON it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigHash {
    /// `v1:<64 lowercase hex digits of sha256>`.
    pub value: String,
    pub canonical: Value,
}

/// The config hash of `service` in `project`, or `None` when there is no such
/// service (or, in theory, when it cannot be serialized; see [`hash_service`]).
pub fn service_hash(project: &Project, service: &str) -> Option<ConfigHash> {
    project
        .services
        .get(service)
        .and_then(|svc| hash_service(svc).ok())
}

/// Hashes one service. Serializing the model only fails on non-string map keys,
/// which the model does not have, but the error is passed on rather than hidden.
pub fn hash_service(service: &Service) -> Result<ConfigHash, serde_json::Error> {
    let canonical = canonical_service(service)?;
    let value = format!(
        "{HASH_VERSION}:{}",
        sha256_hex(&canonical_bytes(&canonical))
    );
    Ok(ConfigHash { value, canonical })
}

/// The service's JSON with the ignored keys removed and every object's keys sorted.
pub fn canonical_service(service: &Service) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(service)?;
    if let Value::Object(map) = &mut value {
        strip_ignored(map);
    }
    sort_keys(&mut value);
    Ok(value)
}

fn strip_ignored(map: &mut Map<String, Value>) {
    for key in IGNORED_KEYS {
        map.remove(*key);
    }
    // `deploy: {replicas: 3}` must hash like no `deploy` at all, so an emptied
    // deploy section is dropped rather than kept as `{}`.
    let deploy_now_empty = match map.get_mut("deploy") {
        Some(Value::Object(deploy)) => {
            deploy.remove("replicas");
            deploy.is_empty()
        }
        _ => false,
    };
    if deploy_now_empty {
        map.remove("deploy");
    }
}

/// Puts every object's keys in sorted order. serde_json's default map is already
/// sorted, so normally this only walks the value; but if any crate in the build
/// enables `preserve_order`, maps keep insertion order and are rebuilt here, which
/// keeps hashes stable either way.
pub(crate) fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if !map.keys().is_sorted() {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                map.extend(entries);
            }
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Compact JSON bytes of a value. Writing a `Value` to memory cannot fail (its keys
/// are strings and there is no I/O), so an empty buffer is never actually returned.
pub(crate) fn canonical_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testutil::{ProjectBuilder, service};
    use crate::spec::model::{Condition, Dependency, Deploy};

    fn web() -> Service {
        let mut svc = service("nginx:1.27");
        svc.environment.insert("B".into(), Some("2".into()));
        svc.environment.insert("A".into(), Some("1".into()));
        svc
    }

    #[test]
    fn hash_has_version_prefix_and_sha256_hex() {
        let project = ProjectBuilder::new("demo").service("web", web()).build();
        let hash = service_hash(&project, "web").unwrap();
        let hex = hash.value.strip_prefix("v1:").unwrap();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(service_hash(&project, "missing").is_none());
    }

    #[test]
    fn hash_is_stable_across_runs() {
        let a = hash_service(&web()).unwrap();
        let b = hash_service(&web().clone()).unwrap();
        assert_eq!(a, b);
        // Pinned so an accidental change of the canonical form fails loudly and
        // reminds whoever changed it to bump HASH_VERSION.
        let text = String::from_utf8(canonical_bytes(&a.canonical)).unwrap();
        assert_eq!(
            text,
            r#"{"environment":{"A":"1","B":"2"},"image":"nginx:1.27","networks":{"default":null}}"#
        );
        assert_eq!(a.value, format!("v1:{}", sha256_hex(text.as_bytes())));
    }

    #[test]
    fn scaling_order_and_build_settings_do_not_change_the_hash() {
        let base = hash_service(&web()).unwrap();
        let mut changed = web();
        changed.deploy = Some(Deploy {
            replicas: Some(5),
            ..Deploy::default()
        });
        changed.depends_on.insert(
            "db".into(),
            Dependency {
                condition: Condition::ServiceHealthy,
                required: true,
                restart: true,
            },
        );
        changed.profiles = vec!["debug".into()];
        changed.build = Some(serde_json::json!({"context": "."}));
        changed.extra.insert("scale".into(), 3.into());
        changed.extra.insert("pull_policy".into(), "always".into());
        assert_eq!(hash_service(&changed).unwrap(), base);
    }

    #[test]
    fn other_deploy_settings_and_real_changes_do_change_the_hash() {
        let base = hash_service(&web()).unwrap().value;
        let mut limited = web();
        let mut deploy = Deploy::default();
        deploy.extra.insert("mode".into(), "global".into());
        limited.deploy = Some(deploy);
        assert_ne!(hash_service(&limited).unwrap().value, base);

        let mut other_image = web();
        other_image.image = Some("nginx:1.28".into());
        assert_ne!(hash_service(&other_image).unwrap().value, base);
    }
}
