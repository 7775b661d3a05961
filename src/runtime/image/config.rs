//! Image config and manifest blobs: building them, and their byte encoding.
//!
//! The image ID is the digest of the config blob, so the blob's bytes must be
//! a pure function of its content. oci-spec keeps labels, exposed ports and
//! volumes in `HashMap`s, whose iteration order changes from run to run;
//! [`canonical_json`] therefore re-serializes through a key-sorted tree.

use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::{
    Arch, Config, Descriptor, History, ImageConfiguration, ImageManifest, ImageManifestBuilder,
    MediaType, Os, RootFs,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::content::ContentStore;
use super::digest::Digest;
use super::error::ImageError;

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let tree = sort_keys(serde_json::to_value(value)?);
    serde_json::to_vec(&tree)
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            // Inserting in order keeps the order even if serde_json's
            // `preserve_order` feature is switched on by another crate.
            let sorted: Map<String, Value> = entries
                .into_iter()
                .map(|(k, v)| (k, sort_keys(v)))
                .collect();
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Stores `value` as a canonical-JSON blob (a config or manifest).
pub fn put_json<T: Serialize>(
    content: &ContentStore<'_>,
    value: &T,
    what: &'static str,
) -> Result<(Digest, u64), ImageError> {
    let bytes = canonical_json(value).map_err(|e| ImageError::Build {
        what,
        reason: e.to_string(),
    })?;
    Ok(content.put_bytes(&bytes)?)
}

pub fn parse_config(digest: &Digest, bytes: &[u8]) -> Result<ImageConfiguration, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::InvalidConfig {
        digest: digest.clone(),
        reason: e.to_string(),
    })
}

/// docker's `config.Healthcheck`, which the OCI image config does not define.
/// Durations are Go nanoseconds; zero or less means "the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageHealthcheck {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// The image's HEALTHCHECK, when its config has a usable one. A malformed one
/// is ignored rather than making the image unusable, as docker does with
/// fields it cannot read.
pub fn healthcheck(bytes: &[u8]) -> Option<ImageHealthcheck> {
    #[derive(Deserialize)]
    struct Outer {
        config: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "Healthcheck")]
        healthcheck: Option<ImageHealthcheck>,
    }
    serde_json::from_slice::<Outer>(bytes)
        .ok()?
        .config?
        .healthcheck
        .filter(|h| !h.test.is_empty())
}

/// The config's `rootfs.diff_ids`, validated.
pub fn diff_ids(id: &Digest, config: &ImageConfiguration) -> Result<Vec<Digest>, ImageError> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| {
            Digest::parse(d).map_err(|e| ImageError::InvalidConfig {
                digest: id.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// A single-layer config for the host platform (Go names: amd64, arm64).
pub fn single_layer_config(
    diff_id: &Digest,
    created: &str,
    exec: Option<Config>,
    history: History,
) -> ImageConfiguration {
    let mut rootfs = RootFs::default();
    rootfs.set_diff_ids(vec![diff_id.to_string()]);
    let mut config = ImageConfiguration::default();
    config
        .set_created(Some(created.to_string()))
        .set_architecture(Arch::default())
        .set_os(Os::default())
        .set_config(exec)
        .set_rootfs(rootfs)
        .set_history(Some(vec![history]));
    config
}

pub fn history(created: &str, created_by: String, comment: Option<String>) -> History {
    let mut h = History::default();
    h.set_created(Some(created.to_string()))
        .set_created_by(Some(created_by))
        .set_comment(comment);
    h
}

pub fn descriptor(
    media_type: MediaType,
    digest: &Digest,
    size: u64,
) -> Result<Descriptor, ImageError> {
    Ok(Descriptor::new(media_type, size, digest.to_oci()?))
}

/// An OCI image manifest (schemaVersion 2).
pub fn manifest(config: Descriptor, layers: Vec<Descriptor>) -> Result<ImageManifest, ImageError> {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .map_err(|e| ImageError::Build {
            what: "manifest",
            reason: e.to_string(),
        })
}

/// RFC 3339 in UTC with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano,
/// which is what docker writes).
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian calendar
/// (Howard Hinnant's algorithm, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn rfc3339_formatting() {
        let at = |s: u64, n: u32| rfc3339(UNIX_EPOCH + Duration::new(s, n));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000, 500_000_000), "2023-11-14T22:13:20.5Z");
        assert_eq!(at(4_102_444_799, 1), "2099-12-31T23:59:59.000000001Z");
    }

    #[test]
    fn canonical_json_is_stable_across_hashmap_orders() {
        let mut c = Config::default();
        let labels: HashMap<String, String> = (0..50)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        c.set_labels(Some(labels));
        c.set_exposed_ports(Some((1..40).map(|p| format!("{p}/tcp")).collect()));
        let first = canonical_json(&c).unwrap();
        for _ in 0..5 {
            // A fresh HashMap gets a fresh random iteration order.
            let mut again = Config::default();
            again.set_labels(Some(c.labels().clone().unwrap().into_iter().collect()));
            again.set_exposed_ports(c.exposed_ports().clone());
            assert_eq!(canonical_json(&again).unwrap(), first);
        }
    }

    #[test]
    fn config_uses_go_platform_names() {
        let d = Digest::of_bytes(b"layer");
        let cfg = single_layer_config(&d, "2024-01-01T00:00:00Z", None, History::default());
        let json: Value = serde_json::from_slice(&canonical_json(&cfg).unwrap()).unwrap();
        let arch = json["architecture"].as_str().unwrap();
        assert!(
            ["amd64", "arm64", "riscv64", "ppc64le", "s390x"].contains(&arch),
            "{arch}"
        );
        assert_eq!(json["os"], "linux");
        assert_eq!(json["rootfs"]["type"], "layers");
        assert_eq!(json["rootfs"]["diff_ids"][0], d.as_str());
    }

    #[test]
    fn docker_healthcheck_is_read_from_the_config_bytes() {
        let bytes = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
            "config":{"Healthcheck":{"Test":["CMD-SHELL","wget -q localhost"],"Interval":5000000000,"Retries":2}}}"#;
        let check = healthcheck(bytes).unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(
            (check.interval, check.timeout, check.retries),
            (5_000_000_000, 0, 2)
        );
        assert_eq!(healthcheck(br#"{"config":{}}"#), None);
        assert_eq!(
            healthcheck(br#"{"config":{"Healthcheck":{"Test":[]}}}"#),
            None
        );
        assert_eq!(
            healthcheck(br#"{"config":{"Healthcheck":{"Test":7}}}"#),
            None
        );
    }
}
