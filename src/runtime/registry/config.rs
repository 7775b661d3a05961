//! Which registries berth may reach how: `/etc/berth/registries.toml`, or the
//! file named by `$BERTH_REGISTRIES_CONFIG`.
//!
//! ```toml
//! # Registries reached over plain http (docker's --insecure-registry):
//! # host[:port] entries or CIDR ranges. 127.0.0.0/8, ::1 and localhost
//! # are always insecure, as in docker.
//! insecure-registries = ["registry.lan:5000", "10.0.0.0/8"]
//!
//! # Mirrors tried in order before the registry itself when pulling
//! # (docker's --registry-mirror, and --add-registry's search order).
//! [registry."docker.io"]
//! mirrors = ["mirror.lan:5000", "https://mirror.example.com"]
//! ```
//!
//! A mirror written with a scheme uses it; without one it is reached like any
//! other registry (http when insecure, else https).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::RegistryError;

pub const DEFAULT_PATH: &str = "/etc/berth/registries.toml";
pub const PATH_ENV: &str = "BERTH_REGISTRIES_CONFIG";
/// Docker Hub's API endpoint; `docker.io` is only its name.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RegistriesConfig {
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    #[serde(default)]
    pub registry: BTreeMap<String, RegistryEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RegistryEntry {
    #[serde(default)]
    pub mirrors: Vec<String>,
    #[serde(default)]
    pub insecure: bool,
}

/// Where to send requests for one registry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://127.0.0.1:5000`, `https://registry-1.docker.io`.
    pub base: String,
    /// The host[:port] the endpoint serves, for messages and credentials.
    pub host: String,
    pub mirror: bool,
}

impl RegistriesConfig {
    /// Reads the config file; a missing file means defaults.
    pub fn load() -> Result<RegistriesConfig, RegistryError> {
        let path = std::env::var_os(PATH_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
        Self::load_from(&path)
    }

    pub fn load_from(path: &Path) -> Result<RegistriesConfig, RegistryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(RegistryError::io("read", path, e)),
        };
        Self::parse(&text).map_err(|reason| RegistryError::Config {
            path: path.to_path_buf(),
            reason,
        })
    }

    pub fn parse(text: &str) -> Result<RegistriesConfig, String> {
        let config: RegistriesConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        for entry in &config.insecure_registries {
            if entry.contains('/') {
                parse_cidr(entry).ok_or_else(|| {
                    format!("insecure-registries: {entry:?} is not a valid CIDR range")
                })?;
            }
        }
        Ok(config)
    }

    /// True when `host` (host[:port]) may be reached over plain http.
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host_name(host);
        if is_loopback(name) {
            return true;
        }
        if self.registry.get(host).is_some_and(|e| e.insecure) {
            return true;
        }
        let ip = name.parse::<IpAddr>().ok();
        self.insecure_registries.iter().any(|entry| {
            if entry == host || entry == name {
                return true;
            }
            match (parse_cidr(entry), ip) {
                (Some((net, bits)), Some(ip)) => in_cidr(ip, net, bits),
                _ => false,
            }
        })
    }

    /// The endpoint of registry `domain` itself.
    pub fn endpoint(&self, domain: &str) -> Endpoint {
        let host = if domain == super::super::image::reference::DEFAULT_DOMAIN {
            DOCKER_HUB_API.to_string()
        } else {
            domain.to_string()
        };
        let scheme = if self.is_insecure(&host) {
            "http"
        } else {
            "https"
        };
        Endpoint {
            base: format!("{scheme}://{host}"),
            host,
            mirror: false,
        }
    }

    /// Endpoints to pull `domain`'s images from: its mirrors in order, then
    /// the registry itself.
    pub fn pull_endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .registry
            .get(domain)
            .map(|e| e.mirrors.iter().map(|m| self.mirror_endpoint(m)).collect())
            .unwrap_or_default();
        out.push(self.endpoint(domain));
        out
    }

    fn mirror_endpoint(&self, mirror: &str) -> Endpoint {
        let trimmed = mirror.trim_end_matches('/');
        if let Some((scheme, host)) = trimmed.split_once("://") {
            return Endpoint {
                base: format!("{scheme}://{host}"),
                host: host.to_string(),
                mirror: true,
            };
        }
        Endpoint {
            mirror: true,
            ..self.endpoint(trimmed)
        }
    }
}

/// `host` without its port (IPv6 literals keep no brackets).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_loopback(name: &str) -> bool {
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = entry.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_insecure() {
        let c = RegistriesConfig::default();
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("127.3.2.1"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(!c.is_insecure("registry.example.com"));
        assert!(!c.is_insecure("10.1.2.3:5000"));
        assert_eq!(c.endpoint("127.0.0.1:5000").base, "http://127.0.0.1:5000");
        assert_eq!(c.endpoint("docker.io").base, "https://registry-1.docker.io");
    }

    #[test]
    fn listed_names_and_ranges_are_insecure() {
        let c = RegistriesConfig::parse(
            r#"
            insecure-registries = ["reg.lan:5000", "10.0.0.0/8"]
            [registry."other.lan"]
            insecure = true
            "#,
        )
        .unwrap();
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(!c.is_insecure("reg.lan:6000"));
        assert!(c.is_insecure("10.200.0.1:5000"));
        assert!(!c.is_insecure("11.0.0.1"));
        assert!(c.is_insecure("other.lan"));
        assert_eq!(c.endpoint("other.lan").base, "http://other.lan");
    }

    #[test]
    fn mirrors_come_first() {
        let c = RegistriesConfig::parse(
            r#"
            [registry."docker.io"]
            mirrors = ["127.0.0.1:5001", "https://mirror.example.com/"]
            "#,
        )
        .unwrap();
        let bases: Vec<String> = c
            .pull_endpoints("docker.io")
            .into_iter()
            .map(|e| e.base)
            .collect();
        assert_eq!(
            bases,
            [
                "http://127.0.0.1:5001",
                "https://mirror.example.com",
                "https://registry-1.docker.io"
            ]
        );
    }

    #[test]
    fn bad_config_is_explained() {
        let err = RegistriesConfig::parse("insecure-registries = [\"10.0.0.0/99\"]").unwrap_err();
        assert!(err.contains("10.0.0.0/99"), "{err}");
        let err = RegistriesConfig::parse("mirrors = 1").unwrap_err();
        assert!(err.contains("mirrors"), "{err}");
    }
}
