//! A container's attachments: `containers/<id>/network.json`, the networks it
//! is connected to (from `--network` at first start, then `network
//! connect/disconnect`) and, while it runs, the live side of each: address,
//! MAC, interface names.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::NetworkError;
use super::store::{self, DEFAULT_NETWORK};
use crate::runtime::container::record::{ContainerRecord, container_dir};
use crate::runtime::store::Store;

pub const FILE: &str = "network.json";
/// Where a container's network namespace is pinned while it runs.
pub const NETNS_FILE: &str = "netns";

/// How a container's network namespace is made (`--network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Its own namespace with only `lo`.
    None,
    /// The host's namespace.
    Host,
    /// The namespace of another running container (name or id).
    Container(String),
    /// Its own namespace, attached to bridge networks (`bridge` or a name).
    Bridge(String),
}

impl Mode {
    pub fn parse(network_mode: &str) -> Mode {
        match network_mode {
            // Records from before bridge networking have no mode: none then.
            "" | "none" => Mode::None,
            "host" => Mode::Host,
            "default" => Mode::Bridge(DEFAULT_NETWORK.to_string()),
            other => match other.strip_prefix("container:") {
                Some(target) => Mode::Container(target.to_string()),
                None => Mode::Bridge(other.to_string()),
            },
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    /// For messages once the network is gone.
    #[serde(default)]
    pub network_name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip` / `connect --ip`: the address asked for at every start.
    #[serde(default)]
    pub requested_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub live: Option<Live>,
}

/// What a running container's attachment is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The host end, on the network's bridge.
    pub veth: String,
    /// The container end (`eth0`, `eth1`, ...).
    pub iface: String,
}

pub fn path(store: &Store, id: &str) -> PathBuf {
    container_dir(store.root(), id).join(FILE)
}

pub fn netns_path(store: &Store, id: &str) -> PathBuf {
    container_dir(store.root(), id).join(NETNS_FILE)
}

/// The recorded attachments; None before the first start or connect.
pub fn read(store: &Store, id: &str) -> Result<Option<Vec<Endpoint>>, NetworkError> {
    let path = path(store, id);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| NetworkError::Corrupt {
                path,
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetworkError::io(&path, e)),
    }
}

pub fn write(store: &Store, id: &str, endpoints: &[Endpoint]) -> Result<(), NetworkError> {
    let path = path(store, id);
    let bytes = serde_json::to_vec_pretty(endpoints).map_err(|e| NetworkError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_renamed(&path, &bytes)
}

/// Temp file and rename, without fsync (like the container's state file).
fn write_renamed(path: &Path, bytes: &[u8]) -> Result<(), NetworkError> {
    let tmp = path.with_file_name(format!(
        ".{FILE}.tmp-{}",
        crate::runtime::store::unique_suffix()
    ));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            NetworkError::io(path, e)
        })
}

/// The attachments, or the one `--network` asked for when none are recorded.
/// Called under `locks/network.lock`, so the predefined networks must exist
/// already (`store::ensure_defaults` takes that lock itself).
pub fn load_or_init(
    store: &Store,
    record: &ContainerRecord,
) -> Result<Vec<Endpoint>, NetworkError> {
    if let Some(endpoints) = read(store, &record.id)? {
        return Ok(endpoints);
    }
    let Mode::Bridge(name) = Mode::parse(&record.config.network_mode) else {
        return Ok(Vec::new());
    };
    let network = store::resolve(store, &name)?;
    Ok(vec![Endpoint {
        network_id: network.id,
        network_name: network.name,
        aliases: record.config.network_aliases.clone(),
        requested_ip: parse_ip(record.config.ip.as_deref())?,
        live: None,
    }])
}

pub fn parse_ip(text: Option<&str>) -> Result<Option<Ipv4Addr>, NetworkError> {
    text.filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {t}")))
        })
        .transpose()
}

/// docker's MAC for an address: 02:42 and the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The host end of a container's `n`th interface: unique per container and
/// short enough for IFNAMSIZ.
pub fn veth_name(container_id: &str, n: usize) -> String {
    format!("vb{}{n}", &container_id[..container_id.len().min(10)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("none"), Mode::None);
        assert_eq!(Mode::parse(""), Mode::None);
        assert_eq!(Mode::parse("host"), Mode::Host);
        assert_eq!(Mode::parse("default"), Mode::Bridge("bridge".into()));
        assert_eq!(Mode::parse("mynet"), Mode::Bridge("mynet".into()));
        assert_eq!(Mode::parse("container:web"), Mode::Container("web".into()));
    }

    #[test]
    fn names_and_macs() {
        let id = "0123456789abcdef".repeat(4);
        let name = veth_name(&id, 12);
        assert_eq!(name, "vb012345678912");
        assert!(name.len() <= 15);
        assert_eq!(
            mac_text(mac_for(Ipv4Addr::new(10, 200, 0, 2))),
            "02:42:0a:c8:00:02"
        );
        assert_eq!(
            parse_ip(Some("10.1.2.3")).unwrap(),
            Some(Ipv4Addr::new(10, 1, 2, 3))
        );
        assert!(parse_ip(Some("10.1.2")).is_err());
        assert_eq!(parse_ip(None).unwrap(), None);
    }
}
