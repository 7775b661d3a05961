//! IPv4 subnets (`10.88.0.0/24`): parsing, membership, overlap and host
//! addresses. Small enough not to need a crate.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A network address and prefix length; the address has no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet containing `addr`, host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Subnet> {
        (prefix <= 32).then(|| Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    /// `a.b.c.d/n`; docker refuses host bits in a subnet, and so does this.
    pub fn parse(text: &str) -> Result<Subnet, String> {
        let bad = || format!("invalid subnet {text:?}: expected an IPv4 CIDR like 10.1.2.0/24");
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let subnet = Subnet::new(addr, prefix).ok_or_else(bad)?;
        if subnet.network != addr {
            return Err(format!(
                "invalid subnet {text}: it has host bits set (did you mean {subnet}?)"
            ));
        }
        Ok(subnet)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// Whether `other` lies wholly inside this subnet.
    pub fn covers(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    /// The `n`th address (0 is the network address itself).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.network) + n))
    }

    /// Addresses a host may use: all but the network and broadcast addresses
    /// (a /31 or /32 has no room for a gateway and a container).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 1;
        let last = u32::from(self.broadcast());
        (first..last).map(Ipv4Addr::from)
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let text = String::deserialize(d)?;
        Subnet::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let s = Subnet::parse("10.213.7.0/24").unwrap();
        assert_eq!(s.to_string(), "10.213.7.0/24");
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 213, 7, 255));
        assert_eq!(s.nth(1), Some(Ipv4Addr::new(10, 213, 7, 1)));
        assert_eq!(s.nth(256), None);
        assert!(
            Subnet::parse("10.213.7.1/24")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(Subnet::parse("10.213.7.0").is_err());
        assert!(Subnet::parse("10.213.7.0/33").is_err());
        assert!(Subnet::parse("nope/8").is_err());
    }

    #[test]
    fn membership_and_overlap() {
        let a = Subnet::parse("10.0.0.0/16").unwrap();
        let b = Subnet::parse("10.0.5.0/24").unwrap();
        let c = Subnet::parse("10.1.0.0/24").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(a.covers(&b) && !b.covers(&a));
        assert!(a.contains(Ipv4Addr::new(10, 0, 255, 1)));
        assert!(!a.contains(Ipv4Addr::new(10, 1, 0, 1)));
        let all = Subnet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn hosts_skip_network_and_broadcast() {
        let s = Subnet::parse("10.9.9.0/30").unwrap();
        let hosts: Vec<_> = s.hosts().collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(10, 9, 9, 1), Ipv4Addr::new(10, 9, 9, 2)]
        );
    }
}
