//! `port`, and the published ports as `ps` and `inspect` show them, in
//! docker's formats.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;
use serde_json::{Value, json};

use super::{CliError, print};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record::RunConfig;
use crate::runtime::network::ports::{ContainerPort, PublishedPort};
use crate::runtime::store::Store;

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container
    pub container: String,
    /// Only this port: PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub private_port: Option<String>,
}

/// docker's exit status for `port`'s own errors.
const EXIT_FAILED: i32 = 1;

pub fn port(args: &PortArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let c = match lifecycle::find(&store, &args.container) {
        Ok(c) => c,
        Err(_) => {
            eprintln!(
                "Error response from daemon: No such container: {}",
                args.container
            );
            return Ok(EXIT_FAILED);
        }
    };
    let published = live_ports(&c);
    let mut lines: Vec<String> = match &args.private_port {
        None => published
            .iter()
            .map(|p| format!("{} -> {}:{}", p.container(), p.host_ip, p.host_port))
            .collect(),
        Some(wanted) => {
            let (number, proto) = wanted.split_once('/').unwrap_or((wanted, "tcp"));
            if let Err(e) = super::publish::parse_u16(number) {
                eprintln!("Error: invalid port ({number}): {e}");
                return Ok(EXIT_FAILED);
            }
            let key = format!("{number}/{proto}");
            let lines: Vec<String> = published
                .iter()
                .filter(|p| p.container().to_string() == key)
                .map(|p| format!("{}:{}", p.host_ip, p.host_port))
                .collect();
            if lines.is_empty() {
                eprintln!(
                    "Error: No public port '{wanted}' published for {}",
                    args.container
                );
                return Ok(EXIT_FAILED);
            }
            lines
        }
    };
    lines.sort_by(|a, b| natural_cmp(a, b));
    if !lines.is_empty() {
        print(&format!("{}\n", lines.join("\n")))?;
    }
    Ok(0)
}

/// What is published now: nothing once the container stopped.
fn live_ports(c: &Container) -> &[PublishedPort] {
    match c.is_running() {
        true => &c.state.ports,
        false => &[],
    }
}

/// The PORTS column of `ps`: exposed ports alone (`80/tcp`), mappings
/// (`0.0.0.0:8080->80/tcp`); runs of ports published on the same number are
/// collapsed (`0.0.0.0:8000-8001->8000-8001/tcp`), as docker does.
pub fn ps_column(c: &Container) -> String {
    if !c.is_running() {
        return String::new();
    }
    // (ip, private, public, proto); unpublished exposed ports have no ip.
    let mut ports: Vec<(String, u16, u16, &str)> = c
        .state
        .ports
        .iter()
        .map(|p| {
            let ip = p.host_ip.to_string();
            (ip, p.container_port, p.host_port, p.proto.as_str())
        })
        .collect();
    for exposed in &c.record.config.exposed_ports {
        if !c.state.ports.iter().any(|p| p.container() == *exposed) {
            ports.push((String::new(), exposed.port, 0, exposed.proto.as_str()));
        }
    }
    ports.sort_by(|a, b| (a.1, &a.0, a.2, a.3).cmp(&(b.1, &b.0, b.2, b.3)));
    displayable(&ports)
}

fn displayable(ports: &[(String, u16, u16, &str)]) -> String {
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for (ip, private, public, proto) in ports {
        if !ip.is_empty() && public != private {
            mappings.push(format!("{ip}:{public}->{private}/{proto}"));
            continue;
        }
        let key = match ip.is_empty() {
            true => proto.to_string(),
            false => format!("{ip}/{proto}"),
        };
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(group) if group.2.checked_add(1) == Some(*private) => group.2 = *private,
            Some(group) => {
                result.push(form_group(&group.0, group.1, group.2));
                *group = (key, *private, *private);
            }
            None => groups.push((key, *private, *private)),
        }
    }
    result.extend(groups.iter().map(|g| form_group(&g.0, g.1, g.2)));
    result.extend(mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = key.rsplit_once('/').unwrap_or(("", key));
    let range = match first == last {
        true => first.to_string(),
        false => format!("{first}-{last}"),
    };
    match ip {
        "" => format!("{range}/{proto}"),
        ip => format!("{ip}:{range}->{range}/{proto}"),
    }
}

/// `HostConfig.PortBindings`: `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
pub fn port_bindings(config: &RunConfig) -> Value {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for b in &config.ports {
        let ip = b.host_ip.map(|ip| ip.to_string()).unwrap_or_default();
        map.entry(b.container().to_string())
            .or_default()
            .push(json!({"HostIp": ip, "HostPort": b.host_port_text()}));
    }
    json!(map)
}

/// `Config.ExposedPorts`: `{"80/tcp": {}}`.
pub fn exposed_ports(config: &RunConfig) -> Value {
    let map: BTreeMap<String, Value> = config
        .exposed_ports
        .iter()
        .map(|p| (p.to_string(), json!({})))
        .collect();
    json!(map)
}

/// `NetworkSettings.Ports` of a running container: every exposed port, with
/// its host bindings or null.
pub fn network_ports(c: &Container) -> Value {
    if !c.is_running() {
        return json!({});
    }
    let mut map: BTreeMap<String, Value> = c
        .record
        .config
        .exposed_ports
        .iter()
        .map(|p: &ContainerPort| (p.to_string(), Value::Null))
        .collect();
    for p in &c.state.ports {
        let entry = map
            .entry(p.container().to_string())
            .or_insert_with(|| json!([]));
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Value::Array(list) = entry {
            list.push(
                json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}),
            );
        }
    }
    json!(map)
}

/// Numbers inside the strings compare by value (`80/tcp` before `443/tcp`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    for (x, y) in ta.iter().zip(&tb) {
        let numeric = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
        let order = match numeric(x) && numeric(y) {
            true => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            false => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    ta.len().cmp(&tb.len())
}

/// Runs of digits and runs of everything else.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        ip: &str,
        private: u16,
        public: u16,
        proto: &'static str,
    ) -> (String, u16, u16, &'static str) {
        (ip.to_string(), private, public, proto)
    }

    #[test]
    fn ps_shows_dockers_column() {
        assert_eq!(
            displayable(&[row("0.0.0.0", 80, 8080, "tcp")]),
            "0.0.0.0:8080->80/tcp"
        );
        // Runs on the same number collapse; a run cut short is listed at once
        // (docker's order, checked against docker 28 with the same ports).
        let ports = [
            row("127.0.0.1", 81, 32768, "udp"),
            row("", 5000, 0, "tcp"),
            row("", 6000, 0, "udp"),
            row("", 6001, 0, "udp"),
            row("0.0.0.0", 7000, 7000, "tcp"),
            row("0.0.0.0", 7001, 7001, "tcp"),
            row("0.0.0.0", 7003, 7003, "tcp"),
        ];
        assert_eq!(
            displayable(&ports),
            "0.0.0.0:7000-7001->7000-7001/tcp, 5000/tcp, 6000-6001/udp, 0.0.0.0:7003->7003/tcp, 127.0.0.1:32768->81/udp"
        );
        assert_eq!(displayable(&[]), "");
    }

    #[test]
    fn natural_order() {
        let mut lines = vec![
            "443/tcp -> 0.0.0.0:1",
            "80/tcp -> 0.0.0.0:2",
            "80/tcp -> 0.0.0.0:10",
            "8080/udp -> x",
        ];
        lines.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            lines,
            [
                "80/tcp -> 0.0.0.0:2",
                "80/tcp -> 0.0.0.0:10",
                "443/tcp -> 0.0.0.0:1",
                "8080/udp -> x"
            ]
        );
    }
}
