//! `berth network`: create, ls, inspect, rm, prune, connect, disconnect, as
//! docker's verbs behave (output, filters, messages, exit codes).

use std::collections::BTreeMap;
use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::images::confirm;
use super::inspect::write_inspected;
use super::output::{go_json, templated_rows};
use super::{CliError, engine, print};
use crate::runtime::container::lifecycle;
use crate::runtime::network::endpoint;
use crate::runtime::network::store::{self as networks, BRIDGE_NAME_OPTION, CreateRequest};
use crate::runtime::network::subnet::Subnet;
use crate::runtime::network::{self, Network, NetworkError, ipam};
use crate::runtime::store::Store;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_parser = parse_subnet)]
    pub subnet: Option<Subnet>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_parser = parse_subnet)]
    pub ip_range: Option<Subnet>,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "LIST")]
    pub labels: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    pub name: String,
}

fn parse_subnet(text: &str) -> Result<Subnet, String> {
    Subnet::parse(text)
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge", "name=", "label=", "id=")
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output: table, json, or a Go template such as {{.Name}}
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using a Go-template field path, e.g. {{.IPAM.Config}}
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g. 172.30.100.104)
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "LIST")]
    pub aliases: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

pub fn network(cmd: &NetworkCommand, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    match cmd {
        NetworkCommand::Create(args) => create(args, &store),
        NetworkCommand::Ls(args) => ls(args, &store),
        NetworkCommand::Inspect(args) => inspect(args, &store),
        NetworkCommand::Rm(args) => rm(args, &store),
        NetworkCommand::Prune(args) => prune(args, &store),
        NetworkCommand::Connect(args) => connect(args, &store),
        NetworkCommand::Disconnect(args) => disconnect(args, &store),
    }
}

/// The user's mistakes are daemon errors (status 1, docker's wording); a
/// failing host (netlink, disk) is an engine error (125).
fn failure(e: NetworkError) -> Result<i32, CliError> {
    match e {
        NetworkError::Io { .. }
        | NetworkError::Corrupt { .. }
        | NetworkError::Store(_)
        | NetworkError::Config { .. }
        | NetworkError::Netlink { .. }
        | NetworkError::Sys { .. } => Err(engine(e)),
        user => {
            eprintln!("Error response from daemon: {user}");
            Ok(1)
        }
    }
}

fn create(args: &CreateArgs, store: &Store) -> Result<i32, CliError> {
    let request = CreateRequest {
        name: args.name.clone(),
        driver: args.driver.clone(),
        subnet: args.subnet,
        gateway: args.gateway,
        ip_range: args.ip_range,
        labels: labels(&args.labels),
        internal: args.internal,
    };
    if args.gateway.is_some() && args.subnet.is_none() {
        return failure(NetworkError::Invalid(
            "invalid --gateway: a gateway needs a --subnet".into(),
        ));
    }
    match networks::create(store, request) {
        Ok(network) => print(&format!("{}\n", network.id)).map(|()| 0),
        Err(e) => failure(e),
    }
}

fn labels(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// All networks, the predefined ones made at first use as docker has them.
fn all(store: &Store) -> Result<Vec<Network>, NetworkError> {
    networks::ensure_defaults(store)?;
    networks::list(store)
}

fn ls(args: &LsArgs, store: &Store) -> Result<i32, CliError> {
    let filters = match parse_filters(&args.filters) {
        Ok(f) => f,
        Err(message) => return failure(NetworkError::Invalid(message)),
    };
    let list = match all(store) {
        Ok(l) => l,
        Err(e) => return failure(e),
    };
    let shown: Vec<&Network> = list.iter().filter(|n| matches(n, &filters)).collect();
    let id = |n: &Network| match args.no_trunc {
        true => n.id.clone(),
        false => n.short_id().to_string(),
    };
    if args.quiet {
        return print(
            &shown
                .iter()
                .map(|n| format!("{}\n", id(n)))
                .collect::<String>(),
        )
        .map(|()| 0);
    }
    let rows: Vec<Value> = shown.iter().map(|n| row_json(n, &id(n))).collect();
    let text = match args.format.as_deref().map(str::trim) {
        None | Some("table") => templated_rows(&rows, TABLE, NETWORK_TITLES),
        Some("json") => Ok(rows
            .iter()
            .map(|r| format!("{}\n", go_json(&r.to_string())))
            .collect()),
        Some(template) => templated_rows(&rows, template, NETWORK_TITLES),
    }
    .map_err(CliError::Usage)?;
    print(&text)?;
    Ok(0)
}

const TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// docker's titles for `network ls --format 'table ...'` fields.
const NETWORK_TITLES: &[(&str, &str)] = &[("ID", "NETWORK ID"), ("CreatedAt", "CREATED AT")];

/// docker's `network ls --format json` object (every value a string).
fn row_json(n: &Network, id: &str) -> Value {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "CreatedAt": n.created,
        "Driver": n.driver,
        "ID": id,
        "IPv4": (n.subnet.is_some()).to_string(),
        "IPv6": "false",
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "Name": n.name,
        "Scope": "local",
    })
}

/// KEY=VALUE filters: values of one key are alternatives, keys all apply.
type Filters = BTreeMap<String, Vec<String>>;

fn parse_filters(items: &[String]) -> Result<Filters, String> {
    let mut out = Filters::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {item}"))?;
        if !matches!(key, "name" | "label" | "driver" | "id" | "type") {
            return Err(format!("invalid filter '{key}'"));
        }
        out.entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    Ok(out)
}

fn matches(n: &Network, filters: &Filters) -> bool {
    filters.iter().all(|(key, values)| {
        values.iter().any(|v| match key.as_str() {
            "name" => n.name.contains(v.as_str()),
            "id" => n.id.starts_with(v.as_str()),
            "driver" => n.driver == *v,
            "type" => (v == "builtin") == n.is_predefined(),
            _ => label_matches(&n.labels, v),
        })
    })
}

fn label_matches(labels: &BTreeMap<String, String>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(wanted),
    }
}

fn inspect(args: &InspectArgs, store: &Store) -> Result<i32, CliError> {
    if let Err(e) = networks::ensure_defaults(store) {
        return failure(e);
    }
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.networks {
        match networks::resolve(store, name) {
            Ok(n) => found.push(network_json(store, &n)),
            Err(_) => {
                eprintln!("Error: No such network: {name}");
                failed = true;
            }
        }
    }
    write_inspected(args.format.as_deref(), found)?;
    Ok(i32::from(failed))
}

/// docker's network inspect object.
pub fn network_json(store: &Store, n: &Network) -> Value {
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(subnet), Some(gateway)) => {
            let mut c = json!({"Subnet": subnet.to_string(), "Gateway": gateway.to_string()});
            if let Some(range) = n.ip_range {
                c["IPRange"] = json!(range.to_string());
            }
            vec![c]
        }
        _ => Vec::new(),
    };
    let mut options = serde_json::Map::new();
    if n.is_bridge() {
        options.insert(BRIDGE_NAME_OPTION.into(), json!(n.bridge));
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": n.subnet.is_some(),
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": attached_containers(store, n),
        "Options": options,
        "Labels": n.labels,
    })
}

/// The running containers on the network, by id, as docker lists them.
fn attached_containers(store: &Store, n: &Network) -> Value {
    let mut out = serde_json::Map::new();
    for (ip, lease) in ipam::live(store, n).unwrap_or_default() {
        let live = endpoint::read(store, &lease.container)
            .ok()
            .flatten()
            .and_then(|eps| eps.into_iter().find(|e| e.network_id == n.id))
            .and_then(|e| e.live);
        let (endpoint_id, mac, prefix) = live
            .map(|l| (l.endpoint_id, l.mac, l.prefix))
            .unwrap_or_default();
        out.insert(
            lease.container.clone(),
            json!({
                "Name": network::container_name(store, &lease.container),
                "EndpointID": endpoint_id,
                "MacAddress": mac,
                "IPv4Address": format!("{ip}/{prefix}"),
                "IPv6Address": "",
            }),
        );
    }
    Value::Object(out)
}

fn rm(args: &RmArgs, store: &Store) -> Result<i32, CliError> {
    let mut status = 0;
    for name in &args.networks {
        let result = networks::resolve(store, name).and_then(|n| networks::remove(store, &n));
        match result {
            Ok(()) => print(&format!("{name}\n"))?,
            Err(NetworkError::NotFound { .. }) if args.force => {}
            Err(e) => status = status.max(failure(e)?),
        }
    }
    Ok(status)
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

fn prune(args: &PruneArgs, store: &Store) -> Result<i32, CliError> {
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(0);
    }
    let removed = match networks::prune(store) {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    if !removed.is_empty() {
        let names: String = removed.iter().map(|n| format!("{n}\n")).collect();
        print(&format!("Deleted Networks:\n{names}"))?;
    }
    Ok(0)
}

fn connect(args: &ConnectArgs, store: &Store) -> Result<i32, CliError> {
    let result = networks::resolve(store, &args.network).and_then(|n| {
        let c = lifecycle::find(store, &args.container)?;
        network::connect(store, &c, &n, args.ip, &args.aliases)
    });
    match result {
        Ok(()) => Ok(0),
        Err(e) => failure(e),
    }
}

fn disconnect(args: &DisconnectArgs, store: &Store) -> Result<i32, CliError> {
    let result = networks::resolve(store, &args.network).and_then(|n| {
        let c = lifecycle::find(store, &args.container)?;
        network::disconnect(store, &c, &n, args.force)
    });
    match result {
        Ok(()) => Ok(0),
        Err(e) => failure(e),
    }
}

/// A container's `NetworkSettings` in docker's inspect shape: the legacy
/// top-level fields from its primary network, and `Networks` by name.
pub fn settings_json(store: &Store, c: &lifecycle::Container) -> Value {
    let endpoints = container_endpoints(store, c);
    let mut nets = serde_json::Map::new();
    for ep in &endpoints {
        let name = networks::get(store, &ep.network_id)
            .map(|n| n.name)
            .unwrap_or_else(|_| ep.network_name.clone());
        nets.insert(name, endpoint_json(c, ep));
    }
    let primary = endpoints.iter().find_map(|e| e.live.as_ref());
    let sandbox = match c.is_running() {
        true => endpoint::netns_path(store, &c.record.id).exists().then(|| {
            endpoint::netns_path(store, &c.record.id)
                .display()
                .to_string()
        }),
        false => None,
    };
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": sandbox.unwrap_or_default(),
        "Ports": {},
        "EndpointID": primary.map(|l| l.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": primary.map(|l| l.gateway.to_string()).unwrap_or_default(),
        "IPAddress": primary.map(|l| l.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": primary.map_or(0, |l| l.prefix),
        "MacAddress": primary.map(|l| l.mac.clone()).unwrap_or_default(),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPv6Gateway": "",
        "Networks": nets,
    })
}

/// Recorded attachments, or what `--network` will attach at the first start
/// (`none` and `host` show as networks, like docker; `container:` shows none).
fn container_endpoints(store: &Store, c: &lifecycle::Container) -> Vec<endpoint::Endpoint> {
    if let Ok(Some(eps)) = endpoint::read(store, &c.record.id) {
        return eps;
    }
    let name = match endpoint::Mode::parse(&c.record.config.network_mode) {
        endpoint::Mode::Bridge(name) => name,
        endpoint::Mode::None => networks::NONE_NETWORK.to_string(),
        endpoint::Mode::Host => networks::HOST_NETWORK.to_string(),
        endpoint::Mode::Container(_) => return Vec::new(),
    };
    let Ok(n) = networks::resolve(store, &name) else {
        return Vec::new();
    };
    vec![endpoint::Endpoint {
        network_id: n.id,
        network_name: n.name,
        aliases: c.record.config.network_aliases.clone(),
        requested_ip: endpoint::parse_ip(c.record.config.ip.as_deref())
            .ok()
            .flatten(),
        live: None,
    }]
}

fn endpoint_json(c: &lifecycle::Container, ep: &endpoint::Endpoint) -> Value {
    let live = ep.live.as_ref().filter(|_| c.is_running());
    let short = &c.record.id[..c.record.id.len().min(12)];
    let mut dns_names = vec![c.record.name.clone(), short.to_string()];
    dns_names.extend(ep.aliases.iter().cloned());
    json!({
        "IPAMConfig": ep.requested_ip.map(|ip| json!({"IPv4Address": ip.to_string()})),
        "Links": null,
        "Aliases": if ep.aliases.is_empty() { Value::Null } else { json!(ep.aliases) },
        "MacAddress": live.map(|l| l.mac.clone()).unwrap_or_default(),
        "DriverOpts": null,
        "NetworkID": ep.network_id,
        "EndpointID": live.map(|l| l.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": live.map(|l| l.gateway.to_string()).unwrap_or_default(),
        "IPAddress": live.map(|l| l.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": live.map_or(0, |l| l.prefix),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": dns_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, driver: &str, labels: &[(&str, &str)]) -> Network {
        Network {
            id: format!("{name}0123456789abcdef"),
            name: name.into(),
            driver: driver.into(),
            created: String::new(),
            subnet: None,
            gateway: None,
            ip_range: None,
            bridge: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            internal: false,
        }
    }

    #[test]
    fn filters_match_like_docker() {
        let f = |items: &[&str]| {
            parse_filters(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        let front = net("frontend", "bridge", &[("tier", "web")]);
        let host = net("host", "host", &[]);
        assert!(matches(&front, &f(&["name=front"])));
        assert!(!matches(&host, &f(&["name=front"])));
        assert!(matches(&front, &f(&["label=tier"])));
        assert!(matches(&front, &f(&["label=tier=web"])));
        assert!(!matches(&front, &f(&["label=tier=db"])));
        assert!(matches(&host, &f(&["driver=host", "driver=null"])));
        assert!(!matches(&front, &f(&["driver=bridge", "name=back"])));
        assert!(matches(&host, &f(&["type=builtin"])));
        assert!(matches(&front, &f(&["type=custom"])));
        assert!(parse_filters(&["color=red".into()]).is_err());
        assert!(parse_filters(&["novalue".into()]).is_err());
    }

    #[test]
    fn tables_and_templates() {
        let rows = vec![row_json(&net("bridge", "bridge", &[]), "0123456789ab")];
        let render = |format| templated_rows(&rows, format, NETWORK_TITLES);
        assert_eq!(
            render(TABLE).as_deref(),
            Ok(
                "NETWORK ID     NAME      DRIVER    SCOPE\n0123456789ab   bridge    bridge    local\n"
            )
        );
        assert_eq!(
            render("table {{.Name}}\\t{{.Driver}}").as_deref(),
            Ok("NAME      DRIVER\nbridge    bridge\n")
        );
        assert_eq!(
            render("{{.Name}} {{.Scope}}").as_deref(),
            Ok("bridge local\n")
        );
    }
}
