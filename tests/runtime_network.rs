//! Bridge networking end to end, as root: user networks with name
//! resolution, the default bridge, live connect/disconnect, cleanup, and the
//! none/host/container modes. Every test has its own root, whose default
//! bridge has its own name (`berth.toml`, see the fixture), and its own
//! networks; all of them are removed again.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use support::cli::Run;
use support::runtime::Fixture;

fn ok(run: &Run, what: &str) -> String {
    assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
    run.stdout.clone()
}

/// A busybox image with a web page in /www.
fn web_fixture() -> Fixture {
    Fixture::with_image(|root| {
        std::fs::create_dir_all(root.join("www")).expect("www");
        std::fs::write(root.join("www/index.html"), "hello from berth\n").expect("index");
    })
}

/// Bridged frames pass through iptables' FORWARD chain when br_netfilter is
/// loaded, and hosts that ran docker drop them by default. The firewall
/// module will own these rules; until then the test lets its own bridge's
/// traffic through, and takes the rule out again.
struct ForwardRule {
    bridge: String,
}

impl ForwardRule {
    fn allow(bridge: &str) -> ForwardRule {
        let _ = std::process::Command::new("iptables")
            .args(["-I", "FORWARD", "-i", bridge, "-j", "ACCEPT"])
            .output();
        ForwardRule {
            bridge: bridge.to_string(),
        }
    }
}

impl Drop for ForwardRule {
    fn drop(&mut self) {
        let _ = std::process::Command::new("iptables")
            .args(["-D", "FORWARD", "-i", &self.bridge, "-j", "ACCEPT"])
            .output();
    }
}

/// Creates a network; returns its id.
fn network(f: &Fixture, args: &[&str]) -> String {
    let mut all = vec!["network", "create"];
    all.extend_from_slice(args);
    ok(&f.berth(&all), "network create").trim().to_string()
}

fn bridge_of(id: &str) -> String {
    format!("br-{}", &id[..12])
}

fn host_links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn inspect(f: &Fixture, name: &str, template: &str) -> String {
    ok(&f.berth(&["inspect", "-f", template, name]), "inspect")
        .trim()
        .to_string()
}

fn id_of(f: &Fixture, name: &str) -> String {
    inspect(f, name, "{{.Id}}")
}

/// wget from inside a container, retried while the server starts.
const FETCH: &str =
    "for i in $(seq 100); do wget -qO- http://$0/ && exit 0; sleep 0.05; done; exit 1";

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias() {
    let f = web_fixture();
    let net = network(&f, &["nt-names"]);
    let _rule = ForwardRule::allow(&bridge_of(&net));
    let web = [
        "run",
        "-d",
        "--name",
        "nt-web",
        "--network",
        "nt-names",
        "--network-alias",
        "www",
    ];
    let mut args = web.to_vec();
    args.extend_from_slice(&["bb", "httpd", "-f", "-p", "80", "-h", "/www"]);
    ok(&f.berth(&args), "web");
    for target in ["nt-web", "www"] {
        let run = f.berth(&[
            "run",
            "--rm",
            "--network",
            "nt-names",
            "bb",
            "sh",
            "-c",
            FETCH,
            target,
        ]);
        assert_eq!(run.stdout, "hello from berth\n", "{target}: {}", run.stderr);
    }
    // A container started later is reachable from the earlier one.
    let mut late = vec!["run", "-d", "--name", "nt-late", "--network", "nt-names"];
    late.extend_from_slice(&["bb", "httpd", "-f", "-p", "80", "-h", "/www"]);
    ok(&f.berth(&late), "late");
    let run = f.berth(&["exec", "nt-web", "sh", "-c", FETCH, "nt-late"]);
    assert_eq!(run.stdout, "hello from berth\n", "{}", run.stderr);
    // ... and drops out of its hosts file once it stops.
    ok(&f.berth(&["rm", "-f", "nt-late"]), "rm late");
    let hosts = ok(&f.berth(&["exec", "nt-web", "cat", "/etc/hosts"]), "hosts");
    assert!(!hosts.contains("nt-late"), "{hosts}");
    assert!(hosts.contains("nt-web"), "{hosts}");
    let events = std::fs::read_to_string(f.root.join("events.log")).unwrap_or_default();
    for action in ["\"create\"", "\"connect\"", "\"disconnect\""] {
        assert!(
            events.contains(&format!("\"Type\":\"network\",\"Action\":{action}")),
            "no network {action} event"
        );
    }
}

#[test]
fn the_default_bridge_gives_an_address_the_host_reaches() {
    let f = web_fixture();
    let run = f.berth(&[
        "run", "-d", "--name", "nt-srv", "bb", "httpd", "-f", "-p", "80", "-h", "/www",
    ]);
    ok(&run, "run");
    let ip: Ipv4Addr = inspect(&f, "nt-srv", "{{.NetworkSettings.IPAddress}}")
        .parse()
        .expect("an IPv4 address");
    let subnet = ok(
        &f.berth(&[
            "network",
            "inspect",
            "-f",
            "{{json .IPAM.Config}}",
            "bridge",
        ]),
        "network inspect",
    );
    let prefix = inspect(&f, "nt-srv", "{{.NetworkSettings.IPPrefixLen}}");
    let gateway = inspect(&f, "nt-srv", "{{.NetworkSettings.Gateway}}");
    assert!(subnet.contains(&gateway), "{subnet} vs {gateway}");
    assert_eq!(prefix, "24");
    let net_prefix: Vec<&str> = gateway.split('.').take(3).collect();
    assert!(ip.to_string().starts_with(&net_prefix.join(".")), "{ip}");
    assert_eq!(
        inspect(&f, "nt-srv", "{{.HostConfig.NetworkMode}}"),
        "bridge"
    );
    // The bridge is this root's own, from berth.toml.
    let options = ok(
        &f.berth(&["network", "inspect", "-f", "{{json .Options}}", "bridge"]),
        "options",
    );
    assert!(options.contains(&f.bridge), "{options}");
    let mut page = String::new();
    wait_for("the web server", || {
        let Ok(mut s) = TcpStream::connect_timeout(&(ip, 80).into(), Duration::from_secs(1)) else {
            return false;
        };
        let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
        page.clear();
        s.read_to_string(&mut page).is_ok() && page.contains("hello from berth")
    });
    // The monitor clones from a single-threaded process: netlink left no thread.
    let id = id_of(&f, "nt-srv");
    let monitor = f.state(&id)["monitor_pid"].as_i64().unwrap_or(0);
    let tasks = std::fs::read_dir(format!("/proc/{monitor}/task"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tasks, 1, "the monitor has {tasks} threads");
}

#[test]
fn connect_and_disconnect_running_and_created_containers() {
    let f = Fixture::new();
    let extra = network(&f, &["nt-extra"]);
    ok(
        &f.berth(&["run", "-d", "--name", "nt-live", "bb", "sleep", "60"]),
        "run",
    );
    let links = |name: &str| ok(&f.berth(&["exec", name, "ls", "/sys/class/net"]), "ls");
    assert_eq!(links("nt-live"), "eth0\nlo\n");
    ok(
        &f.berth(&[
            "network", "connect", "--alias", "side", "nt-extra", "nt-live",
        ]),
        "connect",
    );
    assert_eq!(links("nt-live"), "eth0\neth1\nlo\n");
    let nets = inspect(&f, "nt-live", "{{json .NetworkSettings.Networks}}");
    assert!(
        nets.contains("\"nt-extra\"") && nets.contains("\"side\""),
        "{nets}"
    );
    let members = ok(
        &f.berth(&[
            "network",
            "inspect",
            "-f",
            "{{json .Containers}}",
            "nt-extra",
        ]),
        "members",
    );
    assert!(members.contains("nt-live"), "{members}");
    let again = f.berth(&["network", "connect", "nt-extra", "nt-live"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    ok(
        &f.berth(&["network", "disconnect", "nt-extra", "nt-live"]),
        "disconnect",
    );
    assert_eq!(links("nt-live"), "eth0\nlo\n");
    let veth_gone = f.berth(&["network", "disconnect", "nt-extra", "nt-live"]);
    assert_eq!(veth_gone.code, 1);
    assert!(
        veth_gone.stderr.contains("is not connected"),
        "{}",
        veth_gone.stderr
    );
    // A created container gets the attachment at start.
    let created = ok(
        &f.berth(&["create", "--name", "nt-later", "bb", "sleep", "60"]),
        "create",
    );
    ok(
        &f.berth(&["network", "connect", "nt-extra", "nt-later"]),
        "connect created",
    );
    ok(&f.berth(&["start", "nt-later"]), "start");
    assert_eq!(links("nt-later"), "eth0\neth1\nlo\n");
    let addr = inspect(&f, created.trim(), "{{json .NetworkSettings.Networks}}");
    assert!(addr.contains(&extra), "{addr}");
}

#[test]
fn rm_leaves_no_veth_namespace_or_address_and_network_rm_no_bridge() {
    let f = Fixture::new();
    let net = network(&f, &["nt-clean"]);
    ok(
        &f.berth(&[
            "run",
            "-d",
            "--name",
            "nt-gone",
            "--network",
            "nt-clean",
            "bb",
            "sleep",
            "60",
        ]),
        "run",
    );
    let id = id_of(&f, "nt-gone");
    let veth = format!("vb{}0", &id[..10]);
    assert!(host_links().contains(&veth), "no {veth} while running");
    let netns = f.root.join("containers").join(&id).join("netns");
    assert!(netns.exists());
    ok(&f.berth(&["rm", "-f", "nt-gone"]), "rm");
    wait_for("the veth to go", || !host_links().contains(&veth));
    assert!(!netns.exists());
    let leases = std::fs::read_to_string(f.root.join("networks").join(&net).join("leases.json"))
        .unwrap_or_default();
    assert!(!leases.contains(&id), "{leases}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&id), "a mount of the container is left");
    // run --rm too.
    let run = f.berth(&["run", "--rm", "--network", "nt-clean", "bb", "true"]);
    ok(&run, "run --rm");
    assert!(f.containers().is_empty());
    // The network outlives its last container; only network rm removes it.
    assert!(host_links().contains(&bridge_of(&net)));
    ok(&f.berth(&["network", "rm", "nt-clean"]), "network rm");
    assert!(!host_links().contains(&bridge_of(&net)));
    assert!(!f.root.join("networks").join(&net).exists());
}

#[test]
fn a_taken_ip_fails_the_start_and_network_rm_refuses_attached_networks() {
    let f = Fixture::new();
    let third = 100 + std::process::id() % 100;
    let subnet = format!("10.{third}.{}.0/24", std::process::id() % 250);
    let ip = subnet.replace(".0/24", ".77");
    network(&f, &["--subnet", &subnet, "nt-fixed"]);
    ok(
        &f.berth(&[
            "run",
            "-d",
            "--name",
            "nt-a",
            "--network",
            "nt-fixed",
            "--ip",
            &ip,
            "bb",
            "sleep",
            "60",
        ]),
        "first",
    );
    assert_eq!(inspect(&f, "nt-a", "{{.NetworkSettings.IPAddress}}"), ip);
    let taken = f.berth(&[
        "run",
        "-d",
        "--name",
        "nt-b",
        "--network",
        "nt-fixed",
        "--ip",
        &ip,
        "bb",
        "true",
    ]);
    assert_eq!(taken.code, 125);
    assert!(
        taken.stderr.contains("Address already in use"),
        "{}",
        taken.stderr
    );
    assert_eq!(inspect(&f, "nt-b", "{{.State.Status}}"), "created");
    let outside = f.berth(&[
        "create",
        "--network",
        "nt-fixed",
        "--ip",
        "192.0.2.200",
        "bb",
    ]);
    assert_eq!(outside.code, 125);
    assert!(
        outside.stderr.contains("does not belong"),
        "{}",
        outside.stderr
    );
    let default = f.berth(&["create", "--ip", &ip, "bb"]);
    assert!(
        default.stderr.contains("user defined networks only"),
        "{}",
        default.stderr
    );
    let refused = f.berth(&["network", "rm", "nt-fixed"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("error while removing network: network nt-fixed has active endpoints"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("nt-a"), "{}", refused.stderr);
    let predefined = f.berth(&["network", "rm", "bridge"]);
    assert!(
        predefined.stderr.contains("pre-defined network"),
        "{}",
        predefined.stderr
    );
    // Once the holder is stopped, the address and the network are free.
    ok(&f.berth(&["rm", "-f", "nt-a"]), "rm a");
    ok(&f.berth(&["start", "nt-b"]), "start b");
    ok(&f.berth(&["rm", "-f", "nt-b"]), "rm b");
    ok(&f.berth(&["network", "rm", "nt-fixed"]), "network rm");
    let missing = f.berth(&["run", "--rm", "--network", "nt-fixed", "bb", "true"]);
    assert!(
        missing.stderr.contains("network nt-fixed not found"),
        "{}",
        missing.stderr
    );
}

#[test]
fn none_host_and_container_network_modes() {
    let f = Fixture::new();
    let none = f.sh(&["--network", "none"], "ls /sys/class/net");
    assert_eq!(ok(&none, "none"), "lo\n");
    let before = host_links();
    let host = f.sh(&["--network", "host"], "ls /sys/class/net");
    let after = host_links();
    let seen: Vec<String> = ok(&host, "host").lines().map(String::from).collect();
    // Other tests add and remove links meanwhile; those there all along count.
    let stable: Vec<&String> = before.iter().filter(|l| after.contains(l)).collect();
    assert!(stable.len() > 1, "{stable:?}");
    for name in stable {
        assert!(seen.contains(name), "{name} missing: {seen:?}");
    }
    ok(
        &f.berth(&[
            "run",
            "-d",
            "--name",
            "nt-owner",
            "-h",
            "owner-host",
            "bb",
            "sleep",
            "60",
        ]),
        "owner",
    );
    let mac = ok(
        &f.berth(&["exec", "nt-owner", "cat", "/sys/class/net/eth0/address"]),
        "mac",
    );
    let joined = f.sh(
        &["--network", "container:nt-owner"],
        "cat /sys/class/net/eth0/address; hostname; grep -c owner-host /etc/hosts",
    );
    assert_eq!(ok(&joined, "joined"), format!("{mac}owner-host\n1\n"));
    ok(&f.berth(&["stop", "-t", "0", "nt-owner"]), "stop");
    let refused = f.sh(&["--network", "container:nt-owner"], "true");
    assert_eq!(refused.code, 125);
    assert!(
        refused
            .stderr
            .contains("cannot join network of a non running container"),
        "{}",
        refused.stderr
    );
    let hostname = f.berth(&["create", "-h", "x", "--network", "container:nt-owner", "bb"]);
    assert!(
        hostname.stderr.contains("Conflicting options"),
        "{}",
        hostname.stderr
    );
}

#[test]
fn network_ls_filters_and_formats() {
    let f = Fixture::new();
    network(&f, &["--label", "tier=web", "nt-front"]);
    network(&f, &["nt-back"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["network", "ls", "--format", "{{.Name}}"];
        all.extend_from_slice(args);
        ok(&f.berth(&all), "ls").lines().map(String::from).collect()
    };
    assert_eq!(
        names(&[]),
        ["bridge", "host", "none", "nt-back", "nt-front"]
    );
    assert_eq!(names(&["-f", "label=tier=web"]), ["nt-front"]);
    assert_eq!(
        names(&["-f", "name=nt-", "-f", "driver=bridge"]),
        ["nt-back", "nt-front"]
    );
    assert_eq!(names(&["-f", "driver=null"]), ["none"]);
    let table = ok(&f.berth(&["network", "ls"]), "table");
    assert!(
        table.starts_with("NETWORK ID     NAME       DRIVER    SCOPE\n"),
        "{table}"
    );
    let quiet = ok(&f.berth(&["network", "ls", "-q", "--no-trunc"]), "quiet");
    assert!(quiet.lines().all(|l| l.len() == 64), "{quiet}");
    let json = ok(
        &f.berth(&["network", "ls", "--format", "json", "-f", "name=nt-front"]),
        "json",
    );
    assert!(json.contains("\"Labels\":\"tier=web\""), "{json}");
    let pruned = ok(&f.berth(&["network", "prune", "-f"]), "prune");
    assert_eq!(pruned, "Deleted Networks:\nnt-back\nnt-front\n");
    assert_eq!(names(&[]), ["bridge", "host", "none"]);
    let missing = f.berth(&["network", "inspect", "nt-front"]);
    assert_eq!(missing.code, 1);
    assert!(Path::new(&f.root).join("berth.toml").exists());
}

#[test]
fn a_killed_monitor_leaves_its_network_to_the_next_command() {
    let f = Fixture::new();
    let net = network(&f, &["nt-crash"]);
    ok(
        &f.berth(&[
            "run",
            "-d",
            "--name",
            "nt-victim",
            "--network",
            "nt-crash",
            "bb",
            "sleep",
            "60",
        ]),
        "run",
    );
    let id = id_of(&f, "nt-victim");
    let ip = inspect(&f, "nt-victim", "{{.NetworkSettings.IPAddress}}");
    let monitor = f.state(&id)["monitor_pid"].as_i64().unwrap_or(0) as i32;
    assert!(monitor > 0);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_for("the monitor to go", || {
        !Path::new(&format!("/proc/{monitor}")).exists()
    });
    // Any command that looks at the container cleans up after the dead monitor.
    let ps = ok(&f.berth(&["ps", "-a"]), "ps");
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert!(!f.root.join("containers").join(&id).join("netns").exists());
    let leases = std::fs::read_to_string(f.root.join("networks").join(&net).join("leases.json"))
        .unwrap_or_default();
    assert!(!leases.contains(&id), "{leases}");
    let veth = format!("vb{}0", &id[..10]);
    wait_for("the veth to go", || !host_links().contains(&veth));
    // The address is free again, and a restart gets the network back.
    ok(&f.berth(&["start", "nt-victim"]), "start");
    assert_eq!(
        inspect(&f, "nt-victim", "{{.NetworkSettings.IPAddress}}"),
        ip
    );
}
