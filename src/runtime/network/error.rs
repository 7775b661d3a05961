//! Network errors; messages follow docker's where it has one.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: corrupt network record: {message}", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Store(String),
    #[error("{}: {message}", .path.display())]
    Config { path: PathBuf, message: String },
    #[error("network {name} not found")]
    NotFound { name: String },
    #[error("network {name} is ambiguous ({count} matches found based on ID prefix)")]
    Ambiguous { name: String, count: usize },
    #[error("network with name {name} already exists")]
    NameInUse { name: String },
    #[error("invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName { name: String },
    #[error("{name} is a pre-defined network and cannot be removed")]
    Predefined { name: String },
    #[error("error while removing network: network {name} has active endpoints ({endpoints})")]
    ActiveEndpoints { name: String, endpoints: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Firewall(#[from] super::firewall::FirewallError),
    #[error("Pool overlaps with other one on this address space")]
    Overlaps,
    #[error(
        "no free subnet for network {name}: every candidate overlaps a route of this host; choose one with --subnet"
    )]
    NoFreeSubnet { name: String },
    #[error("Address already in use: {ip} on network {network}")]
    AddressInUse { ip: String, network: String },
    #[error("Invalid address {ip}: It does not belong to any of this network's subnets")]
    AddressOutside { ip: String },
    #[error("no available IPv4 addresses on network {network}")]
    Exhausted { network: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("cannot join network of a non running container: {name}")]
    JoinNotRunning { name: String },
    #[error("netlink: {what}: {message}")]
    Netlink { what: String, message: String },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: nix::errno::Errno,
    },
}

impl NetworkError {
    pub fn io(path: &Path, source: std::io::Error) -> NetworkError {
        NetworkError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn sys(what: impl Into<String>, source: nix::errno::Errno) -> NetworkError {
        NetworkError::Sys {
            what: what.into(),
            source,
        }
    }

    pub fn netlink(what: impl Into<String>, e: impl std::fmt::Display) -> NetworkError {
        NetworkError::Netlink {
            what: what.into(),
            message: e.to_string(),
        }
    }
}

impl From<crate::runtime::store::StoreError> for NetworkError {
    fn from(e: crate::runtime::store::StoreError) -> NetworkError {
        NetworkError::Store(e.to_string())
    }
}

impl From<crate::runtime::container::ContainerError> for NetworkError {
    fn from(e: crate::runtime::container::ContainerError) -> NetworkError {
        NetworkError::Store(e.to_string())
    }
}
