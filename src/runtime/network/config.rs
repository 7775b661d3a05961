//! Per-root settings in `<root>/berth.toml`:
//!
//! ```toml
//! [network]
//! bridge = "bt3a9c1"         # host interface of the default `bridge` network (default berth0)
//! subnet = "10.213.7.0/24"   # its subnet (default: the first free candidate at first use)
//! ```
//!
//! Two roots on one host (parallel tests, say) each name their own bridge
//! here, so they never share one.

use std::path::Path;

use serde::Deserialize;

use super::error::NetworkError;
use super::subnet::Subnet;

pub const FILE: &str = "berth.toml";
pub const DEFAULT_BRIDGE: &str = "berth0";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    network: NetworkSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    bridge: Option<String>,
    subnet: Option<String>,
}

/// The default bridge network's interface and (if fixed) subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    pub bridge: String,
    pub subnet: Option<Subnet>,
}

pub fn load(root: &Path) -> Result<BridgeConfig, NetworkError> {
    let path = root.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(NetworkError::io(&path, e)),
    };
    parse(&text).map_err(|message| NetworkError::Config { path, message })
}

fn parse(text: &str) -> Result<BridgeConfig, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let bridge = file
        .network
        .bridge
        .unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
    if !valid_interface_name(&bridge) {
        return Err(format!(
            "network.bridge {bridge:?}: an interface name is 1 to 15 characters, no '/', ':' or spaces"
        ));
    }
    let subnet = file.network.subnet.map(|s| Subnet::parse(&s)).transpose()?;
    Ok(BridgeConfig { bridge, subnet })
}

/// What the kernel accepts as an interface name (IFNAMSIZ - 1).
pub fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(
            parse("").unwrap(),
            BridgeConfig {
                bridge: DEFAULT_BRIDGE.into(),
                subnet: None
            }
        );
        let c = parse("[network]\nbridge = \"bt1\"\nsubnet = \"10.213.7.0/24\"\n").unwrap();
        assert_eq!(c.bridge, "bt1");
        assert_eq!(c.subnet.unwrap().to_string(), "10.213.7.0/24");
    }

    #[test]
    fn bad_values_are_named() {
        assert!(parse("[network]\nbridge = \"much-too-long-name\"\n").is_err());
        assert!(parse("[network]\nsubnet = \"10.0.0.1/24\"\n").is_err());
        assert!(parse("[network]\ncolour = \"red\"\n").is_err());
    }
}
