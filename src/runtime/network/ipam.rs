//! Address allocation per network: `<root>/networks/<id>/leases.json`, read
//! and rewritten only under `locks/network.lock` (the caller takes it).
//!
//! A lease names the process answering for it (the container's monitor, by
//! pid and start time). Leases are released when a container stops; one whose
//! owner is gone (a killed monitor, a reboot) or whose container no longer
//! exists is reclaimed by the next allocation, so a crash never loses an
//! address for good.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::error::NetworkError;
use super::store::{Network, network_dir};
use crate::runtime::container::lifecycle::process_start;
use crate::runtime::container::record::container_dir;
use crate::runtime::store::Store;

const FILE: &str = "leases.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub container: String,
    /// The monitor of the container while it runs.
    pub pid: i32,
    pub start: Option<u64>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Who a new lease belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub pid: i32,
    pub start: Option<u64>,
}

impl Owner {
    /// This process (the monitor starting the container).
    pub fn this_process() -> Owner {
        let pid = std::process::id() as i32;
        Owner {
            pid,
            start: process_start(pid),
        }
    }
}

type Leases = BTreeMap<Ipv4Addr, Lease>;

fn load(store: &Store, network: &Network) -> Result<Leases, NetworkError> {
    let path = network_dir(store, &network.id).join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NetworkError::Corrupt {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Leases::new()),
        Err(e) => Err(NetworkError::io(&path, e)),
    }
}

/// Renamed into place, not fsynced: after a power loss no lease is live
/// anyway, and every stale one is reclaimed.
fn save(store: &Store, network: &Network, leases: &Leases) -> Result<(), NetworkError> {
    let dir = network_dir(store, &network.id);
    let path = dir.join(FILE);
    let tmp = dir.join(format!(
        ".{FILE}.tmp-{}",
        crate::runtime::store::unique_suffix()
    ));
    let bytes = serde_json::to_vec(leases).map_err(|e| NetworkError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            NetworkError::io(&path, e)
        })
}

fn is_live(store: &Store, lease: &Lease) -> bool {
    container_dir(store.root(), &lease.container).is_dir()
        && lease.pid > 0
        && process_start(lease.pid).is_some_and(|now| lease.start.is_none_or(|then| now == then))
}

/// The live leases of a network, lowest address first.
pub fn live(store: &Store, network: &Network) -> Result<Vec<(Ipv4Addr, Lease)>, NetworkError> {
    Ok(load(store, network)?
        .into_iter()
        .filter(|(_, lease)| is_live(store, lease))
        .collect())
}

/// Leases whose container is gone or whose monitor died: reclaimed by the
/// next allocation or release on the network; `system check` reports them.
pub fn stale(store: &Store, network: &Network) -> Result<Vec<(Ipv4Addr, Lease)>, NetworkError> {
    Ok(load(store, network)?
        .into_iter()
        .filter(|(_, lease)| !is_live(store, lease))
        .collect())
}

/// Leases an address to `container`: `wanted` if given (it must be a free host
/// address of the subnet), else the lowest free one of the range, from .2 up
/// (the gateway is .1).
pub fn allocate(
    store: &Store,
    network: &Network,
    container: &str,
    owner: Owner,
    wanted: Option<Ipv4Addr>,
    aliases: &[String],
) -> Result<Ipv4Addr, NetworkError> {
    let (subnet, gateway) = network.addressing()?;
    let mut leases = load(store, network)?;
    leases.retain(|_, lease| lease.container != container && is_live(store, lease));
    let taken = |ip: &Ipv4Addr| *ip == gateway || leases.contains_key(ip);
    let ip = match wanted {
        Some(ip) => {
            let host = subnet.contains(ip) && ip != subnet.network() && ip != subnet.broadcast();
            if !host {
                return Err(NetworkError::AddressOutside { ip: ip.to_string() });
            }
            if taken(&ip) {
                return Err(NetworkError::AddressInUse {
                    ip: ip.to_string(),
                    network: network.name.clone(),
                });
            }
            ip
        }
        None => network
            .ip_range
            .unwrap_or(subnet)
            .hosts()
            .filter(|ip| subnet.contains(*ip) && *ip != subnet.broadcast())
            .find(|ip| !taken(ip))
            .ok_or_else(|| NetworkError::Exhausted {
                network: network.name.clone(),
            })?,
    };
    leases.insert(
        ip,
        Lease {
            container: container.to_string(),
            pid: owner.pid,
            start: owner.start,
            aliases: aliases.to_vec(),
        },
    );
    save(store, network, &leases)?;
    Ok(ip)
}

/// Drops every lease of `container` on the network (and any stale lease).
pub fn release(store: &Store, network: &Network, container: &str) -> Result<(), NetworkError> {
    let mut leases = load(store, network)?;
    let before = leases.len();
    leases.retain(|_, lease| lease.container != container && is_live(store, lease));
    if leases.len() != before {
        save(store, network, &leases)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::network::subnet::Subnet;

    fn network(store: &Store) -> Network {
        let n = Network {
            id: "n1".into(),
            name: "testnet".into(),
            driver: "bridge".into(),
            created: String::new(),
            subnet: Some(Subnet::parse("10.9.0.0/29").unwrap()),
            gateway: Some(Ipv4Addr::new(10, 9, 0, 1)),
            ip_range: None,
            bridge: "br-test".into(),
            labels: BTreeMap::new(),
            internal: false,
        };
        std::fs::create_dir_all(network_dir(store, &n.id)).unwrap();
        n
    }

    fn container(store: &Store, id: &str) {
        std::fs::create_dir_all(container_dir(store.root(), id)).unwrap();
    }

    #[test]
    fn allocation_order_static_addresses_and_release() -> Result<(), NetworkError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path())?;
        let net = network(&store);
        let me = Owner::this_process();
        for id in ["a", "b", "c"] {
            container(&store, id);
        }
        assert_eq!(
            allocate(&store, &net, "a", me, None, &[])?,
            Ipv4Addr::new(10, 9, 0, 2)
        );
        let fixed = Ipv4Addr::new(10, 9, 0, 5);
        assert_eq!(allocate(&store, &net, "b", me, Some(fixed), &[])?, fixed);
        assert!(matches!(
            allocate(&store, &net, "c", me, Some(fixed), &[]),
            Err(NetworkError::AddressInUse { .. })
        ));
        assert!(matches!(
            allocate(&store, &net, "c", me, Some(Ipv4Addr::new(10, 9, 1, 5)), &[]),
            Err(NetworkError::AddressOutside { .. })
        ));
        assert!(matches!(
            allocate(&store, &net, "c", me, Some(Ipv4Addr::new(10, 9, 0, 7)), &[]),
            Err(NetworkError::AddressOutside { .. })
        ));
        assert_eq!(
            allocate(&store, &net, "c", me, None, &[])?,
            Ipv4Addr::new(10, 9, 0, 3)
        );
        release(&store, &net, "a")?;
        let left: Vec<Ipv4Addr> = live(&store, &net)?.into_iter().map(|(ip, _)| ip).collect();
        assert_eq!(left, [Ipv4Addr::new(10, 9, 0, 3), fixed]);
        Ok(())
    }

    #[test]
    fn stale_leases_are_reclaimed() -> Result<(), NetworkError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path())?;
        let net = network(&store);
        container(&store, "live");
        container(&store, "dead");
        let dead_owner = Owner {
            pid: std::process::id() as i32,
            start: Some(1),
        };
        allocate(&store, &net, "dead", dead_owner, None, &[])?;
        // A container whose directory is gone loses its lease too.
        allocate(&store, &net, "gone", Owner::this_process(), None, &[])?;
        assert!(live(&store, &net)?.is_empty());
        let ip = allocate(&store, &net, "live", Owner::this_process(), None, &[])?;
        assert_eq!(ip, Ipv4Addr::new(10, 9, 0, 2));
        Ok(())
    }

    #[test]
    fn a_full_network_says_so() -> Result<(), NetworkError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path())?;
        let net = network(&store);
        let me = Owner::this_process();
        for n in 0..5 {
            let id = format!("c{n}");
            container(&store, &id);
            allocate(&store, &net, &id, me, None, &[])?;
        }
        container(&store, "last");
        assert!(matches!(
            allocate(&store, &net, "last", me, None, &[]),
            Err(NetworkError::Exhausted { .. })
        ));
        Ok(())
    }
}
