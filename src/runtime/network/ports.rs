//! Published ports (`-p`): the bindings a container asks for, the host sockets
//! that reserve them while it runs, and the NAT rules that forward them.
//!
//! A reservation is a socket bound to `host_ip:host_port` that is never
//! listened on or read: it only holds the port, so host processes and other
//! containers get EADDRINUSE, and port 0 makes the kernel pick a free one. The
//! traffic itself never reaches these sockets: the DNAT rules of
//! [`super::firewall`] rewrite it first. Only IPv4 is forwarded; an IPv6 host
//! address is accepted in the record but refused at start.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::str::FromStr;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket};
use serde::{Deserialize, Serialize};

use super::firewall::{self, ContainerRules, FirewallError};
use crate::runtime::container::record::RunConfig;
use crate::runtime::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// docker's wording, so scripts that match on it keep working.
    #[error("Bind for {addr} failed: port is already allocated")]
    Allocated { addr: String },
    #[error("cannot reserve {addr}/{proto}: {source}")]
    Bind {
        addr: String,
        proto: Proto,
        source: Errno,
    },
    #[error("cannot publish {binding}: berth publishes tcp and udp ports only")]
    Unsupported { binding: String },
    #[error("cannot publish {binding}: berth publishes ports on IPv4 addresses only")]
    Ipv6 { binding: String },
    #[error(transparent)]
    Firewall(#[from] FirewallError),
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// `tcp`, `udp` or `sctp`, in any case (docker lowercases).
    pub fn parse(text: &str) -> Option<Proto> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port inside the container, written `80/tcp` as docker's `ExposedPorts`
/// keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerPort {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

impl FromStr for ContainerPort {
    type Err = String;

    /// `80` (tcp) or `80/udp`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("invalid port {text:?}"))?;
        let proto = Proto::parse(proto).ok_or_else(|| format!("invalid proto in {text:?}"))?;
        Ok(ContainerPort { port, proto })
    }
}

impl Serialize for ContainerPort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContainerPort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One `-p`: where on the host a container port is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// None: every local address (docker's empty `HostIp`).
    #[serde(default)]
    pub host_ip: Option<IpAddr>,
    /// 0: a free port the kernel picks.
    pub host_port: u16,
    /// The last port of a host range to pick one free port from
    /// (`8000-8010:80`); None for a single port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port_end: Option<u16>,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortBinding {
    pub fn container(&self) -> ContainerPort {
        ContainerPort {
            port: self.container_port,
            proto: self.proto,
        }
    }

    /// The host side as docker's `HostPort` shows it: empty, `8080` or `8000-8010`.
    pub fn host_port_text(&self) -> String {
        match (self.host_port, self.host_port_end) {
            (0, None) => String::new(),
            (p, Some(end)) if end != p => format!("{p}-{end}"),
            (p, _) => p.to_string(),
        }
    }

    fn ipv4(&self) -> Result<Ipv4Addr, PortError> {
        match self.host_ip {
            None => Ok(Ipv4Addr::UNSPECIFIED),
            Some(IpAddr::V4(ip)) => Ok(ip),
            Some(IpAddr::V6(_)) => Err(PortError::Ipv6 {
                binding: self.to_string(),
            }),
        }
    }
}

impl fmt::Display for PortBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host_port_text();
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:{host}:")?,
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:{host}:")?,
            None if host.is_empty() => {}
            None => write!(f, "{host}:")?,
        }
        write!(f, "{}", self.container())
    }
}

/// A port published for a running container (`NetworkSettings.Ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PublishedPort {
    pub fn container(&self) -> ContainerPort {
        ContainerPort {
            port: self.container_port,
            proto: self.proto,
        }
    }
}

/// Whether containers of this network mode get their ports published: docker
/// discards them for `host` (with a warning), `none` and `container:`.
pub fn mode_publishes(network_mode: &str) -> bool {
    !(matches!(network_mode, "none" | "host") || network_mode.starts_with("container:"))
}

/// Whether starts of this container publish any port.
pub fn publishes(config: &RunConfig) -> bool {
    mode_publishes(&config.network_mode) && !bindings(config).is_empty()
}

/// The bindings a start publishes: `-p`, plus with `-P` every exposed port not
/// bound yet, on a random host port.
pub fn bindings(config: &RunConfig) -> Vec<PortBinding> {
    let mut out = config.ports.clone();
    if config.publish_all {
        for exposed in &config.exposed_ports {
            if !out.iter().any(|b| b.container() == *exposed) {
                out.push(PortBinding {
                    host_ip: None,
                    host_port: 0,
                    host_port_end: None,
                    container_port: exposed.port,
                    proto: exposed.proto,
                });
            }
        }
    }
    out
}

/// Host ports held for one start of a container, and once the container has an
/// address, the rules that forward them to it. Dropping it closes the sockets;
/// [`Published::unpublish`] also removes the rules.
#[derive(Debug, Default)]
pub struct Published {
    sockets: Vec<OwnedFd>,
    ports: Vec<PublishedPort>,
    rules: Option<ContainerRules>,
}

impl Published {
    /// What is published, with the ports the kernel picked.
    pub fn ports(&self) -> &[PublishedPort] {
        &self.ports
    }

    /// Adds the NAT and forwarding rules to `container_ip` behind `bridge`.
    pub fn forward_to(
        &mut self,
        store: &Store,
        container_id: &str,
        container_ip: Ipv4Addr,
        bridge: &str,
    ) -> Result<(), PortError> {
        if self.ports.is_empty() || self.rules.is_some() {
            return Ok(());
        }
        let rules =
            firewall::add_container(store, container_id, container_ip, bridge, &self.ports)?;
        self.rules = Some(rules);
        Ok(())
    }

    /// Removes the rules, then frees the host ports.
    pub fn unpublish(mut self, store: &Store) -> Result<(), PortError> {
        if let Some(rules) = self.rules.take() {
            firewall::remove_container(store, &rules)?;
        }
        Ok(())
    }
}

/// Reserves every binding's host port; the first that cannot be had is an
/// error and nothing stays reserved.
pub fn reserve(bindings: &[PortBinding]) -> Result<Published, PortError> {
    let mut published = Published::default();
    for binding in bindings {
        let (fd, port) = reserve_one(binding)?;
        published.sockets.push(fd);
        published.ports.push(port);
    }
    Ok(published)
}

/// The reservation a start of this container needs (nothing for network modes
/// that publish no ports).
pub fn reserve_for(config: &RunConfig) -> Result<Published, PortError> {
    if !mode_publishes(&config.network_mode) {
        return Ok(Published::default());
    }
    reserve(&bindings(config))
}

/// Reserves the ports and forwards them to `container_ip` behind `bridge`: what
/// a start does once the container's network is up.
pub fn publish(
    store: &Store,
    container_id: &str,
    container_ip: Ipv4Addr,
    bridge: &str,
    bindings: &[PortBinding],
) -> Result<Published, PortError> {
    let mut published = reserve(bindings)?;
    published.forward_to(store, container_id, container_ip, bridge)?;
    Ok(published)
}

fn reserve_one(binding: &PortBinding) -> Result<(OwnedFd, PublishedPort), PortError> {
    let ip = binding.ipv4()?;
    let ty = match binding.proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
        Proto::Sctp => {
            return Err(PortError::Unsupported {
                binding: binding.to_string(),
            });
        }
    };
    let last = binding.host_port_end.unwrap_or(binding.host_port);
    let mut error = Errno::EADDRINUSE;
    for port in binding.host_port..=last.max(binding.host_port) {
        match bind_port(ip, port, ty) {
            Ok((fd, actual)) => {
                let published = PublishedPort {
                    host_ip: ip,
                    host_port: actual,
                    container_port: binding.container_port,
                    proto: binding.proto,
                };
                return Ok((fd, published));
            }
            // Another port of the range may still be free.
            Err(Errno::EADDRINUSE) => {}
            Err(e) => {
                error = e;
                break;
            }
        }
    }
    let addr = format!("{ip}:{}", binding.host_port_text());
    Err(match error {
        Errno::EADDRINUSE => PortError::Allocated { addr },
        source => PortError::Bind {
            addr,
            proto: binding.proto,
            source,
        },
    })
}

/// Binds without SO_REUSEADDR and without listening: the port is held, and no
/// other socket can bind it, listening or not.
fn bind_port(ip: Ipv4Addr, port: u16, ty: SockType) -> Result<(OwnedFd, u16), Errno> {
    let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(ip, port)),
    )?;
    let bound: SockaddrIn = getsockname(fd.as_raw_fd())?;
    Ok((fd, bound.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(host_port: u16, end: Option<u16>, container_port: u16) -> PortBinding {
        PortBinding {
            host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            host_port,
            host_port_end: end,
            container_port,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn container_ports_read_and_write_dockers_form() {
        assert_eq!(
            "80".parse::<ContainerPort>().map(|p| p.to_string()),
            Ok("80/tcp".into())
        );
        assert_eq!(
            "53/UDP".parse::<ContainerPort>().map(|p| p.to_string()),
            Ok("53/udp".into())
        );
        assert!("x/tcp".parse::<ContainerPort>().is_err());
        assert!("80/icmp".parse::<ContainerPort>().is_err());
    }

    #[test]
    fn bindings_print_like_the_flag() {
        assert_eq!(binding(8080, None, 80).to_string(), "127.0.0.1:8080:80/tcp");
        assert_eq!(binding(0, None, 80).to_string(), "127.0.0.1::80/tcp");
        assert_eq!(
            binding(8000, Some(8010), 80).to_string(),
            "127.0.0.1:8000-8010:80/tcp"
        );
    }

    #[test]
    fn publish_all_adds_the_unbound_exposed_ports() {
        let config = RunConfig {
            ports: vec![binding(8080, None, 80)],
            publish_all: true,
            exposed_ports: vec![
                ContainerPort {
                    port: 80,
                    proto: Proto::Tcp,
                },
                ContainerPort {
                    port: 53,
                    proto: Proto::Udp,
                },
            ],
            ..RunConfig::default()
        };
        let all = bindings(&config);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].to_string(), "53/udp");
    }

    #[test]
    fn a_reserved_port_is_refused_to_the_next_binder() {
        let first = match reserve(&[binding(0, None, 80)]) {
            Ok(p) => p,
            Err(e) => panic!("reserve: {e}"),
        };
        let port = first.ports()[0].host_port;
        assert_ne!(port, 0);
        let again = reserve(&[binding(port, None, 81)]);
        assert_eq!(
            again.map(|_| ()).map_err(|e| e.to_string()),
            Err(format!(
                "Bind for 127.0.0.1:{port} failed: port is already allocated"
            ))
        );
        // A range skips the taken port.
        let ranged = match reserve(&[binding(port, Some(port.saturating_add(20)), 82)]) {
            Ok(p) => p,
            Err(e) => panic!("reserve range: {e}"),
        };
        assert_ne!(ranged.ports()[0].host_port, port);
        drop(first);
        assert!(reserve(&[binding(port, None, 80)]).is_ok());
    }

    #[test]
    fn two_bindings_of_one_port_conflict() {
        let port = match reserve(&[binding(0, None, 80)]) {
            Ok(p) => p.ports()[0].host_port,
            Err(e) => panic!("reserve: {e}"),
        };
        let both = reserve(&[binding(port, None, 80), binding(port, None, 81)]);
        assert!(matches!(both, Err(PortError::Allocated { .. })));
        // Nothing of the failed reservation stays held.
        assert!(reserve(&[binding(port, None, 80)]).is_ok());
    }

    #[test]
    fn tcp_and_udp_are_separate() {
        let tcp = match reserve(&[binding(0, None, 80)]) {
            Ok(p) => p,
            Err(e) => panic!("reserve: {e}"),
        };
        let mut udp = binding(tcp.ports()[0].host_port, None, 80);
        udp.proto = Proto::Udp;
        assert!(reserve(&[udp]).is_ok());
    }

    #[test]
    fn ipv6_and_sctp_are_refused_clearly() {
        let mut v6 = binding(8080, None, 80);
        v6.host_ip = Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
        assert_eq!(
            reserve(&[v6]).map(|_| ()).map_err(|e| e.to_string()),
            Err(
                "cannot publish [::1]:8080:80/tcp: berth publishes ports on IPv4 addresses only"
                    .into()
            )
        );
        let mut sctp = binding(8080, None, 80);
        sctp.proto = Proto::Sctp;
        assert!(matches!(
            reserve(&[sctp]),
            Err(PortError::Unsupported { .. })
        ));
    }

    #[test]
    fn no_ports_for_host_and_none() {
        assert!(!mode_publishes("none"));
        assert!(!mode_publishes("host"));
        assert!(!mode_publishes("container:abc"));
        assert!(mode_publishes("bridge"));
        assert!(mode_publishes("mynet"));
    }
}
