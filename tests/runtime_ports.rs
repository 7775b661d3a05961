//! Published ports and their firewall rules (root). The bridge and the
//! container's end are fixtures made with `ip` (a bridge, a network namespace
//! and a veth pair per test, on a random 10.x.y.0/24); a listener in the
//! namespace stands in for the container. Each test has its own berth root, so
//! its own iptables chains, and removes everything it made.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use berth::runtime::network::firewall::{self, Chains};
use berth::runtime::network::ports::{self, PortBinding, Proto, Published};
use berth::runtime::store::Store;
use support::runtime::Fixture;

const TIMEOUT: Duration = Duration::from_secs(5);
/// The port the stand-in container listens on.
const INNER: u16 = 8000;

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("{args:?}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn output(args: &[&str]) -> String {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// Random bytes from the kernel, for names and subnets no other test uses.
fn random() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let hex: String = uuid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    u32::from_str_radix(&hex, 16).unwrap_or(0) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A bridge with an address, and a namespace plugged into it (the
/// "container"), plus a berth root of its own.
struct Net {
    store: Store,
    _dir: tempfile::TempDir,
    ns: String,
    bridge: String,
    subnet: String,
    gateway: Ipv4Addr,
    ip: Ipv4Addr,
    /// A second namespace routed through the host: "another machine".
    client: Option<(String, String, Ipv4Addr)>,
}

impl Net {
    fn new() -> Net {
        assert!(nix::unistd::geteuid().is_root(), "the port tests need root");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open(dir.path().join("root")).unwrap_or_else(|e| panic!("{e}"));
        let r = random();
        let tag = format!("{:06x}", r & 0xff_ffff);
        let (a, b) = (100 + (r >> 24) % 100, (r >> 16) & 0xfe);
        let net = Net {
            store,
            _dir: dir,
            ns: format!("bpn{tag}"),
            bridge: format!("bpb{tag}"),
            subnet: format!("10.{a}.{b}.0/24"),
            gateway: Ipv4Addr::new(10, a as u8, b as u8, 1),
            ip: Ipv4Addr::new(10, a as u8, b as u8, 2),
            client: None,
        };
        let (veth, gw) = (format!("bpv{tag}"), format!("{}/24", net.gateway));
        sh(&["ip", "netns", "add", &net.ns]);
        sh(&["ip", "link", "add", &net.bridge, "type", "bridge"]);
        sh(&["ip", "addr", "add", &gw, "dev", &net.bridge]);
        sh(&["ip", "link", "set", &net.bridge, "up"]);
        sh(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &net.ns,
        ]);
        sh(&["ip", "link", "set", &veth, "master", &net.bridge, "up"]);
        let inside = format!("{}/24", net.ip);
        sh(&["ip", "-n", &net.ns, "addr", "add", &inside, "dev", "eth0"]);
        sh(&["ip", "-n", &net.ns, "link", "set", "eth0", "up"]);
        sh(&["ip", "-n", &net.ns, "link", "set", "lo", "up"]);
        let gw = net.gateway.to_string();
        sh(&["ip", "-n", &net.ns, "route", "add", "default", "via", &gw]);
        net
    }

    /// Adds the "other machine": a namespace on its own /24 routed via the host.
    fn with_client(mut self) -> Net {
        let tag = &self.bridge[3..];
        let (ns, veth) = (format!("bpc{tag}"), format!("bpw{tag}"));
        let [_, a, b, _] = self.gateway.octets();
        let host = Ipv4Addr::new(10, a, b ^ 1, 1);
        let client = Ipv4Addr::new(10, a, b ^ 1, 2);
        sh(&["ip", "netns", "add", &ns]);
        sh(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        sh(&["ip", "addr", "add", &format!("{host}/24"), "dev", &veth]);
        sh(&["ip", "link", "set", &veth, "up"]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{client}/24"),
            "dev",
            "eth0",
        ]);
        sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &host.to_string(),
        ]);
        self.client = Some((ns, veth, host));
        self
    }

    fn setup(&self) {
        if let Err(e) = firewall::setup_network(&self.store, &self.bridge, &self.subnet) {
            panic!("setup_network: {e}");
        }
    }

    fn publish(&self, id: &str, bindings: &[PortBinding]) -> Published {
        match ports::publish(&self.store, id, self.ip, &self.bridge, bindings) {
            Ok(p) => p,
            Err(e) => panic!("publish: {e}"),
        }
    }

    fn chains(&self) -> Chains {
        Chains::for_root(self.store.root())
    }

    /// Lines of `iptables-save` that belong to this root.
    fn our_rules(&self) -> Vec<String> {
        let c = self.chains();
        output(&["iptables-save"])
            .lines()
            .filter(|l| l.contains(&c.dnat) || l.contains(&c.post) || l.contains(&c.forward))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = firewall::teardown_network(&self.store, &self.bridge);
        // Whatever a failed test left: delete this root's rules by hand.
        let c = self.chains();
        for line in self.our_rules() {
            if let Some(rule) = line.strip_prefix("-A ") {
                let table = if line.contains(&c.forward) || line.contains("FORWARD") {
                    "filter"
                } else {
                    "nat"
                };
                let mut args = vec!["-w", "-t", table, "-D"];
                args.extend(rule.split_whitespace().map(|w| w.trim_matches('"')));
                let _ = Command::new("iptables").args(&args).output();
            }
        }
        for (table, chain) in [("nat", &c.dnat), ("nat", &c.post), ("filter", &c.forward)] {
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-X", chain])
                .output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        if let Some((ns, veth, _)) = &self.client {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            let _ = Command::new("ip").args(["link", "del", veth]).output();
        }
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`; sockets it
/// makes stay in that namespace.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    let joined = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        if let Err(e) = nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET) {
            panic!("setns {path}: {e}");
        }
        f()
    })
    .join();
    joined.unwrap_or_else(|_| panic!("the thread in {ns} failed"))
}

/// A TCP server in the namespace answering each line with `<line> from <peer ip>`.
fn tcp_echo(ns: &str) {
    let listener = in_netns(ns, || TcpListener::bind(("0.0.0.0", INNER)))
        .unwrap_or_else(|e| panic!("listen: {e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let peer = stream
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_ok() {
                let _ = (&stream).write_all(format!("{} from {peer}\n", line.trim()).as_bytes());
            }
        }
    });
}

fn udp_echo(ns: &str) {
    let socket = in_netns(ns, || UdpSocket::bind(("0.0.0.0", INNER)))
        .unwrap_or_else(|e| panic!("udp bind: {e}"));
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let reply = format!("{} from {}", String::from_utf8_lossy(&buf[..n]), peer.ip());
            let _ = socket.send_to(reply.as_bytes(), peer);
        }
    });
}

fn tcp_ask(addr: SocketAddr, text: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.write_all(format!("{text}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn udp_ask(addr: SocketAddr, text: &str) -> std::io::Result<String> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.connect(addr)?;
    socket.send(text.as_bytes())?;
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The host's own address on its default route's interface (eth0 here).
fn host_address() -> Ipv4Addr {
    let route = output(&["ip", "-4", "route", "show", "default"]);
    let dev = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .unwrap_or("eth0")
        .to_string();
    let addrs = output(&["ip", "-4", "-o", "addr", "show", "dev", &dev]);
    addrs
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no IPv4 address on {dev}: {addrs}"))
}

fn binding(ip: Option<Ipv4Addr>, host_port: u16, proto: Proto) -> PortBinding {
    PortBinding {
        host_ip: ip.map(Into::into),
        host_port,
        host_port_end: None,
        container_port: INNER,
        proto,
    }
}

fn container_id() -> String {
    format!("{:08x}{:08x}", random(), random())
}

#[test]
fn tcp_reaches_the_container_through_loopback_and_the_host_address() {
    let net = Net::new();
    net.setup();
    tcp_echo(&net.ns);
    let published = net.publish(&container_id(), &[binding(None, 0, Proto::Tcp)]);
    let port = published.ports()[0].host_port;
    assert_ne!(port, 0);
    // From 127.0.0.1 the container sees the bridge's address (masqueraded).
    let via_lo = tcp_ask(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "lo");
    assert_eq!(via_lo.ok(), Some(format!("lo from {}", net.gateway)));
    let host = host_address();
    // From the host's own address the source needs no rewriting.
    let via_host = tcp_ask(SocketAddr::from((host, port)), "eth0");
    assert_eq!(via_host.ok(), Some(format!("eth0 from {host}")));
    // The port is held on the host while published.
    let taken = TcpListener::bind(("0.0.0.0", port)).map_err(|e| e.kind());
    assert_eq!(taken.err(), Some(std::io::ErrorKind::AddrInUse));
    assert!(published.unpublish(&net.store).is_ok());
    assert!(tcp_ask(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "x").is_err());
    assert!(TcpListener::bind(("0.0.0.0", port)).is_ok());
}

#[test]
fn udp_reaches_the_container() {
    let net = Net::new();
    net.setup();
    udp_echo(&net.ns);
    let published = net.publish(&container_id(), &[binding(None, 0, Proto::Udp)]);
    let port = published.ports()[0].host_port;
    let reply = udp_ask(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "ping");
    assert_eq!(reply.ok(), Some(format!("ping from {}", net.gateway)));
    let host = host_address();
    let reply = udp_ask(SocketAddr::from((host, port)), "pong");
    assert_eq!(reply.ok(), Some(format!("pong from {host}")));
    assert!(published.unpublish(&net.store).is_ok());
}

#[test]
fn another_machine_is_forwarded_to_the_container() {
    let net = Net::new().with_client();
    net.setup();
    tcp_echo(&net.ns);
    let published = net.publish(&container_id(), &[binding(None, 0, Proto::Tcp)]);
    let port = published.ports()[0].host_port;
    let Some((client_ns, _, host)) = net.client.clone() else {
        panic!("no client namespace");
    };
    // PREROUTING's DNAT, then FORWARD (policy DROP here) must let it through;
    // the client's own address arrives unchanged.
    let reply = in_netns(&client_ns, move || {
        tcp_ask(SocketAddr::from((host, port)), "far")
    });
    let [_, a, b, _] = host.octets();
    assert_eq!(reply.ok(), Some(format!("far from 10.{a}.{b}.2")));
    assert!(published.unpublish(&net.store).is_ok());
}

#[test]
fn random_ports_and_a_loopback_only_binding() {
    let net = Net::new();
    net.setup();
    tcp_echo(&net.ns);
    let published = net.publish(
        &container_id(),
        &[
            binding(None, 0, Proto::Tcp),
            binding(Some(Ipv4Addr::LOCALHOST), 0, Proto::Tcp),
        ],
    );
    let [any, lo] = [published.ports()[0], published.ports()[1]];
    assert_ne!(any.host_port, lo.host_port);
    assert_eq!(any.host_ip, Ipv4Addr::UNSPECIFIED);
    assert_eq!(lo.host_ip, Ipv4Addr::LOCALHOST);
    let on_lo = tcp_ask(SocketAddr::from((Ipv4Addr::LOCALHOST, lo.host_port)), "a");
    assert!(on_lo.is_ok(), "{on_lo:?}");
    // Published on 127.0.0.1 only: the host's other addresses do not answer.
    let outside = tcp_ask(SocketAddr::from((host_address(), lo.host_port)), "b");
    assert!(outside.is_err(), "{outside:?}");
    assert!(published.unpublish(&net.store).is_ok());
}

#[test]
fn a_taken_port_fails_before_any_rule_is_added() {
    let net = Net::new();
    net.setup();
    let before = net.our_rules();
    let holder = TcpListener::bind("0.0.0.0:0").unwrap_or_else(|e| panic!("{e}"));
    let taken = holder.local_addr().map(|a| a.port()).unwrap_or(0);
    let id = container_id();
    let result = ports::publish(
        &net.store,
        &id,
        net.ip,
        &net.bridge,
        &[
            binding(None, 0, Proto::Tcp),
            binding(None, taken, Proto::Tcp),
        ],
    );
    assert_eq!(
        result.map(|_| ()).map_err(|e| e.to_string()),
        Err(format!(
            "Bind for 0.0.0.0:{taken} failed: port is already allocated"
        ))
    );
    assert_eq!(net.our_rules(), before);
    drop(holder);
    // Two bindings of one port within a container conflict the same way, and
    // the first one's reservation is let go.
    let free = TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let twice = ports::reserve(&[
        binding(None, free, Proto::Tcp),
        binding(None, free, Proto::Tcp),
    ]);
    assert!(matches!(twice, Err(ports::PortError::Allocated { .. })));
    assert!(TcpListener::bind(("0.0.0.0", free)).is_ok());
    assert!(!net.our_rules().iter().any(|l| l.contains(&id)));
}

#[test]
fn teardown_leaves_nothing_of_the_root() {
    let net = Net::new();
    net.setup();
    net.setup();
    let c = net.chains();
    let rules = net.our_rules();
    // Idempotent: the second setup replaced the first's rules.
    let network_rules = rules
        .iter()
        .filter(|l| l.contains(&format!("berth-net:{}", net.bridge)));
    assert_eq!(network_rules.count(), 5, "{rules:#?}");
    let jumps = rules
        .iter()
        .filter(|l| l.contains(&format!("-j {}", c.dnat)));
    assert_eq!(jumps.count(), 2, "{rules:#?}");
    let published = net.publish(&container_id(), &[binding(None, 0, Proto::Udp)]);
    assert!(published.unpublish(&net.store).is_ok());
    assert!(firewall::teardown_network(&net.store, &net.bridge).is_ok());
    let save = output(&["iptables-save"]);
    for chain in [&c.dnat, &c.post, &c.forward] {
        assert!(!save.contains(chain.as_str()), "{chain} left:\n{save}");
    }
    // Again: nothing to do, no error.
    assert!(firewall::teardown_network(&net.store, &net.bridge).is_ok());
}

#[test]
fn roots_do_not_touch_each_others_rules() {
    let (one, two) = (Net::new(), Net::new());
    one.setup();
    two.setup();
    let kept = two.our_rules();
    assert!(firewall::teardown_network(&one.store, &one.bridge).is_ok());
    assert!(one.our_rules().is_empty());
    assert_eq!(two.our_rules(), kept);
}

#[test]
fn a_dead_monitors_rules_are_cleaned_up_by_container_id() {
    let net = Net::new();
    net.setup();
    let id = container_id();
    let published = net.publish(
        &id,
        &[binding(None, 0, Proto::Tcp), binding(None, 0, Proto::Udp)],
    );
    let ours = |net: &Net| net.our_rules().iter().filter(|l| l.contains(&id)).count();
    assert_eq!(ours(&net), 6);
    // The monitor is gone: its sockets closed, its rules stayed.
    drop(published);
    assert!(firewall::cleanup_container(net.store.root(), &id).is_ok());
    assert_eq!(ours(&net), 0);
    assert!(firewall::cleanup_container(net.store.root(), &id).is_ok());
}

/// The monitor's side, through the CLI. Until bridge networks are merged,
/// `--network` offers only none and host, which publish nothing (as docker);
/// the record is switched to `bridge` so a start takes the publishing path.
fn bridged(f: &Fixture, args: &[&str]) -> String {
    let run = f.berth(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    let id = run.stdout.trim().to_string();
    let path = f.root.join("containers").join(&id).join("config.json");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut record: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    record["config"]["network_mode"] = "bridge".into();
    std::fs::write(&path, record.to_string()).unwrap_or_else(|e| panic!("{e}"));
    id
}

#[test]
fn starts_reserve_ports_and_a_conflict_fails_before_the_start() {
    let f = Fixture::new();
    let holder = TcpListener::bind("0.0.0.0:0").unwrap_or_else(|e| panic!("{e}"));
    let taken = holder.local_addr().map(|a| a.port()).unwrap_or(0);
    let publish = format!("{taken}:80");
    let id = bridged(
        &f,
        &[
            "create",
            "--name",
            "web",
            "-p",
            &publish,
            "-p",
            "127.0.0.1::53/udp",
            "--expose",
            "9000",
            "bb",
            "sleep",
            "30",
        ],
    );
    let run = f.berth(&["start", "web"]);
    assert_eq!(run.code, 125, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "driver failed programming external connectivity on endpoint web ({id}): Bind for 0.0.0.0:{taken} failed: port is already allocated"
        )),
        "{}",
        run.stderr
    );
    let status = f.berth(&["inspect", "-f", "{{.State.Status}}", "web"]);
    assert_eq!(status.stdout, "created\n");
    drop(holder);
    let run = f.berth(&["start", "web"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let port = f.berth(&["port", "web"]);
    let lines: Vec<&str> = port.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", port.stdout);
    assert_eq!(lines[0].split(":").next(), Some("53/udp -> 127.0.0.1"));
    assert_eq!(lines[1], format!("80/tcp -> 0.0.0.0:{taken}"));
    assert_eq!(
        f.berth(&["port", "web", "80"]).stdout,
        format!("0.0.0.0:{taken}\n")
    );
    let missing = f.berth(&["port", "web", "9000"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "Error: No public port '9000' published for web\n"
    );
    let ps = f.berth(&["ps", "--format", "json"]);
    let udp = lines[0].rsplit(':').next().unwrap_or("");
    assert!(
        ps.stdout.contains(&format!(
            "\"Ports\":\"9000/tcp, 127.0.0.1:{udp}->53/udp, 0.0.0.0:{taken}->80/tcp\""
        )),
        "{}",
        ps.stdout
    );
    let inspect = f.berth(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]);
    assert_eq!(
        inspect.stdout,
        format!(
            "{{\"53/udp\":[{{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{udp}\"}}],\"80/tcp\":[{{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"{taken}\"}}],\"9000/tcp\":null}}\n"
        )
    );
    // Held by the monitor while the container runs, free once it stops.
    assert!(TcpListener::bind(("0.0.0.0", taken)).is_err());
    assert_eq!(f.berth(&["stop", "-t", "0", "web"]).code, 0);
    assert_eq!(f.berth(&["port", "web"]).stdout, "");
    assert!(TcpListener::bind(("0.0.0.0", taken)).is_ok());
}

#[test]
fn publish_all_picks_random_ports_for_exposed_ones() {
    let f = Fixture::new();
    bridged(
        &f,
        &[
            "create",
            "--name",
            "all",
            "-P",
            "--expose",
            "7000-7001",
            "bb",
            "sleep",
            "30",
        ],
    );
    assert_eq!(f.berth(&["start", "all"]).code, 0);
    let port = f.berth(&["port", "all"]);
    let lines: Vec<&str> = port.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", port.stdout);
    assert!(
        lines[0].starts_with("7000/tcp -> 0.0.0.0:"),
        "{}",
        port.stdout
    );
    assert!(
        lines[1].starts_with("7001/tcp -> 0.0.0.0:"),
        "{}",
        port.stdout
    );
    assert_eq!(f.berth(&["rm", "-f", "all"]).code, 0);
}

#[test]
fn flags_are_checked_and_recorded_like_dockers() {
    let f = Fixture::new();
    let bad = f.berth(&["create", "-p", "80:abc", "bb"]);
    assert_eq!(
        (bad.code, bad.stderr.trim()),
        (125, "error: invalid containerPort: abc")
    );
    let bad = f.berth(&["create", "-p", "8000-8002:80-81", "bb"]);
    assert!(
        bad.stderr
            .contains("invalid ranges specified for container and host Ports: 80-81 and 8000-8002")
    );
    let bad = f.berth(&["create", "-p", "80/sctp", "bb"]);
    assert_eq!(bad.code, 125);
    let host = f.berth(&[
        "create",
        "--name",
        "h",
        "--network",
        "host",
        "-p",
        "80",
        "bb",
    ]);
    assert_eq!(host.code, 0, "{}", host.stderr);
    assert!(
        host.stderr
            .contains("WARNING: Published ports are discarded when using host network mode")
    );
    let made = f.berth(&[
        "create",
        "--name",
        "c",
        "-p",
        "127.0.0.1:8080:80",
        "-p",
        "[::1]:8081:81",
        "-p",
        "7000-7010:70",
        "--expose",
        "5000/udp",
        "bb",
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let bindings = f.berth(&["inspect", "-f", "{{json .HostConfig.PortBindings}}", "c"]);
    assert_eq!(
        bindings.stdout,
        "{\"70/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"7000-7010\"}],\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8080\"}],\"81/tcp\":[{\"HostIp\":\"::1\",\"HostPort\":\"8081\"}]}\n"
    );
    let exposed = f.berth(&["inspect", "-f", "{{json .Config.ExposedPorts}}", "c"]);
    assert_eq!(
        exposed.stdout,
        "{\"5000/udp\":{},\"70/tcp\":{},\"80/tcp\":{},\"81/tcp\":{}}\n"
    );
    let stopped = f.berth(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "c"]);
    assert_eq!(stopped.stdout, "{}\n");
    assert!(Path::new(&f.root).is_dir());
}

#[test]
fn a_killed_monitor_releases_its_ports() {
    let f = Fixture::new();
    let id = bridged(
        &f,
        &[
            "create",
            "--name",
            "k",
            "-p",
            "127.0.0.1::80",
            "bb",
            "sleep",
            "30",
        ],
    );
    assert_eq!(f.berth(&["start", "k"]).code, 0);
    let port: u16 = f
        .berth(&["port", "k", "80"])
        .stdout
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert_ne!(port, 0);
    let monitor = f.state(&id)["monitor_pid"].as_i64().unwrap_or(0) as i32;
    assert!(monitor > 0);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::SIGKILL,
    );
    // The kernel closed the monitor's sockets; the state forgets the ports.
    let mut freed = false;
    for _ in 0..200 {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            freed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(freed, "port {port} still held");
    // The init dies of its parent-death signal a moment later.
    let mut shown = String::from("?");
    for _ in 0..200 {
        shown = f.berth(&["port", "k"]).stdout;
        if shown.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(shown, "");
    assert_eq!(f.state(&id)["ports"], serde_json::Value::Null);
}
