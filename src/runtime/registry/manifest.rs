//! Manifests and indexes as registries serve them: OCI's and docker's
//! (schema 2 and manifest lists), and choosing the host's platform.

use serde::{Deserialize, Serialize};

use super::error::RegistryError;
use crate::runtime::image::Digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    pub fn digest(&self) -> Result<Digest, String> {
        Digest::parse(&self.digest).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug)]
pub enum Parsed {
    Index(Index),
    Manifest(Manifest),
}

/// Parses by media type (the Content-Type header, else the document's own
/// `mediaType`, else its shape).
pub fn parse(bytes: &[u8], content_type: &str, what: &str) -> Result<Parsed, RegistryError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(what, e.to_string()))?;
    let declared = value
        .get("mediaType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let media_type = match content_type {
        OCI_INDEX | DOCKER_LIST | OCI_MANIFEST | DOCKER_MANIFEST => content_type,
        _ if !declared.is_empty() => declared,
        _ if value.get("manifests").is_some() => OCI_INDEX,
        _ if value.get("config").is_some() => OCI_MANIFEST,
        _ => content_type,
    };
    match media_type {
        OCI_INDEX | DOCKER_LIST => serde_json::from_value(value)
            .map(Parsed::Index)
            .map_err(|e| invalid(what, e.to_string())),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let m: Manifest =
                serde_json::from_value(value).map_err(|e| invalid(what, e.to_string()))?;
            if m.schema_version != 2 {
                return Err(invalid(
                    what,
                    format!("schemaVersion {} (want 2)", m.schema_version),
                ));
            }
            Ok(Parsed::Manifest(m))
        }
        other => Err(RegistryError::UnsupportedManifest {
            reference: what.to_string(),
            media_type: if other.is_empty() {
                "(none)".into()
            } else {
                other.to_string()
            },
        }),
    }
}

fn invalid(what: &str, reason: String) -> RegistryError {
    RegistryError::Invalid {
        what: "manifest",
        url: what.to_string(),
        reason,
    }
}

/// The platform berth runs on, with Go's names (docker's).
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        "s390x" => ("s390x", None),
        other => (other, None),
    };
    Platform {
        architecture: architecture.to_string(),
        os: std::env::consts::OS.to_string(),
        variant: variant.map(str::to_string),
    }
}

/// Architecture and variant as Go spells them, whatever the index used.
fn normalize(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let (a, v) = match (arch, variant) {
        ("x86_64" | "x86-64", v) => ("amd64", v),
        ("aarch64", None | Some("v8")) => ("arm64", Some("v8")),
        ("arm64", None) => ("arm64", Some("v8")),
        ("aarch64", v) => ("arm64", v),
        ("armhf", _) => ("arm", Some("v7")),
        ("armel", _) => ("arm", Some("v6")),
        ("i386" | "i686", v) => ("386", v),
        (a, v) => (a, v),
    };
    (a.to_string(), v.map(str::to_string))
}

/// The index entry for `want`: same OS and architecture, the same variant
/// when both name one; an exact variant match wins.
pub fn select<'i>(index: &'i Index, want: &Platform) -> Option<&'i Descriptor> {
    let (want_arch, want_variant) = normalize(&want.architecture, want.variant.as_deref());
    let mut fallback = None;
    for d in &index.manifests {
        let Some(p) = &d.platform else { continue };
        let (arch, variant) = normalize(&p.architecture, p.variant.as_deref());
        if p.os != want.os || arch != want_arch {
            continue;
        }
        match (&variant, &want_variant) {
            (Some(a), Some(b)) if a == b => return Some(d),
            (Some(_), Some(_)) => {}
            _ => {
                fallback.get_or_insert(d);
            }
        }
    }
    fallback
}

pub fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, digest: char) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", digest.to_string().repeat(64)),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
            }),
            urls: vec![],
        }
    }

    fn platform(arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn picks_host_arch_with_normalized_names() {
        let index = Index {
            manifests: vec![
                entry("arm", Some("v6"), 'a'),
                entry("arm", Some("v7"), 'b'),
                entry("aarch64", None, 'c'),
                entry("x86_64", None, 'd'),
            ],
        };
        let pick = |p| select(&index, &p).map(|d| d.digest.chars().last().unwrap());
        assert_eq!(pick(platform("amd64", None)), Some('d'));
        assert_eq!(pick(platform("arm64", Some("v8"))), Some('c'));
        assert_eq!(pick(platform("arm", Some("v7"))), Some('b'));
        assert_eq!(pick(platform("s390x", None)), None);
    }

    #[test]
    fn parses_by_type_and_refuses_schema1() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(idx, DOCKER_LIST, "x").unwrap(),
            Parsed::Index(_)
        ));
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:00","size":1},"layers":[]}"#;
        assert!(matches!(parse(m, "", "x").unwrap(), Parsed::Manifest(_)));
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let err = parse(
            s1,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "x",
        )
        .unwrap_err();
        assert!(err.to_string().contains("schema 1"), "{err}");
        assert!(parse(b"not json", OCI_MANIFEST, "x").is_err());
    }
}
