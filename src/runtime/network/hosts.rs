//! Name resolution through `/etc/hosts`. On a user-defined network every
//! container's hosts file lists itself and every other running container of
//! that network (name, short id, aliases). The files are bind-mounted into the
//! containers, so they are rewritten in place (truncate and write; a rename
//! would leave the container looking at the old inode) whenever a container
//! of the network starts, stops, connects or disconnects. Callers hold
//! `locks/network.lock`, so two rewrites never interleave.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::Ipv4Addr;

use super::endpoint::{self, Endpoint};
use super::error::NetworkError;
use super::ipam::{self, Lease};
use super::store::{self, Network};
use crate::runtime::container::etc_files;
use crate::runtime::container::record::{self, ContainerRecord, container_dir};
use crate::runtime::store::Store;

/// What rendering every peer's hosts file needs to read once, not once per
/// peer: networks, their live leases, and members' names. A start on a
/// network of n containers rewrites n-1 files; reading the members again for
/// each made `up` of a 20-service stack quadratic in record reads.
#[derive(Default)]
pub struct Members {
    networks: HashMap<String, Option<Network>>,
    live: HashMap<String, Vec<(Ipv4Addr, Lease)>>,
    names: HashMap<String, String>,
}

impl Members {
    fn network(&mut self, store: &Store, id: &str) -> Result<Option<Network>, NetworkError> {
        if let Some(n) = self.networks.get(id) {
            return Ok(n.clone());
        }
        let network = match store::get(store, id) {
            Ok(n) => Some(n),
            Err(NetworkError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        self.networks.insert(id.to_string(), network.clone());
        Ok(network)
    }

    fn live(
        &mut self,
        store: &Store,
        network: &Network,
    ) -> Result<&[(Ipv4Addr, Lease)], NetworkError> {
        if !self.live.contains_key(&network.id) {
            let live = ipam::live(store, network)?;
            self.live.insert(network.id.clone(), live);
        }
        Ok(self
            .live
            .get(&network.id)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }

    fn name(&mut self, store: &Store, id: &str) -> String {
        self.names
            .entry(id.to_string())
            .or_insert_with(|| super::container_name(store, id))
            .clone()
    }
}

/// The hosts file of a container on bridge networks.
pub fn render(
    store: &Store,
    record: &ContainerRecord,
    endpoints: &[Endpoint],
) -> Result<String, NetworkError> {
    render_with(store, record, endpoints, &mut Members::default())
}

fn render_with(
    store: &Store,
    record: &ContainerRecord,
    endpoints: &[Endpoint],
    members: &mut Members,
) -> Result<String, NetworkError> {
    let c = &record.config;
    let mut out = etc_files::hosts(&c.hostname, None);
    let gateway = endpoints
        .iter()
        .find_map(|e| e.live.as_ref().map(|l| l.gateway));
    out.push_str(&extra_hosts(&c.add_hosts, gateway));
    let short = &record.id[..record.id.len().min(12)];
    let mut peers = String::new();
    for ep in endpoints {
        let Some(live) = &ep.live else { continue };
        let Some(network) = members.network(store, &ep.network_id)? else {
            continue;
        };
        if !network.resolves_names() {
            out.push_str(&line(live.ip, &[c.hostname.as_str()]));
            continue;
        }
        let mut names = vec![c.hostname.as_str(), record.name.as_str(), short];
        names.extend(ep.aliases.iter().map(String::as_str));
        out.push_str(&line(live.ip, &names));
        let live: Vec<(Ipv4Addr, Lease)> = members.live(store, &network)?.to_vec();
        for (ip, lease) in live {
            if lease.container == record.id {
                continue;
            }
            let name = members.name(store, &lease.container);
            let short = &lease.container[..lease.container.len().min(12)];
            let mut names = vec![name.as_str(), short];
            names.extend(lease.aliases.iter().map(String::as_str));
            peers.push_str(&line(ip, &names));
        }
    }
    out.push_str(&peers);
    Ok(out)
}

/// `ip<TAB>name name...`, each name once.
fn line(ip: Ipv4Addr, names: &[&str]) -> String {
    let mut seen = BTreeSet::new();
    let unique: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.is_empty() && seen.insert(*n))
        .collect();
    format!("{ip}\t{}\n", unique.join(" "))
}

/// `--add-host NAME:IP` lines; `host-gateway` is the primary network's gateway.
pub fn extra_hosts(entries: &[String], gateway: Option<Ipv4Addr>) -> String {
    let mut out = String::new();
    for entry in entries {
        let Some((name, ip)) = entry.split_once([':', '=']) else {
            continue;
        };
        let ip = match (ip, gateway) {
            ("host-gateway", Some(g)) => g.to_string(),
            ("host-gateway", None) => continue,
            (ip, _) => ip.trim_matches(['[', ']']).to_string(),
        };
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// Rewrites the container's hosts file in place.
pub fn write(store: &Store, record: &ContainerRecord, text: &str) -> Result<(), NetworkError> {
    let path = container_dir(store.root(), &record.id).join("hosts");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| NetworkError::io(&path, e))
}

pub fn refresh(
    store: &Store,
    record: &ContainerRecord,
    endpoints: &[Endpoint],
) -> Result<(), NetworkError> {
    write(store, record, &render(store, record, endpoints)?)
}

/// Rewrites the hosts files of the running containers (other than `except`)
/// on the given networks. A peer that vanished meanwhile is skipped.
pub fn refresh_peers(
    store: &Store,
    network_ids: &[String],
    except: &str,
) -> Result<(), NetworkError> {
    let mut done = BTreeSet::new();
    let mut members = Members::default();
    for id in network_ids {
        let Some(network) = members.network(store, id)? else {
            continue;
        };
        if !network.resolves_names() {
            continue;
        }
        let live: Vec<(Ipv4Addr, Lease)> = members.live(store, &network)?.to_vec();
        for (_, lease) in live {
            if lease.container == except || !done.insert(lease.container.clone()) {
                continue;
            }
            let dir = container_dir(store.root(), &lease.container);
            // A peer a user is stopping (a `down` stops them all) exits with
            // its hosts file as it is; its next start writes a new one.
            if record::read_state(&dir).is_ok_and(|s| s.stopped_by_user) {
                continue;
            }
            let (Ok(peer), Ok(Some(endpoints))) = (
                record::read_record(&dir),
                endpoint::read(store, &lease.container),
            ) else {
                continue;
            };
            write(
                store,
                &peer,
                &render_with(store, &peer, &endpoints, &mut members)?,
            )?;
        }
    }
    Ok(())
}

/// resolv.conf for a container: the host's without loopback nameservers
/// (unreachable from another namespace), `--dns` replacing the nameservers.
pub fn resolv_conf(host: &str, own_netns: bool, dns: &[String]) -> String {
    let base = etc_files::resolv_conf(host, own_netns);
    if dns.is_empty() {
        return base;
    }
    let mut out: String = base
        .lines()
        .filter(|l| l.split_whitespace().next() != Some("nameserver"))
        .map(|l| format!("{l}\n"))
        .collect();
    for server in dns {
        out.push_str(&format!("nameserver {server}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_each_once() {
        assert_eq!(
            line(Ipv4Addr::new(10, 0, 0, 2), &["web", "web", "abc", "", "w"]),
            "10.0.0.2\tweb abc w\n"
        );
    }

    #[test]
    fn add_host_entries() {
        let entries = vec![
            "db:10.1.1.1".to_string(),
            "gw:host-gateway".to_string(),
            "v6:[::1]".to_string(),
            "junk".to_string(),
        ];
        assert_eq!(
            extra_hosts(&entries, Some(Ipv4Addr::new(10, 0, 0, 1))),
            "10.1.1.1\tdb\n10.0.0.1\tgw\n::1\tv6\n"
        );
        assert_eq!(extra_hosts(&entries, None), "10.1.1.1\tdb\n::1\tv6\n");
    }

    #[test]
    fn dns_replaces_nameservers() {
        let host = "search lan\nnameserver 10.1.1.1\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host, true, &["9.9.9.9".into()]),
            "search lan\noptions ndots:2\nnameserver 9.9.9.9\n"
        );
        assert_eq!(resolv_conf(host, true, &[]), host);
    }
}
