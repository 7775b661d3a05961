//! Network records: `<root>/networks/<id>/network.json`, written once at
//! create (temp file + rename), and the predefined `bridge`, `host` and `none`
//! networks, made at first use. Creating and removing networks, like every
//! IPAM change, happens under `locks/network.lock`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config;
use super::error::NetworkError;
use super::link::{self, Netlink};
use super::subnet::Subnet;
use crate::runtime::container::create::now_rfc3339;
use crate::runtime::container::names::new_id;
use crate::runtime::store::{LockGuard, Store, write_atomic};

pub const RECORD_FILE: &str = "network.json";
pub const DEFAULT_NETWORK: &str = "bridge";
pub const HOST_NETWORK: &str = "host";
pub const NONE_NETWORK: &str = "none";
pub const PREDEFINED: [&str; 3] = [DEFAULT_NETWORK, HOST_NETWORK, NONE_NETWORK];

/// docker's bridge option naming the host interface.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// Where automatic subnets come from: /24s in 10.200.0.0 - 10.255.255.0, a
/// range docker's default pools (172.17-31/16, 192.168/20) do not use.
const POOL_FIRST: u32 = 0x0AC8_0000;
const POOL_LAST: u32 = 0x0AFF_FF00;

/// A user network's bridge is made with the alias `berth root=<root>`.
const ALIAS_PREFIX: &str = "berth root=";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`, as docker names its drivers.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<Subnet>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Containers get addresses from here (default: the whole subnet).
    #[serde(default)]
    pub ip_range: Option<Subnet>,
    /// The host interface (`bridge` driver only).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub internal: bool,
}

impl Network {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// docker resolves container names on user-defined networks only.
    pub fn resolves_names(&self) -> bool {
        self.is_bridge() && self.name != DEFAULT_NETWORK
    }

    pub fn is_predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }

    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// Subnet and gateway of a bridge network.
    pub fn addressing(&self) -> Result<(Subnet, Ipv4Addr), NetworkError> {
        match (self.subnet, self.gateway) {
            (Some(s), Some(g)) => Ok((s, g)),
            _ => Err(NetworkError::Invalid(format!(
                "network {} has no IPv4 subnet",
                self.name
            ))),
        }
    }

    pub fn event(&self, root: &std::path::Path, action: &str, extra: &[(&str, String)]) {
        super::record_event(root, self, action, extra);
    }
}

pub fn network_dir(store: &Store, id: &str) -> PathBuf {
    store.networks_dir().join(id)
}

/// The lock every network and address change is made under.
pub fn lock(store: &Store) -> Result<LockGuard, NetworkError> {
    Ok(store.lock("network")?)
}

pub fn get(store: &Store, id: &str) -> Result<Network, NetworkError> {
    let path = network_dir(store, id).join(RECORD_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NetworkError::NotFound {
                name: id.to_string(),
            });
        }
        Err(e) => return Err(NetworkError::io(&path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| NetworkError::Corrupt {
        path,
        message: e.to_string(),
    })
}

/// Every network of the root, sorted by name as docker lists them.
pub fn list(store: &Store) -> Result<Vec<Network>, NetworkError> {
    let dir = store.networks_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetworkError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        // Temp directories and half-made networks have no record yet.
        if let Ok(network) = get(store, &id) {
            out.push(network);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// By exact name, full id, or unique id prefix (docker's order).
pub fn resolve(store: &Store, wanted: &str) -> Result<Network, NetworkError> {
    let all = list(store)?;
    if let Some(n) = all.iter().find(|n| n.name == wanted || n.id == wanted) {
        return Ok(n.clone());
    }
    let matches: Vec<&Network> = all
        .iter()
        .filter(|n| !wanted.is_empty() && n.id.starts_with(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(NetworkError::NotFound {
            name: wanted.to_string(),
        }),
        many => Err(NetworkError::Ambiguous {
            name: wanted.to_string(),
            count: many.len(),
        }),
    }
}

fn write(store: &Store, network: &Network) -> Result<(), NetworkError> {
    let dir = network_dir(store, &network.id);
    std::fs::create_dir_all(&dir).map_err(|e| NetworkError::io(&dir, e))?;
    let bytes = serde_json::to_vec_pretty(network).map_err(|e| NetworkError::Corrupt {
        path: dir.join(RECORD_FILE),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join(RECORD_FILE), &bytes)?;
    Ok(())
}

/// Makes the predefined networks if this root has none yet. The default
/// bridge's subnet is chosen (and its interface made, so other roots see the
/// subnet taken) here.
pub fn ensure_defaults(store: &Store) -> Result<(), NetworkError> {
    let existing = list(store)?;
    let has = |name: &str| existing.iter().any(|n| n.name == name);
    if PREDEFINED.iter().all(|name| has(name)) {
        return Ok(());
    }
    let _lock = lock(store)?;
    let existing = list(store)?;
    let has = |name: &str| existing.iter().any(|n| n.name == name);
    for (name, driver) in [(HOST_NETWORK, "host"), (NONE_NETWORK, "null")] {
        if !has(name) {
            write(store, &new_record(name, driver)?)?;
        }
    }
    if !has(DEFAULT_NETWORK) {
        let config = config::load(store.root())?;
        let mut network = new_record(DEFAULT_NETWORK, "bridge")?;
        network.bridge = config.bridge;
        // Held until the bridge makes the subnet a route other roots see.
        let (subnet, _host) = match config.subnet {
            Some(s) => (s, None),
            None => choose_subnet(store, DEFAULT_NETWORK)?,
        };
        let gateway = first_host(&subnet)?;
        make_bridge(store, &network.bridge, None, subnet, gateway)?;
        network.subnet = Some(subnet);
        network.gateway = Some(gateway);
        write(store, &network)?;
    }
    Ok(())
}

fn new_record(name: &str, driver: &str) -> Result<Network, NetworkError> {
    Ok(Network {
        id: new_id().map_err(|e| NetworkError::io(std::path::Path::new("/dev/urandom"), e))?,
        name: name.to_string(),
        driver: driver.to_string(),
        created: now_rfc3339(),
        subnet: None,
        gateway: None,
        ip_range: None,
        bridge: String::new(),
        labels: BTreeMap::new(),
        internal: false,
    })
}

fn first_host(subnet: &Subnet) -> Result<Ipv4Addr, NetworkError> {
    subnet.hosts().next().ok_or_else(|| {
        NetworkError::Invalid(format!(
            "subnet {subnet} is too small for a gateway and containers"
        ))
    })
}

fn make_bridge(
    store: &Store,
    name: &str,
    alias: Option<&str>,
    subnet: Subnet,
    gateway: Ipv4Addr,
) -> Result<(), NetworkError> {
    let netlink = Netlink::new()?;
    let handle = netlink.connect()?;
    let (_, fresh) = netlink.run(link::ensure_bridge(
        &handle,
        name,
        || alias.map(String::from),
        gateway,
        subnet.prefix(),
    ))?;
    if fresh {
        super::firewall::setup_network(store, name, &subnet.to_string())?;
    }
    Ok(())
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Subnet>,
    pub labels: BTreeMap<String, String>,
    pub internal: bool,
}

pub fn create(store: &Store, req: CreateRequest) -> Result<Network, NetworkError> {
    if req.driver != "bridge" {
        return Err(NetworkError::Invalid(format!(
            "plugin \"{}\" not found: berth supports the bridge driver",
            req.driver
        )));
    }
    if !crate::runtime::container::names::valid_name(&req.name) {
        return Err(NetworkError::InvalidName { name: req.name });
    }
    ensure_defaults(store)?;
    let _lock = lock(store)?;
    let existing = list(store)?;
    if PREDEFINED.contains(&req.name.as_str()) || existing.iter().any(|n| n.name == req.name) {
        return Err(NetworkError::NameInUse { name: req.name });
    }
    sweep_orphans(store)?;
    let (subnet, _host) = match req.subnet {
        Some(s) => {
            if existing
                .iter()
                .filter_map(|n| n.subnet)
                .any(|o| o.overlaps(&s))
            {
                return Err(NetworkError::Overlaps);
            }
            (s, None)
        }
        None => choose_subnet(store, &req.name)?,
    };
    let gateway = gateway_for(&subnet, req.gateway)?;
    if let Some(range) = req.ip_range
        && !subnet.covers(&range)
    {
        return Err(NetworkError::Invalid(format!(
            "invalid --ip-range {range}: it is not inside the subnet {subnet}"
        )));
    }
    let mut network = new_record(&req.name, "bridge")?;
    network.bridge = format!("br-{}", network.short_id());
    network.subnet = Some(subnet);
    network.gateway = Some(gateway);
    network.ip_range = req.ip_range;
    network.labels = req.labels;
    network.internal = req.internal;
    // The record first: a create killed at any point leaves no bridge that
    // no record names (a start makes a recorded bridge that is missing).
    write(store, &network)?;
    let alias = owner_alias(store, &network);
    if let Err(e) = make_bridge(store, &network.bridge, alias.as_deref(), subnet, gateway) {
        let _ = delete_bridge(&network.bridge);
        let _ = discard_record(store, &network.id);
        return Err(e);
    }
    network.event(store.root(), "create", &[]);
    Ok(network)
}

fn gateway_for(subnet: &Subnet, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr, NetworkError> {
    match wanted {
        None => first_host(subnet),
        Some(g) if subnet.contains(g) && g != subnet.network() && g != subnet.broadcast() => Ok(g),
        Some(g) => Err(NetworkError::Invalid(format!(
            "invalid --gateway {g}: it is not a host address of the subnet {subnet}"
        ))),
    }
}

pub fn delete_bridge(name: &str) -> Result<(), NetworkError> {
    let netlink = Netlink::new()?;
    let handle = netlink.connect()?;
    netlink.run(link::delete(&handle, name))
}

/// docker network rm: refused for the predefined networks and while a
/// running container is attached.
pub fn remove(store: &Store, network: &Network) -> Result<(), NetworkError> {
    if network.is_predefined() {
        return Err(NetworkError::Predefined {
            name: network.name.clone(),
        });
    }
    let _lock = lock(store)?;
    let active = super::ipam::live(store, network)?;
    if !active.is_empty() {
        let endpoints = active
            .iter()
            .map(|(_, lease)| {
                let name = super::container_name(store, &lease.container);
                format!(
                    "name:{name:?} id:{:?}",
                    &lease.container[..12.min(lease.container.len())]
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NetworkError::ActiveEndpoints {
            name: network.name.clone(),
            endpoints,
        });
    }
    if network.is_bridge() {
        super::firewall::teardown_network(store, &network.bridge)?;
        delete_bridge(&network.bridge)?;
    }
    discard_record(store, &network.id)?;
    network.event(store.root(), "destroy", &[]);
    Ok(())
}

fn discard_record(store: &Store, id: &str) -> Result<(), NetworkError> {
    let dir = network_dir(store, id);
    // Rename first: a crash half-way through the delete leaves no record.
    let doomed = store.networks_dir().join(format!(".removing-{id}"));
    std::fs::rename(&dir, &doomed).map_err(|e| NetworkError::io(&dir, e))?;
    std::fs::remove_dir_all(&doomed).map_err(|e| NetworkError::io(&doomed, e))
}

/// docker network prune: every user network no running container uses.
pub fn prune(store: &Store) -> Result<Vec<String>, NetworkError> {
    {
        let _lock = lock(store)?;
        sweep_orphans(store)?;
    }
    let mut removed = Vec::new();
    for network in list(store)? {
        if network.is_predefined() {
            continue;
        }
        match remove(store, &network) {
            Ok(()) => removed.push(network.name),
            Err(NetworkError::ActiveEndpoints { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The alias a network's bridge is made with. The predefined bridge may be
/// shared by several roots, so it has none.
pub fn owner_alias(store: &Store, network: &Network) -> Option<String> {
    (!network.is_predefined()).then(|| root_alias(store.root()))
}

fn root_alias(root: &Path) -> String {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    format!("{ALIAS_PREFIX}{}", root.display())
}

/// A bridge berth made that no network record names: its maker was killed
/// between making it and writing the record, or its root was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub bridge: String,
    /// The root that made it.
    pub root: PathBuf,
    /// That root is gone from this host.
    pub root_gone: bool,
}

/// This root's bridges that none of its networks names, and bridges of roots
/// that no longer exist. Only meaningful under [`lock`]: a create holds it
/// from making its bridge until its record is written.
pub fn orphan_bridges(store: &Store) -> Result<Vec<Orphan>, NetworkError> {
    let netlink = Netlink::new()?;
    let handle = netlink.connect()?;
    let aliased = netlink.run(link::aliased_bridges(&handle, ALIAS_PREFIX))?;
    if aliased.is_empty() {
        return Ok(Vec::new());
    }
    let own = root_alias(store.root());
    let recorded: BTreeSet<String> = list(store)?.into_iter().map(|n| n.bridge).collect();
    let mut orphans = Vec::new();
    for (bridge, alias) in aliased {
        let root = PathBuf::from(&alias[ALIAS_PREFIX.len()..]);
        if alias == own && !recorded.contains(&bridge) {
            orphans.push(Orphan {
                bridge,
                root,
                root_gone: false,
            });
        } else if alias != own && !root.exists() {
            orphans.push(Orphan {
                bridge,
                root,
                root_gone: true,
            });
        }
    }
    Ok(orphans)
}

/// Deletes an orphan bridge and its firewall rules.
pub fn remove_orphan(store: &Store, orphan: &Orphan) -> Result<(), NetworkError> {
    if orphan.root_gone {
        super::firewall::teardown_network_unlocked(&orphan.root, &orphan.bridge)?;
    } else {
        super::firewall::teardown_network(store, &orphan.bridge)?;
    }
    delete_bridge(&orphan.bridge)
}

/// Removes this root's orphan bridges (not other roots'); the caller holds
/// [`lock`].
fn sweep_orphans(store: &Store) -> Result<(), NetworkError> {
    for orphan in orphan_bridges(store)? {
        if !orphan.root_gone {
            remove_orphan(store, &orphan)?;
        }
    }
    Ok(())
}

type HostLock = nix::fcntl::Flock<std::fs::File>;

/// The first pool /24 that overlaps no route or address of this host and no
/// network of this root. Every berth root chooses under one host-wide lock;
/// the caller keeps it until the choice is a route (its bridge has the
/// address), so two roots never pick the same subnet.
fn choose_subnet(store: &Store, name: &str) -> Result<(Subnet, Option<HostLock>), NetworkError> {
    let host = host_lock()?;
    let netlink = Netlink::new()?;
    let handle = netlink.connect()?;
    let mut used = netlink.run(link::used_subnets(&handle))?;
    used.extend(list(store)?.iter().filter_map(|n| n.subnet));
    let subnet = pick(&used).ok_or_else(|| NetworkError::NoFreeSubnet {
        name: name.to_string(),
    })?;
    Ok((subnet, Some(host)))
}

fn pick(used: &[Subnet]) -> Option<Subnet> {
    (POOL_FIRST..=POOL_LAST)
        .step_by(256)
        .filter_map(|n| Subnet::new(Ipv4Addr::from(n), 24))
        .find(|candidate| !used.iter().any(|u| u.overlaps(candidate)))
}

/// Serializes subnet choices of every berth root on this host.
fn host_lock() -> Result<HostLock, NetworkError> {
    let path = std::path::Path::new("/run/berth-subnets.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| NetworkError::io(path, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| NetworkError::sys("locking /run/berth-subnets.lock", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_skips_used_ranges() {
        let first = pick(&[]).unwrap();
        assert_eq!(first.to_string(), "10.200.0.0/24");
        let used = [
            Subnet::parse("10.200.0.0/23").unwrap(),
            Subnet::parse("10.200.2.0/24").unwrap(),
        ];
        assert_eq!(pick(&used).unwrap().to_string(), "10.200.3.0/24");
        assert!(pick(&[Subnet::parse("10.0.0.0/8").unwrap()]).is_none());
    }

    #[test]
    fn gateways_must_be_host_addresses() {
        let s = Subnet::parse("10.5.0.0/24").unwrap();
        assert_eq!(gateway_for(&s, None).unwrap(), Ipv4Addr::new(10, 5, 0, 1));
        assert_eq!(
            gateway_for(&s, Some(Ipv4Addr::new(10, 5, 0, 254))).unwrap(),
            Ipv4Addr::new(10, 5, 0, 254)
        );
        assert!(gateway_for(&s, Some(Ipv4Addr::new(10, 5, 0, 255))).is_err());
        assert!(gateway_for(&s, Some(Ipv4Addr::new(10, 6, 0, 1))).is_err());
    }

    #[test]
    fn records_resolve_by_name_and_id_prefix() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let mut a = new_record("alpha", "bridge")?;
        a.id = format!("abc{}", "0".repeat(61));
        let mut b = new_record("beta", "bridge")?;
        b.id = format!("abd{}", "0".repeat(61));
        write(&store, &a)?;
        write(&store, &b)?;
        assert_eq!(resolve(&store, "alpha")?.id, a.id);
        assert_eq!(resolve(&store, "abd")?.name, "beta");
        assert!(matches!(
            resolve(&store, "ab"),
            Err(NetworkError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(
            resolve(&store, "gamma"),
            Err(NetworkError::NotFound { .. })
        ));
        let names: Vec<String> = list(&store)?.into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["alpha", "beta"]);
        Ok(())
    }
}
