//! Container networking: bridge networks (the default `bridge` and
//! user-defined ones), IP address management, per-container network
//! namespaces with veth pairs, name resolution through `/etc/hosts`, and
//! published ports with the firewall rules behind them.
//!
//! A container on bridge networks gets a network namespace pinned at
//! `containers/<id>/netns` before its init is cloned; berth configures it from
//! the host side (veth pairs into the bridges, addresses, routes) and the
//! init `setns`es into it. Every exit tears it down again: host veths taken
//! down, namespace unpinned (the kernel then deletes the veth pairs with it,
//! off the container's exit path), addresses released.

pub mod config;
pub mod endpoint;
pub mod error;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod ports;
pub mod store;
pub mod subnet;

use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use endpoint::{Endpoint, Live, Mode};
pub use error::NetworkError;
use ipam::Owner;
use link::{Netlink, VethPlan};
pub use store::Network;

use crate::runtime::container::lifecycle::{self, Container, process_start};
use crate::runtime::container::record::{self, ContainerRecord, Status, container_dir};
use crate::runtime::store::Store;

const IP_NEEDS_USER_NETWORK: &str =
    "user specified IP address is supported on user defined networks only";
const ALIAS_NEEDS_USER_NETWORK: &str =
    "network-scoped alias is supported only for containers in user defined networks";

/// A container's network for one run of it. Dropping it tears down what
/// [`start`] set up, so every way out of a start (or the end of the run)
/// releases the namespace, the veths and the addresses.
pub struct Attached<'a> {
    store: &'a Store,
    record: &'a ContainerRecord,
    /// The namespace the init joins (instead of making a new one).
    pub netns: Option<OwnedFd>,
    /// Its pinned path, for the OCI spec.
    pub netns_path: Option<PathBuf>,
    /// Not the host's namespace: the container gets its own sysfs, hosts, ...
    pub own_netns: bool,
    /// The hosts file is already written (it lists the container's peers).
    pub hosts_written: bool,
    /// `container:X`: X's hosts, hostname and resolv.conf, and X's hostname.
    pub shared_files: Option<Vec<(PathBuf, String)>>,
    pub hostname: Option<String>,
    owns_teardown: bool,
}

impl<'a> Attached<'a> {
    fn plain(store: &'a Store, record: &'a ContainerRecord, own_netns: bool) -> Attached<'a> {
        Attached {
            store,
            record,
            netns: None,
            netns_path: None,
            own_netns,
            hosts_written: false,
            shared_files: None,
            hostname: None,
            owns_teardown: false,
        }
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        if !self.owns_teardown {
            return;
        }
        // The namespace must not outlive the fd on it by much; close first.
        self.netns = None;
        if let Err(e) = stop(self.store, self.record) {
            tracing::warn!(id = %self.record.id, "network teardown: {e}");
        }
    }
}

/// Sets up the container's network for a start, as `--network` (and later
/// connects) asked.
pub fn start<'a>(
    store: &'a Store,
    record: &'a ContainerRecord,
) -> Result<Attached<'a>, NetworkError> {
    match Mode::parse(&record.config.network_mode) {
        Mode::None => Ok(Attached::plain(store, record, true)),
        Mode::Host => Ok(Attached::plain(store, record, false)),
        Mode::Container(target) => join(store, record, &target),
        Mode::Bridge(_) => attach(store, record),
    }
}

/// `container:X`: X's namespace (X must be running) and X's /etc files.
fn join<'a>(
    store: &'a Store,
    record: &'a ContainerRecord,
    target: &str,
) -> Result<Attached<'a>, NetworkError> {
    let other = lifecycle::find(store, target)?;
    if !matches!(other.state.status, Status::Running | Status::Paused) {
        return Err(NetworkError::JoinNotRunning {
            name: target.to_string(),
        });
    }
    let pid = other.state.pid;
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let fd = netns::open(&path)?;
    // Opened first, checked second: the fd is X's even if X exits now.
    if process_start(pid) != other.state.pid_start {
        return Err(NetworkError::JoinNotRunning {
            name: target.to_string(),
        });
    }
    let owner = files_owner(store, &other)?;
    let dir = container_dir(store.root(), &owner.record.id);
    let mut attached = Attached::plain(
        store,
        record,
        Mode::parse(&owner.record.config.network_mode) != Mode::Host,
    );
    attached.netns = Some(fd);
    attached.netns_path = Some(path);
    attached.shared_files = Some(vec![
        (dir.join("hosts"), "/etc/hosts".to_string()),
        (dir.join("hostname"), "/etc/hostname".to_string()),
        (dir.join("resolv.conf"), "/etc/resolv.conf".to_string()),
    ]);
    attached.hostname = Some(owner.record.config.hostname.clone());
    Ok(attached)
}

/// The container whose /etc files a `container:` chain ends at.
fn files_owner(store: &Store, start: &Container) -> Result<Container, NetworkError> {
    let mut current = start.clone();
    for _ in 0..8 {
        match Mode::parse(&current.record.config.network_mode) {
            Mode::Container(next) => current = lifecycle::find(store, &next)?,
            _ => return Ok(current),
        }
    }
    Ok(current)
}

/// Bridge networks: a pinned namespace with one veth per attachment.
fn attach<'a>(store: &'a Store, record: &'a ContainerRecord) -> Result<Attached<'a>, NetworkError> {
    if Mode::parse(&record.config.network_mode) == Mode::Bridge(store::DEFAULT_NETWORK.into()) {
        store::ensure_defaults(store)?;
    }
    let lock = store::lock(store)?;
    let mut endpoints = endpoint::load_or_init(store, record)?;
    let path = endpoint::netns_path(store, &record.id);
    let netlink = Netlink::new()?;
    let host = netlink.connect()?;
    let ns = netns::create(&path)?;
    let plugged = plug_all(store, record, &netlink, &host, &ns, &mut endpoints);
    if let Err(e) = plugged {
        if let Err(undo) = teardown(store, record, &netlink, &host, endpoints) {
            tracing::warn!(id = %record.id, "undoing a failed network setup: {undo}");
        }
        return Err(e);
    }
    drop(lock);
    for ep in &endpoints {
        connect_event(store, record, ep, "connect");
    }
    let mut attached = Attached::plain(store, record, true);
    attached.netns = Some(ns);
    attached.netns_path = Some(path);
    attached.hosts_written = true;
    attached.owns_teardown = true;
    Ok(attached)
}

fn plug_all(
    store: &Store,
    record: &ContainerRecord,
    netlink: &Netlink,
    host: &rtnetlink::Handle,
    ns: &OwnedFd,
    endpoints: &mut [Endpoint],
) -> Result<(), NetworkError> {
    let inner = netns::enter(ns, || netlink.connect())?;
    netlink.run(link::loopback_up(&inner))?;
    let owner = Owner::this_process();
    let wire = Wire {
        netlink,
        host,
        inner: &inner,
        ns,
    };
    for (n, ep) in endpoints.iter_mut().enumerate() {
        ep.live = Some(plug(store, record, &wire, ep, n, n == 0, owner)?);
    }
    endpoint::write(store, &record.id, endpoints)?;
    hosts::refresh(store, record, endpoints)?;
    hosts::refresh_peers(store, &network_ids(endpoints), &record.id)?;
    Ok(())
}

/// The connections and namespace one attachment is made with.
struct Wire<'a> {
    netlink: &'a Netlink,
    host: &'a rtnetlink::Handle,
    inner: &'a rtnetlink::Handle,
    ns: &'a OwnedFd,
}

/// One attachment: an address, a veth from the bridge to `eth<n>`, and the
/// default route through it when it is the primary one.
fn plug(
    store: &Store,
    record: &ContainerRecord,
    wire: &Wire<'_>,
    ep: &Endpoint,
    n: usize,
    primary: bool,
    owner: Owner,
) -> Result<Live, NetworkError> {
    let network = network_of(store, ep)?;
    if !network.is_bridge() {
        return Err(NetworkError::Invalid(format!(
            "network {} cannot be attached to: it is not a bridge network",
            network.name
        )));
    }
    let (subnet, gateway) = network.addressing()?;
    let (bridge_index, fresh) = wire.netlink.run(link::ensure_bridge(
        wire.host,
        &network.bridge,
        || self::store::owner_alias(store, &network),
        gateway,
        subnet.prefix(),
    ))?;
    if fresh {
        // New bridge or address (first use, or after a reboot): its rules too.
        firewall::setup_network(store, &network.bridge, &subnet.to_string())?;
    }
    let ip = ipam::allocate(
        store,
        &network,
        &record.id,
        owner,
        ep.requested_ip,
        &ep.aliases,
    )?;
    let live = Live {
        endpoint_id: crate::runtime::container::names::new_id()
            .map_err(|e| NetworkError::io(Path::new("/dev/urandom"), e))?,
        ip,
        prefix: subnet.prefix(),
        gateway,
        mac: endpoint::mac_text(endpoint::mac_for(ip)),
        veth: endpoint::veth_name(&record.id, n),
        iface: format!("eth{n}"),
    };
    if let Err(e) = wire_up(wire, &live, bridge_index, primary) {
        let _ = wire.netlink.run(link::delete(wire.host, &live.veth));
        let _ = ipam::release(store, &network, &record.id);
        return Err(e);
    }
    Ok(live)
}

/// The veth pair and the container side's address and route.
fn wire_up(
    wire: &Wire<'_>,
    live: &Live,
    bridge_index: u32,
    primary: bool,
) -> Result<(), NetworkError> {
    let plan = VethPlan {
        host: &live.veth,
        bridge_index,
        peer: &live.iface,
        peer_mac: endpoint::mac_for(live.ip),
        netns: std::os::fd::AsFd::as_fd(wire.ns),
    };
    wire.netlink.run(async {
        if link::create_veth(wire.host, &plan).await.is_err() {
            // A veth left by a crashed start has this name: replace it.
            link::delete(wire.host, &live.veth).await?;
            link::create_veth(wire.host, &plan).await?;
        }
        let gateway = primary.then_some(live.gateway);
        link::configure_inside(wire.inner, &live.iface, live.ip, live.prefix, gateway).await
    })
}

fn network_of(store: &Store, ep: &Endpoint) -> Result<Network, NetworkError> {
    store::get(store, &ep.network_id).map_err(|e| match e {
        NetworkError::NotFound { .. } => NetworkError::NotFound {
            name: if ep.network_name.is_empty() {
                ep.network_id.clone()
            } else {
                ep.network_name.clone()
            },
        },
        other => other,
    })
}

fn network_ids(endpoints: &[Endpoint]) -> Vec<String> {
    endpoints.iter().map(|e| e.network_id.clone()).collect()
}

/// Tears down the container's network after it stopped (or its monitor
/// died): host veths down, addresses released, namespace unpinned, peers'
/// hosts files updated. Idempotent, and cheap when there is nothing to do.
pub fn stop(store: &Store, record: &ContainerRecord) -> Result<(), NetworkError> {
    let path = endpoint::netns_path(store, &record.id);
    let endpoints = endpoint::read(store, &record.id)?;
    let live = endpoints.iter().flatten().any(|e| e.live.is_some());
    if !live && !path.exists() {
        return Ok(());
    }
    // A read-only verb (`ps`) that finds a dead monitor cleans up after it
    // all the same: the root exists, since the container is in it.
    let writable;
    let store = match store.is_readonly() {
        true => {
            writable = Store::open(store.root())?;
            &writable
        }
        false => store,
    };
    // The netlink runtime is made before the lock every start and stop takes,
    // so the stops of a whole stack queue for less.
    let netlink = Netlink::new()?;
    let host = netlink.connect()?;
    let _lock = store::lock(store)?;
    let endpoints = endpoint::read(store, &record.id)?.unwrap_or_default();
    let unplugged: Vec<Endpoint> = endpoints
        .iter()
        .filter(|e| e.live.is_some())
        .cloned()
        .collect();
    teardown(store, record, &netlink, &host, endpoints)?;
    for ep in &unplugged {
        connect_event(store, record, ep, "disconnect");
    }
    Ok(())
}

/// Undoes every attachment; carries on past failures and reports the first.
fn teardown(
    store: &Store,
    record: &ContainerRecord,
    netlink: &Netlink,
    host: &rtnetlink::Handle,
    mut endpoints: Vec<Endpoint>,
) -> Result<(), NetworkError> {
    let mut first_error = None;
    let mut note = |r: Result<(), NetworkError>| {
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    };
    for ep in &mut endpoints {
        if let Some(live) = ep.live.take() {
            note(netlink.run(link::set_down(host, &live.veth)));
        }
        if let Ok(network) = store::get(store, &ep.network_id) {
            note(ipam::release(store, &network, &record.id));
        }
    }
    if container_dir(store.root(), &record.id).is_dir() {
        note(endpoint::write(store, &record.id, &endpoints));
    }
    note(netns::remove(&endpoint::netns_path(store, &record.id)));
    note(hosts::refresh_peers(
        store,
        &network_ids(&endpoints),
        &record.id,
    ));
    first_error.map_or(Ok(()), Err)
}

/// docker network connect. A stopped container records the attachment for
/// its next start; a running one gets it at once (a new `ethN`).
pub fn connect(
    store: &Store,
    c: &Container,
    network: &Network,
    ip: Option<Ipv4Addr>,
    aliases: &[String],
) -> Result<(), NetworkError> {
    check_connectable(c, network)?;
    if !network.resolves_names() && ip.is_some() {
        return Err(NetworkError::Invalid(IP_NEEDS_USER_NETWORK.into()));
    }
    if !network.resolves_names() && !aliases.is_empty() {
        return Err(NetworkError::Invalid(ALIAS_NEEDS_USER_NETWORK.into()));
    }
    if let (Some(ip), Ok((subnet, _))) = (ip, network.addressing())
        && !subnet.contains(ip)
    {
        return Err(NetworkError::AddressOutside { ip: ip.to_string() });
    }
    store::ensure_defaults(store)?;
    let _lock = store::lock(store)?;
    let mut endpoints = endpoint::load_or_init(store, &c.record)?;
    if endpoints.iter().any(|e| e.network_id == network.id) {
        return Err(NetworkError::AlreadyConnected {
            container: c.record.name.clone(),
            network: network.name.clone(),
        });
    }
    let mut ep = Endpoint {
        network_id: network.id.clone(),
        network_name: network.name.clone(),
        aliases: aliases.to_vec(),
        requested_ip: ip,
        live: None,
    };
    let path = endpoint::netns_path(store, &c.record.id);
    let running = c.is_running() && path.exists();
    if running {
        let primary = !endpoints.iter().any(|e| e.live.is_some());
        ep.live = Some(plug_live(store, c, &path, &ep, primary)?);
    }
    endpoints.push(ep.clone());
    endpoint::write(store, &c.record.id, &endpoints)?;
    if running {
        hosts::refresh(store, &c.record, &endpoints)?;
        hosts::refresh_peers(store, std::slice::from_ref(&network.id), &c.record.id)?;
        connect_event(store, &c.record, &ep, "connect");
    }
    Ok(())
}

/// docker's rules: a container sharing another's namespace (or the host's),
/// or on `none`, joins no other network; host and none are joined by nobody.
fn check_connectable(c: &Container, network: &Network) -> Result<(), NetworkError> {
    let shared = "container sharing network namespace with another container or host cannot be connected to any other network";
    match Mode::parse(&c.record.config.network_mode) {
        Mode::Host | Mode::Container(_) => Err(NetworkError::Invalid(shared.into())),
        Mode::None => Err(NetworkError::Invalid(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
        )),
        Mode::Bridge(_) if network.driver == "host" => Err(NetworkError::Invalid(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        )),
        Mode::Bridge(_) if !network.is_bridge() => Err(NetworkError::Invalid(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
        )),
        Mode::Bridge(_) => Ok(()),
    }
}

/// A new interface in a running container's namespace, owned by its monitor.
fn plug_live(
    store: &Store,
    c: &Container,
    path: &Path,
    ep: &Endpoint,
    primary: bool,
) -> Result<Live, NetworkError> {
    let ns = netns::open(path)?;
    let netlink = Netlink::new()?;
    let host = netlink.connect()?;
    let inner = netns::enter(&ns, || netlink.connect())?;
    let names = netlink.run(link::link_names(&inner))?;
    let n = (0..)
        .find(|n| !names.iter().any(|name| *name == format!("eth{n}")))
        .unwrap_or(0);
    let owner = Owner {
        pid: c.state.monitor_pid,
        start: c.state.monitor_start,
    };
    let wire = Wire {
        netlink: &netlink,
        host: &host,
        inner: &inner,
        ns: &ns,
    };
    plug(store, &c.record, &wire, ep, n, primary, owner)
}

/// docker network disconnect: a running container loses the interface at once.
pub fn disconnect(
    store: &Store,
    c: &Container,
    network: &Network,
    force: bool,
) -> Result<(), NetworkError> {
    store::ensure_defaults(store)?;
    let _lock = store::lock(store)?;
    let mut endpoints = endpoint::load_or_init(store, &c.record)?;
    let Some(pos) = endpoints.iter().position(|e| e.network_id == network.id) else {
        return Err(NetworkError::NotConnected {
            container: c.record.name.clone(),
            network: network.name.clone(),
        });
    };
    let ep = endpoints.remove(pos);
    if let Some(live) = &ep.live {
        let netlink = Netlink::new()?;
        let host = netlink.connect()?;
        let deleted = netlink.run(link::delete(&host, &live.veth));
        if !force {
            deleted?;
        }
        ipam::release(store, network, &c.record.id)?;
    }
    endpoint::write(store, &c.record.id, &endpoints)?;
    if ep.live.is_some() {
        hosts::refresh(store, &c.record, &endpoints)?;
        hosts::refresh_peers(store, std::slice::from_ref(&network.id), &c.record.id)?;
        connect_event(store, &c.record, &ep, "disconnect");
    }
    Ok(())
}

/// The container's address on its primary network and that network's bridge
/// interface, while it runs (for publishing ports). None for `none`, `host`,
/// `container:` and stopped containers.
pub fn primary_address(
    store: &Store,
    container_id: &str,
) -> Result<Option<(Ipv4Addr, String)>, NetworkError> {
    let Some(endpoints) = endpoint::read(store, container_id)? else {
        return Ok(None);
    };
    let Some((ep, live)) = endpoints
        .iter()
        .find_map(|e| e.live.as_ref().map(|l| (e, l)))
    else {
        return Ok(None);
    };
    let network = store::get(store, &ep.network_id)?;
    Ok(Some((live.ip, network.bridge)))
}

/// A container's name for messages and hosts files, its short id if it has
/// no readable record.
pub fn container_name(store: &Store, id: &str) -> String {
    record::read_record(&container_dir(store.root(), id))
        .map(|r| r.name)
        .unwrap_or_else(|_| id[..id.len().min(12)].to_string())
}

fn connect_event(store: &Store, record: &ContainerRecord, ep: &Endpoint, action: &str) {
    if let Ok(network) = store::get(store, &ep.network_id) {
        network.event(store.root(), action, &[("container", record.id.clone())]);
    }
}

/// A docker `network` event (create, destroy, connect, disconnect).
fn record_event(root: &Path, network: &Network, action: &str, extra: &[(&str, String)]) {
    use crate::runtime::events::{Actor, Event, record};
    let now = chrono::Utc::now();
    let mut attributes: std::collections::BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    attributes.insert("name".into(), network.name.clone());
    attributes.insert("type".into(), network.driver.clone());
    let event = Event {
        status: action.into(),
        id: network.id.clone(),
        from: String::new(),
        kind: "network".into(),
        action: action.into(),
        actor: Actor {
            id: network.id.clone(),
            attributes,
        },
        scope: "local".into(),
        time: now.timestamp(),
        time_nano: now.timestamp_nanos_opt().unwrap_or(0),
    };
    record(root, &event);
}

/// What `create` checks of a container's network settings, with docker's
/// messages: the network exists, `--ip` and aliases only on user networks,
/// the address inside its subnet.
pub fn check_config(
    store: &Store,
    config: &crate::runtime::container::record::RunConfig,
) -> Result<(), NetworkError> {
    let ip = endpoint::parse_ip(config.ip.as_deref())?;
    let network = match Mode::parse(&config.network_mode) {
        Mode::Bridge(name) => {
            if name == store::DEFAULT_NETWORK {
                store::ensure_defaults(store)?;
            }
            Some(store::resolve(store, &name)?)
        }
        Mode::Container(target) => {
            lifecycle::find(store, &target)?;
            None
        }
        Mode::None | Mode::Host => None,
    };
    let user_network = network.as_ref().filter(|n| n.resolves_names());
    if ip.is_some() && user_network.is_none() {
        return Err(NetworkError::Invalid(IP_NEEDS_USER_NETWORK.into()));
    }
    if !config.network_aliases.is_empty() && user_network.is_none() {
        return Err(NetworkError::Invalid(ALIAS_NEEDS_USER_NETWORK.into()));
    }
    if let (Some(ip), Some(network)) = (ip, user_network) {
        let (subnet, _) = network.addressing()?;
        if !subnet.contains(ip) {
            return Err(NetworkError::AddressOutside { ip: ip.to_string() });
        }
    }
    Ok(())
}
