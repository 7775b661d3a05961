//! Links, addresses and routes over rtnetlink; nothing here runs `ip`.
//!
//! rtnetlink is async. The monitor clones the container's init from a
//! single-threaded process, so the work runs on a tokio current-thread runtime
//! (no worker threads; the netlink sockets are plain fds on it), which is
//! dropped again before the clone. A connection talks to the network namespace
//! its socket was created in: [`Netlink::connect`] inside `netns::enter` gives
//! one for a container's namespace.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use futures::TryStreamExt;
use futures::future::{join, join3};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use super::error::NetworkError;
use super::subnet::Subnet;

/// A current-thread runtime for netlink requests.
pub struct Netlink {
    rt: tokio::runtime::Runtime,
}

impl Netlink {
    pub fn new() -> Result<Netlink, NetworkError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| NetworkError::netlink("starting the netlink runtime", e))?;
        Ok(Netlink { rt })
    }

    /// A connection to the network namespace this thread is in now.
    pub fn connect(&self) -> Result<Handle, NetworkError> {
        let _context = self.rt.enter();
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| NetworkError::netlink("opening a netlink socket", e))?;
        self.rt.spawn(connection);
        Ok(handle)
    }

    pub fn run<T>(&self, work: impl Future<Output = T>) -> T {
        self.rt.block_on(work)
    }
}

/// The errno of a failed request, if the kernel sent one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn failed(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetworkError {
    let what = what.into();
    move |e| match e {
        rtnetlink::Error::NetlinkError(m) => NetworkError::netlink(what, m.to_io()),
        other => NetworkError::netlink(what, other),
    }
}

/// The link called `name`: its index and whether it is up.
pub async fn find(handle: &Handle, name: &str) -> Result<Option<(u32, bool)>, NetworkError> {
    let mut links = handle.link().get().match_name(name).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(Some((
            link.header.index,
            link.header.flags.contains(LinkFlags::Up),
        ))),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(failed(format!("looking up {name}"))(e)),
    }
}

async fn index(handle: &Handle, name: &str) -> Result<u32, NetworkError> {
    find(handle, name)
        .await?
        .map(|(index, _)| index)
        .ok_or_else(|| NetworkError::netlink(format!("looking up {name}"), "no such interface"))
}

/// Makes sure the bridge `name` exists, is up and carries `gateway`; returns
/// its index, and whether the address was new (the bridge or this root's
/// network on it is fresh, so its firewall rules must be set up). Several
/// roots may share a bridge (each with its own subnet), so an existing bridge
/// only gains the address.
/// A bridge it has to create gets the alias `alias()` gives (see
/// [`aliased_bridges`]); asked only then, so a start on an existing bridge
/// does no more work.
pub async fn ensure_bridge(
    handle: &Handle,
    name: &str,
    alias: impl FnOnce() -> Option<String>,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<(u32, bool), NetworkError> {
    let index = match find(handle, name).await? {
        Some((index, up)) => {
            if !up {
                set_up(handle, index, name).await?;
            }
            index
        }
        None => create_bridge(handle, name, alias().as_deref()).await?,
    };
    let fresh = add_address(handle, index, name, gateway, prefix).await?;
    Ok((index, fresh))
}

async fn create_bridge(
    handle: &Handle,
    name: &str,
    alias: Option<&str>,
) -> Result<u32, NetworkError> {
    // Created down: it comes up only once it can have no link-local address.
    let message = LinkMessageBuilder::<LinkBridge>::new(name).build();
    match handle.link().add(message).execute().await {
        Ok(()) => disable_link_local(handle, name).await?,
        // Another berth created it meanwhile.
        Err(e) if errno(&e) == Some(libc::EEXIST) => {}
        Err(e) => return Err(failed(format!("creating the bridge {name}"))(e)),
    }
    let index = index(handle, name).await?;
    // The kernel takes an alias only on an existing link.
    let mut change = LinkUnspec::new_with_index(index);
    if let Some(alias) = alias {
        change = change.alias(alias);
    }
    bring_up(handle, change, name).await?;
    Ok(index)
}

async fn set_up(handle: &Handle, index: u32, name: &str) -> Result<(), NetworkError> {
    bring_up(handle, LinkUnspec::new_with_index(index), name).await
}

async fn set_up_by_name(handle: &Handle, name: &str) -> Result<(), NetworkError> {
    bring_up(handle, LinkUnspec::new_with_name(name), name).await
}

async fn bring_up(
    handle: &Handle,
    link: LinkMessageBuilder<LinkUnspec>,
    name: &str,
) -> Result<(), NetworkError> {
    handle
        .link()
        .change(link.up().build())
        .execute()
        .await
        .map_err(failed(format!("bringing up {name}")))
}

/// Adds `addr/prefix` to a link; an address it already has is fine.
async fn add_address(
    handle: &Handle,
    index: u32,
    name: &str,
    addr: Ipv4Addr,
    prefix: u8,
) -> Result<bool, NetworkError> {
    match handle
        .address()
        .add(index, IpAddr::V4(addr), prefix)
        .execute()
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(failed(format!("adding {addr}/{prefix} to {name}"))(e)),
    }
}

/// Every link whose alias starts with `prefix`: (name, alias). Bridges carry
/// the root that made them in their alias, so one whose maker died before
/// recording it can still be found and removed.
pub async fn aliased_bridges(
    handle: &Handle,
    prefix: &str,
) -> Result<Vec<(String, String)>, NetworkError> {
    let mut links = handle.link().get().execute();
    let mut found = Vec::new();
    while let Some(link) = links
        .try_next()
        .await
        .map_err(failed("listing the links"))?
    {
        let mut name = None;
        let mut alias = None;
        for attr in link.attributes {
            match attr {
                LinkAttribute::IfName(n) => name = Some(n),
                LinkAttribute::IfAlias(a) if a.starts_with(prefix) => alias = Some(a),
                _ => {}
            }
        }
        if let (Some(name), Some(alias)) = (name, alias) {
            found.push((name, alias));
        }
    }
    Ok(found)
}

/// Takes the link `name` down (it stops forwarding at once); a missing link
/// is not an error. Much cheaper than deleting it: an unregistration waits
/// for RCU grace periods under the global rtnl lock.
pub async fn set_down(handle: &Handle, name: &str) -> Result<(), NetworkError> {
    let message = LinkUnspec::new_with_name(name).down().build();
    match handle.link().change(message).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(failed(format!("taking {name} down"))(e)),
    }
}

/// Deletes the link `name`; a missing link is not an error.
pub async fn delete(handle: &Handle, name: &str) -> Result<(), NetworkError> {
    let Some((index, _)) = find(handle, name).await? else {
        return Ok(());
    };
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(failed(format!("deleting {name}"))(e)),
    }
}

/// No IPv6 link-local address on `name`, hence no duplicate address
/// detection to wait for or race with: berth's networks are IPv4. The kernel
/// takes this only on an existing link, and it must come before the link
/// gets a carrier.
async fn disable_link_local(handle: &Handle, name: &str) -> Result<(), NetworkError> {
    let spec =
        LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
            In6AddrGenMode::None,
        )])]);
    let message = LinkUnspec::new_with_name(name)
        .append_extra_attribute(spec)
        .build();
    handle
        .link()
        .change(message)
        .execute()
        .await
        .map_err(failed(format!("configuring {name}")))
}

/// One end of a container's link.
pub struct VethPlan<'a> {
    /// Host side, enslaved to the bridge and up.
    pub host: &'a str,
    pub bridge_index: u32,
    /// Container side, created directly inside the namespace `netns`.
    pub peer: &'a str,
    pub peer_mac: [u8; 6],
    pub netns: BorrowedFd<'a>,
}

/// Creates the veth pair in one request: the peer is born in the container's
/// namespace under its final name, so nothing needs moving or renaming.
pub async fn create_veth(handle: &Handle, plan: &VethPlan<'_>) -> Result<(), NetworkError> {
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(plan.peer)
        .address(plan.peer_mac.to_vec())
        .append_extra_attribute(LinkAttribute::NetNsFd(plan.netns.as_raw_fd()))
        .build();
    let message: LinkMessage = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(plan.host)
        .controller(plan.bridge_index)
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    // Both requests go out at once; the kernel takes them in order. The
    // pair has no carrier until the peer is up, so no address is made first.
    let create = handle.link().add(message).execute();
    let (created, quiet) = join(create, disable_link_local(handle, plan.host)).await;
    created.map_err(failed(format!("creating the veth pair {}", plan.host)))?;
    quiet
}

/// Inside the container: the interface's address, up, and for the primary
/// network a default route through the gateway.
pub async fn configure_inside(
    handle: &Handle,
    iface: &str,
    addr: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<(), NetworkError> {
    // Requests on one socket are handled in the order sent, so each group
    // costs one wait: link-local off before the link comes up, the address
    // before the route through it.
    let (quiet, index) = join(disable_link_local(handle, iface), index(handle, iface)).await;
    quiet?;
    let index = index?;
    let route = async {
        let Some(gateway) = gateway else {
            return Ok(());
        };
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build();
        handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(failed(format!("adding the default route via {gateway}")))
    };
    let (added, up, routed) = join3(
        add_address(handle, index, iface, addr, prefix),
        set_up_by_name(handle, iface),
        route,
    )
    .await;
    added.and(up).and(routed)
}

/// `lo` up in a new namespace.
pub async fn loopback_up(handle: &Handle) -> Result<(), NetworkError> {
    set_up_by_name(handle, "lo").await
}

/// Every IPv4 destination this host routes or owns (any table), except
/// default routes: a new subnet must overlap none of them.
pub async fn used_subnets(handle: &Handle) -> Result<Vec<Subnet>, NetworkError> {
    let mut out = Vec::new();
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut routes = handle.route().get(query).execute();
    while let Some(route) = routes.try_next().await.map_err(failed("listing routes"))? {
        let prefix = route.header.destination_prefix_length;
        let dest = route.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        });
        if let (Some(dest), true) = (dest, prefix > 0) {
            out.extend(Subnet::new(dest, prefix));
        }
    }
    let mut addresses = handle.address().get().execute();
    while let Some(addr) = addresses
        .try_next()
        .await
        .map_err(failed("listing addresses"))?
    {
        if addr.header.family != AddressFamily::Inet {
            continue;
        }
        for attr in &addr.attributes {
            if let AddressAttribute::Address(IpAddr::V4(ip)) = attr {
                out.extend(Subnet::new(*ip, addr.header.prefix_len));
            }
        }
    }
    Ok(out)
}

/// Names of this namespace's links, for picking the next free `ethN`.
pub async fn link_names(handle: &Handle) -> Result<Vec<String>, NetworkError> {
    let mut out = Vec::new();
    let mut links = handle.link().get().execute();
    while let Some(link) = links.try_next().await.map_err(failed("listing links"))? {
        for attr in link.attributes {
            if let LinkAttribute::IfName(name) = attr {
                out.push(name);
            }
        }
    }
    Ok(out)
}
