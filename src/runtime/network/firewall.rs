//! iptables rules for bridge networks and published ports.
//!
//! berth drives the `iptables-restore` and `iptables-save` binaries (iptables-nft
//! on Debian), as docker and podman's netavark do: the kernel offers no stable
//! netlink API for xtables rules, and nftables' own netlink format is not one
//! either (it is whatever the `nft` userspace of the day emits). Every change is
//! one `iptables-restore --noflush` batch, so a start costs one process.
//!
//! Every rule lives in chains owned by one berth root (`BERTH-<tag>`,
//! `BERTH-POST-<tag>`, `BERTH-FWD-<tag>`, the tag hashed from the root path),
//! jumped to from nat PREROUTING and OUTPUT (local destinations), nat
//! POSTROUTING and filter FORWARD. Two roots never touch each other's rules,
//! and each rule carries a comment naming its network (`berth-net:<bridge>`)
//! or container (`berth:<id>`), so one can be removed without knowing what
//! was added (after a monitor crash).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::ports::PublishedPort;
use crate::runtime::store::{Store, StoreError};

/// The package that provides the binaries, for the error when they are missing.
const PACKAGE: &str = "iptables";
/// Where the binaries live when PATH (a user's shell) leaves out the sbin dirs.
const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("{tool} not found: install the {PACKAGE} package (apt-get install {PACKAGE})")]
    Missing { tool: &'static str },
    #[error("{tool}: {message}")]
    Failed { tool: &'static str, message: String },
    #[error("cannot set {}: {source}", path.display())]
    Sysctl {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {what} {value:?}")]
    Invalid { what: &'static str, value: String },
    #[error(transparent)]
    Lock(#[from] StoreError),
}

/// The chains of one berth root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    /// nat: DNAT of published ports.
    pub dnat: String,
    /// nat: masquerading out of the bridges, from loopback and for hairpins.
    pub post: String,
    /// filter: what may be forwarded to and from the bridges.
    pub forward: String,
}

impl Chains {
    pub fn for_root(root: &Path) -> Chains {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
        let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Chains {
            dnat: format!("BERTH-{tag}"),
            post: format!("BERTH-POST-{tag}"),
            forward: format!("BERTH-FWD-{tag}"),
        }
    }

    fn all(&self) -> [(Table, &str); 3] {
        [
            (Table::Nat, &self.dnat),
            (Table::Nat, &self.post),
            (Table::Filter, &self.forward),
        ]
    }

    /// The rules that send traffic into this root's chains.
    fn jumps(&self) -> [Rule; 4] {
        let local = format!("-m addrtype --dst-type LOCAL -j {}", self.dnat);
        [
            Rule::new(Table::Nat, "PREROUTING", local.clone()),
            Rule::new(Table::Nat, "OUTPUT", local),
            Rule::new(Table::Nat, "POSTROUTING", format!("-j {}", self.post)),
            Rule::new(Table::Filter, "FORWARD", format!("-j {}", self.forward)),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Nat,
    Filter,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Nat => "nat",
            Table::Filter => "filter",
        }
    }
}

/// One rule: its chain and its match/target text (`-s ... -j ACCEPT`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    table: Table,
    chain: String,
    spec: String,
}

impl Rule {
    fn new(table: Table, chain: &str, spec: String) -> Rule {
        Rule {
            table,
            chain: chain.to_string(),
            spec,
        }
    }
}

/// The rules added for one container, to remove exactly those at its stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRules {
    container_id: String,
    rules: Vec<Rule>,
}

/// An `iptables-restore` input, built table by table.
#[derive(Debug, Default)]
struct Script {
    lines: BTreeMap<Table, Vec<String>>,
}

impl Script {
    fn push(&mut self, table: Table, line: String) {
        self.lines.entry(table).or_default().push(line);
    }

    fn declare(&mut self, table: Table, chain: &str) {
        self.push(table, format!(":{chain} - [0:0]"));
    }

    fn append(&mut self, rule: &Rule) {
        self.push(rule.table, format!("-A {} {}", rule.chain, rule.spec));
    }

    fn insert(&mut self, rule: &Rule) {
        self.push(rule.table, format!("-I {} {}", rule.chain, rule.spec));
    }

    fn delete(&mut self, rule: &Rule) {
        self.push(rule.table, format!("-D {} {}", rule.chain, rule.spec));
    }

    fn is_empty(&self) -> bool {
        self.lines.values().all(Vec::is_empty)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (table, lines) in &self.lines {
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("*{}\n", table.name()));
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Prepares `bridge` (addressed in `subnet`, e.g. `10.88.0.0/24`): its
/// containers reach out (masqueraded), reach each other, get replies, and are
/// reachable on ports published on 127.0.0.1. Replaces this network's earlier
/// rules, so running it again is harmless.
pub fn setup_network(store: &Store, bridge: &str, subnet: &str) -> Result<(), FirewallError> {
    check_bridge(bridge)?;
    let subnet = check_subnet(subnet)?;
    set_sysctl(Path::new("/proc/sys/net/ipv4/ip_forward"))?;
    // DNAT of 127.0.0.1:port sends loopback-sourced packets out of the bridge.
    set_sysctl(
        &Path::new("/proc/sys/net/ipv4/conf")
            .join(bridge)
            .join("route_localnet"),
    )?;
    let chains = Chains::for_root(store.root());
    let _lock = store.lock("firewall")?;
    let saved = save()?;
    let mut script = Script::default();
    ensure_chains(&saved, &chains, &mut script);
    let tag = net_comment(bridge);
    for rule in saved.rules_tagged(&chains, &tag) {
        script.delete(&rule);
    }
    for rule in network_rules(&chains, bridge, &subnet) {
        script.append(&rule);
    }
    restore(&script)
}

/// Removes `bridge`'s rules; the root's chains go too once no rule is left in
/// them.
pub fn teardown_network(store: &Store, bridge: &str) -> Result<(), FirewallError> {
    let _lock = store.lock("firewall")?;
    teardown_network_unlocked(store.root(), bridge)
}

/// [`teardown_network`] without the root's firewall lock: for a root that no
/// longer exists, which nobody can be changing.
pub fn teardown_network_unlocked(root: &Path, bridge: &str) -> Result<(), FirewallError> {
    check_bridge(bridge)?;
    let chains = Chains::for_root(root);
    let saved = save()?;
    let mut script = Script::default();
    let doomed = saved.rules_tagged(&chains, &net_comment(bridge));
    for rule in &doomed {
        script.delete(rule);
    }
    if saved.rules_in(&chains).len() == doomed.len() {
        remove_chains(&saved, &chains, &mut script);
    }
    restore(&script)
}

/// Forwards each published port to `container_ip` behind `bridge`.
pub fn add_container(
    store: &Store,
    container_id: &str,
    container_ip: Ipv4Addr,
    bridge: &str,
    ports: &[PublishedPort],
) -> Result<ContainerRules, FirewallError> {
    check_bridge(bridge)?;
    check_id(container_id)?;
    let chains = Chains::for_root(store.root());
    let added = ContainerRules {
        container_id: container_id.to_string(),
        rules: container_rules(&chains, container_id, container_ip, bridge, ports),
    };
    let mut script = Script::default();
    for rule in &added.rules {
        script.append(rule);
    }
    let first = {
        let _lock = store.lock_shared("firewall")?;
        restore(&script)
    };
    if first.is_err() {
        // Each table commits on its own: take back what did apply, then try
        // once more with the chains recreated (a firewall reload flushes them).
        cleanup_container(store.root(), container_id)?;
        let _lock = store.lock("firewall")?;
        let mut ensure = Script::default();
        ensure_chains(&save()?, &chains, &mut ensure);
        restore(&ensure)?;
        if let Err(e) = restore(&script) {
            let _ = cleanup_container(store.root(), container_id);
            return Err(e);
        }
    }
    Ok(added)
}

/// Removes what [`add_container`] added.
pub fn remove_container(store: &Store, added: &ContainerRules) -> Result<(), FirewallError> {
    let mut script = Script::default();
    for rule in &added.rules {
        script.delete(rule);
    }
    let result = {
        let _lock = store.lock_shared("firewall")?;
        restore(&script)
    };
    match result {
        Ok(()) => Ok(()),
        // Some rule was gone already: remove whatever is left of the rest.
        Err(_) => cleanup_container(store.root(), &added.container_id),
    }
}

/// Removes every rule of container `id` in `root`'s chains, whatever its
/// address and ports were: for a container whose monitor died.
pub fn cleanup_container(root: &Path, id: &str) -> Result<(), FirewallError> {
    check_id(id)?;
    let chains = Chains::for_root(root);
    let tag = container_comment(id);
    let mut last = Ok(());
    // A concurrent removal of the same rules makes a batch fail; look again.
    for _ in 0..2 {
        let mut script = Script::default();
        for rule in save()?.rules_tagged(&chains, &tag) {
            script.delete(&rule);
        }
        last = restore(&script);
        if last.is_ok() {
            break;
        }
    }
    last
}

/// The containers that have rules in `root`'s chains (`berth:<id>` comments),
/// for `system check`. Without iptables there can be none.
pub fn containers_with_rules(root: &Path) -> Result<BTreeSet<String>, FirewallError> {
    if find_tool("iptables-save").is_err() {
        return Ok(BTreeSet::new());
    }
    let chains = Chains::for_root(root);
    let prefix = container_comment("");
    let ids = save()?
        .rules_in(&chains)
        .iter()
        .filter_map(|r| comment_of(&r.spec))
        .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
        .collect();
    Ok(ids)
}

/// The text of a rule's `--comment`, quoted or bare.
fn comment_of(spec: &str) -> Option<&str> {
    let rest = spec.split_once("--comment ")?.1;
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split_whitespace().next(),
    }
}

fn network_rules(c: &Chains, bridge: &str, subnet: &str) -> Vec<Rule> {
    let tag = net_comment(bridge);
    let nat = |spec: String| Rule::new(Table::Nat, &c.post, spec);
    let fwd = |spec: String| Rule::new(Table::Filter, &c.forward, spec);
    vec![
        nat(format!(
            "-s {subnet} ! -o {bridge} -m comment --comment {tag} -j MASQUERADE"
        )),
        // Published on 127.0.0.1: the container must answer the bridge's address.
        nat(format!(
            "-s 127.0.0.0/8 -o {bridge} -m comment --comment {tag} -j MASQUERADE"
        )),
        fwd(format!(
            "-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment {tag} -j ACCEPT"
        )),
        fwd(format!(
            "-i {bridge} ! -o {bridge} -m comment --comment {tag} -j ACCEPT"
        )),
        // br_netfilter sends bridged traffic between containers through FORWARD.
        fwd(format!(
            "-i {bridge} -o {bridge} -m comment --comment {tag} -j ACCEPT"
        )),
    ]
}

fn container_rules(
    c: &Chains,
    id: &str,
    ip: Ipv4Addr,
    bridge: &str,
    ports: &[PublishedPort],
) -> Vec<Rule> {
    let tag = container_comment(id);
    let mut out = Vec::new();
    for p in ports {
        let proto = p.proto.as_str();
        let dest = match p.host_ip.is_unspecified() {
            true => String::new(),
            false => format!("-d {}/32 ", p.host_ip),
        };
        out.push(Rule::new(
            Table::Nat,
            &c.dnat,
            format!(
                "{dest}-p {proto} -m {proto} --dport {} -m comment --comment {tag} -j DNAT --to-destination {ip}:{}",
                p.host_port, p.container_port
            ),
        ));
        // A container reaching its own published port must see the reply
        // come back through the host, not from itself.
        out.push(Rule::new(
            Table::Nat,
            &c.post,
            format!(
                "-s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {} -m comment --comment {tag} -j MASQUERADE",
                p.container_port
            ),
        ));
        out.push(Rule::new(
            Table::Filter,
            &c.forward,
            format!(
                "-d {ip}/32 ! -i {bridge} -o {bridge} -p {proto} -m {proto} --dport {} -m comment --comment {tag} -j ACCEPT",
                p.container_port
            ),
        ));
    }
    out
}

fn net_comment(bridge: &str) -> String {
    format!("berth-net:{bridge}")
}

fn container_comment(id: &str) -> String {
    format!("berth:{id}")
}

/// Declares the chains and jumps that are missing. Declaring an existing chain
/// would flush it, so only absent ones are.
fn ensure_chains(saved: &Saved, chains: &Chains, script: &mut Script) {
    for (table, chain) in chains.all() {
        if !saved.has_chain(table, chain) {
            script.declare(table, chain);
        }
    }
    for jump in chains.jumps() {
        if !saved.has_rule(&jump) {
            script.insert(&jump);
        }
    }
}

fn remove_chains(saved: &Saved, chains: &Chains, script: &mut Script) {
    for jump in chains.jumps() {
        for _ in 0..saved.count_rule(&jump) {
            script.delete(&jump);
        }
    }
    for (table, chain) in chains.all() {
        if saved.has_chain(table, chain) {
            script.push(table, format!("-X {chain}"));
        }
    }
}

/// What `iptables-save` printed for the nat and filter tables.
#[derive(Debug, Default)]
struct Saved {
    chains: BTreeSet<(Table, String)>,
    rules: Vec<Rule>,
}

impl Saved {
    fn parse(text: &str) -> Saved {
        let mut saved = Saved::default();
        let mut table = None;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                table = match name.trim() {
                    "nat" => Some(Table::Nat),
                    "filter" => Some(Table::Filter),
                    _ => None,
                };
                continue;
            }
            let Some(t) = table else { continue };
            if let Some(decl) = line.strip_prefix(':') {
                if let Some(chain) = decl.split_whitespace().next() {
                    saved.chains.insert((t, chain.to_string()));
                }
            } else if let Some(rule) = line.strip_prefix("-A ")
                && let Some((chain, spec)) = rule.split_once(' ')
            {
                saved.rules.push(Rule::new(t, chain, spec.to_string()));
            }
        }
        saved
    }

    fn has_chain(&self, table: Table, chain: &str) -> bool {
        self.chains.contains(&(table, chain.to_string()))
    }

    /// Whether `rule` is there, as iptables prints it back.
    fn has_rule(&self, rule: &Rule) -> bool {
        self.count_rule(rule) > 0
    }

    fn count_rule(&self, rule: &Rule) -> usize {
        self.rules.iter().filter(|r| *r == rule).count()
    }

    fn rules_in(&self, chains: &Chains) -> Vec<Rule> {
        let ours: Vec<(Table, &str)> = chains.all().to_vec();
        self.rules
            .iter()
            .filter(|r| ours.contains(&(r.table, r.chain.as_str())))
            .cloned()
            .collect()
    }

    /// The rules in `chains` whose comment is exactly `tag`.
    fn rules_tagged(&self, chains: &Chains, tag: &str) -> Vec<Rule> {
        let quoted = format!("--comment \"{tag}\" ");
        let bare = format!("--comment {tag} ");
        self.rules_in(chains)
            .into_iter()
            .filter(|r| {
                let spec = format!("{} ", r.spec);
                spec.contains(&quoted) || spec.contains(&bare)
            })
            .collect()
    }
}

fn save() -> Result<Saved, FirewallError> {
    let tool = "iptables-save";
    let out = Command::new(find_tool(tool)?)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(tool, e))?;
    if !out.status.success() {
        return Err(FirewallError::Failed {
            tool,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(Saved::parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Applies `script` with `iptables-restore --noflush` (each table commits as
/// one transaction).
fn restore(script: &Script) -> Result<(), FirewallError> {
    if script.is_empty() {
        return Ok(());
    }
    let tool = "iptables-restore";
    let mut child = Command::new(find_tool(tool)?)
        .args(["--noflush", "-w"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(tool, e))?;
    let text = script.render();
    if let Some(mut stdin) = child.stdin.take() {
        // A failure here shows as the tool's own error below.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| spawn_error(tool, e))?;
    if out.status.success() {
        return Ok(());
    }
    tracing::debug!(script = %text, "iptables-restore failed");
    Err(FirewallError::Failed {
        tool,
        message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn spawn_error(tool: &'static str, e: std::io::Error) -> FirewallError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FirewallError::Missing { tool },
        _ => FirewallError::Failed {
            tool,
            message: e.to_string(),
        },
    }
}

/// The tool on PATH, or in the sbin directories a user's PATH may lack.
fn find_tool(tool: &'static str) -> Result<PathBuf, FirewallError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .ok_or(FirewallError::Missing { tool })
}

fn set_sysctl(path: &Path) -> Result<(), FirewallError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(|source| FirewallError::Sysctl {
        path: path.to_path_buf(),
        source,
    })
}

/// Interface names go into rules and /proc paths: the kernel's rules (at most
/// 15 bytes, no '/', no whitespace), and nothing a shell or iptables would
/// read as syntax.
fn check_bridge(name: &str) -> Result<(), FirewallError> {
    let ok = (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match ok {
        true => Ok(()),
        false => Err(FirewallError::Invalid {
            what: "bridge name",
            value: name.to_string(),
        }),
    }
}

fn check_id(id: &str) -> Result<(), FirewallError> {
    let ok = (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match ok {
        true => Ok(()),
        false => Err(FirewallError::Invalid {
            what: "container id",
            value: id.to_string(),
        }),
    }
}

/// `a.b.c.d/n`, returned as the network address iptables prints back.
fn check_subnet(text: &str) -> Result<String, FirewallError> {
    let bad = || FirewallError::Invalid {
        what: "subnet",
        value: text.to_string(),
    };
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ok(format!(
        "{}/{prefix}",
        Ipv4Addr::from(u32::from(addr) & mask)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::network::ports::Proto;

    #[test]
    fn chains_are_per_root() {
        let a = Chains::for_root(Path::new("/var/lib/berth"));
        let b = Chains::for_root(Path::new("/tmp/other-root"));
        assert_ne!(a, b);
        assert!(a.dnat.starts_with("BERTH-") && a.dnat.len() == 14);
        assert_eq!(a.post, a.dnat.replace("BERTH-", "BERTH-POST-"));
        // iptables chain names are at most 28 characters.
        assert!(a.forward.len() <= 28);
    }

    #[test]
    fn subnets_are_normalized_and_checked() {
        assert_eq!(check_subnet("10.1.2.3/24").ok(), Some("10.1.2.0/24".into()));
        assert_eq!(check_subnet("10.1.2.3/32").ok(), Some("10.1.2.3/32".into()));
        assert_eq!(check_subnet("0.0.0.0/0").ok(), Some("0.0.0.0/0".into()));
        for bad in ["10.1.2.0", "10.1.2.0/33", "x/24", "10.1.2.0/24 -j DROP"] {
            assert!(check_subnet(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_that_would_be_syntax_are_refused() {
        assert!(check_bridge("br-berth0").is_ok());
        for bad in ["", "a b", "x;y", "..", "a/b", "sixteen-chars-xx", "-j DROP"] {
            assert!(check_bridge(bad).is_err(), "{bad:?}");
        }
        assert!(check_id("abc123").is_ok());
        assert!(check_id("abc\"123").is_err());
    }

    #[test]
    fn saved_rules_are_found_by_chain_and_comment() {
        let c = Chains::for_root(Path::new("/r"));
        let text = format!(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:{d} - [0:0]\n\
             -A PREROUTING -m addrtype --dst-type LOCAL -j {d}\n\
             -A {d} -p tcp -m tcp --dport 8080 -m comment --comment \"berth:abc\" -j DNAT --to-destination 10.0.0.2:80\n\
             -A {d} -p tcp -m tcp --dport 8081 -m comment --comment \"berth:abcd\" -j DNAT --to-destination 10.0.0.3:80\n\
             -A OTHER -m comment --comment \"berth:abc\" -j ACCEPT\nCOMMIT\n\
             *mangle\n:{d} - [0:0]\nCOMMIT\n",
            d = c.dnat
        );
        let saved = Saved::parse(&text);
        assert!(saved.has_chain(Table::Nat, &c.dnat));
        assert!(!saved.has_chain(Table::Filter, &c.dnat));
        assert!(saved.has_rule(&c.jumps()[0]));
        assert!(!saved.has_rule(&c.jumps()[1]));
        let tagged = saved.rules_tagged(&c, "berth:abc");
        assert_eq!(tagged.len(), 1);
        assert!(tagged[0].spec.contains("--dport 8080"));
        assert_eq!(saved.rules_in(&c).len(), 2);
    }

    #[test]
    fn missing_chains_and_jumps_are_declared_once() {
        let c = Chains::for_root(Path::new("/r"));
        let mut script = Script::default();
        ensure_chains(&Saved::default(), &c, &mut script);
        let text = script.render();
        assert!(text.starts_with("*nat\n"), "{text}");
        assert!(text.contains(&format!(":{} - [0:0]\n", c.dnat)));
        assert!(text.contains(&format!(
            "-I OUTPUT -m addrtype --dst-type LOCAL -j {}\n",
            c.dnat
        )));
        assert!(text.contains(&format!(
            "*filter\n:{} - [0:0]\n-I FORWARD -j {}\nCOMMIT\n",
            c.forward, c.forward
        )));
        let saved = Saved::parse(&text.replace("-I ", "-A "));
        let mut again = Script::default();
        ensure_chains(&saved, &c, &mut again);
        assert!(again.is_empty(), "{}", again.render());
    }

    #[test]
    fn a_missing_binary_names_the_package() {
        let e = spawn_error("iptables-restore", std::io::ErrorKind::NotFound.into());
        assert_eq!(
            e.to_string(),
            "iptables-restore not found: install the iptables package (apt-get install iptables)"
        );
    }

    #[test]
    fn container_rules_name_the_container() {
        let c = Chains::for_root(Path::new("/r"));
        let ports = [PublishedPort {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Udp,
        }];
        let rules = container_rules(&c, "abc", Ipv4Addr::new(10, 0, 0, 2), "br0", &ports);
        assert_eq!(rules.len(), 3);
        assert_eq!(
            rules[0].spec,
            "-d 127.0.0.1/32 -p udp -m udp --dport 8080 -m comment --comment berth:abc -j DNAT --to-destination 10.0.0.2:80"
        );
        assert!(
            rules
                .iter()
                .all(|r| r.spec.contains("--comment berth:abc "))
        );
    }
}
