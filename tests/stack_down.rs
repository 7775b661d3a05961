//! `down` leaves nothing behind (root): no containers, networks (bridge or veth
//! links, netns files), mounts under the root, cgroups (v1 controllers and the
//! unified hierarchy), NAT or filter rules of the root, or processes; named
//! volumes stay until `down -v`, which also takes the anonymous ones; an
//! external volume is never removed.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use support::cli::Run;
use support::runtime::Fixture;

struct Stack {
    fx: Fixture,
    project: String,
    file: String,
    external: String,
}

impl Stack {
    fn run(&self, args: &[&str]) -> Run {
        let run = self.fx.berth(args);
        assert_eq!(
            run.code, 0,
            "berth {args:?}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    fn up(&self) -> Vec<String> {
        self.run(&["up", "-d", "-f", &self.file, "-p", &self.project]);
        let ids = self.run(&["ps", "-q", "--no-trunc"]);
        let ids: Vec<String> = ids.stdout.lines().map(str::to_string).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        ids
    }

    fn bridge(&self) -> String {
        let net = format!("{}_back", self.project);
        let inspect = self.run(&["network", "inspect", &net]);
        let value: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap_or_default();
        let bridge = value[0]["Options"]["com.docker.network.bridge.name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(bridge.starts_with("br-"), "{}", inspect.stdout);
        bridge
    }

    fn volumes(&self) -> Vec<String> {
        let ls = self.run(&["volume", "ls", "-q"]);
        ls.stdout.lines().map(str::to_string).collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .fx
            .berth(&["down", "-p", &self.project, "-v", "-t", "1"]);
        let _ = self.fx.berth(&["volume", "rm", &self.external]);
    }
}

fn stack(port: u16, external: &str) -> String {
    format!(
        r#"services:
  web:
    image: bb
    command: ["sh", "-c", "echo hi > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    ports: ["127.0.0.1:{port}:8080"]
    networks: [back]
    volumes: ["data:/data", "/anon", "outside:/outside"]
    tmpfs: [/scratch]
  worker:
    image: bb
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    networks: [back]
    depends_on: [web]
networks:
  back: {{}}
volumes:
  data: {{}}
  outside:
    external: true
    name: {external}
"#
    )
}

#[test]
fn down_leaves_nothing_and_down_v_takes_the_volumes() {
    let fx = Fixture::new();
    let project = format!("leak{}", &fx.bridge[2..]);
    let file = fx.work.path().join("compose.yaml");
    let port = free_port();
    let external = format!("{project}-ext");
    if let Err(e) = std::fs::write(&file, stack(port, &external)) {
        panic!("writing {}: {e}", file.display());
    }
    let s = Stack {
        fx,
        project,
        file: file.to_string_lossy().into_owned(),
        external,
    };
    s.run(&["volume", "create", &s.external]);
    let named = format!("{}_data", s.project);

    let ids = s.up();
    let bridge = s.bridge();
    let anonymous = anonymous_volumes(&s, &named);
    assert_eq!(anonymous.len(), 1, "{:?}", s.volumes());
    assert_running_traces(&s, &ids, &bridge);
    s.run(&["down", "-p", &s.project, "-t", "2"]);
    assert_nothing_left(&s, &ids, &bridge, port);
    let kept = s.volumes();
    for v in [&named, &s.external, &anonymous[0]] {
        assert!(kept.contains(v), "{v} was removed by down: {kept:?}");
    }

    let ids = s.up();
    let bridge = s.bridge();
    let anonymous = anonymous_volumes(&s, &named);
    s.run(&["down", "-p", &s.project, "-v", "-t", "2"]);
    assert_nothing_left(&s, &ids, &bridge, port);
    let kept = s.volumes();
    assert!(!kept.contains(&named), "down -v kept {named}: {kept:?}");
    assert!(
        kept.contains(&s.external),
        "down -v removed the external volume"
    );
    let ran_anonymous = anonymous.iter().filter(|v| kept.contains(v)).count();
    // One anonymous volume is the first up's, orphaned by the plain down.
    assert_eq!(
        ran_anonymous, 1,
        "down -v kept the anonymous volume: {kept:?}"
    );
}

/// The anonymous (64-hex) volumes the containers use.
fn anonymous_volumes(s: &Stack, named: &str) -> Vec<String> {
    s.volumes()
        .into_iter()
        .filter(|v| v != named && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}

/// What the checks below look for is really there while the stack runs, so
/// their passing after `down` means something.
fn assert_running_traces(s: &Stack, ids: &[String], bridge: &str) {
    assert!(link_exists(bridge), "no bridge {bridge}");
    for id in ids {
        let veth = berth::runtime::network::endpoint::veth_name(id, 0);
        assert!(link_exists(&veth), "no veth {veth} of {id}");
        assert!(!cgroups_of(id).is_empty(), "no cgroup of {id}");
    }
    assert!(
        !mounts_under(&s.fx.root).is_empty(),
        "no mounts under the root"
    );
    assert!(
        !root_rules(&s.fx.root, bridge, ids).is_empty(),
        "no firewall rules"
    );
    assert!(!processes_of(&s.fx.root).is_empty(), "no monitor processes");
}

fn assert_nothing_left(s: &Stack, ids: &[String], bridge: &str, port: u16) {
    let ps = s.run(&["ps", "-a", "-q"]);
    assert!(
        ps.stdout.trim().is_empty(),
        "containers left: {}",
        ps.stdout
    );
    assert!(s.fx.containers().is_empty(), "{:?}", s.fx.containers());
    let net = format!("{}_back", s.project);
    assert_ne!(
        s.fx.berth(&["network", "inspect", &net]).code,
        0,
        "{net} left"
    );
    assert!(!link_exists(bridge), "bridge {bridge} left");
    for id in ids {
        for n in 0..3 {
            let veth = berth::runtime::network::endpoint::veth_name(id, n);
            assert!(!link_exists(&veth), "veth {veth} left");
        }
        assert_eq!(cgroups_of(id), Vec::<PathBuf>::new(), "cgroups left");
        let netns = s.fx.root.join("containers").join(id).join("netns");
        assert!(!netns.exists(), "{} left", netns.display());
    }
    assert_eq!(
        mounts_under(&s.fx.root),
        Vec::<String>::new(),
        "mounts left"
    );
    assert_eq!(
        root_rules(&s.fx.root, bridge, ids),
        Vec::<String>::new(),
        "rules left"
    );
    let rules = iptables_save();
    assert!(
        !rules.contains(&format!("--dport {port} ")),
        "port {port} rules left"
    );
    assert_eq!(
        processes_of(&s.fx.root),
        Vec::<String>::new(),
        "processes left"
    );
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The container's cgroup directories, in every v1 controller and in the
/// unified (v2) hierarchy.
fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for c in controllers.flatten() {
        let candidates = [c.path().join("berth").join(id), c.path().join(id)];
        found.extend(candidates.into_iter().filter(|p| p.exists()));
    }
    let unified = Path::new("/sys/fs/cgroup/berth").join(id);
    if unified.exists() && !found.contains(&unified) {
        found.push(unified);
    }
    found
}

fn mounts_under(root: &Path) -> Vec<String> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let root = root.to_string_lossy().into_owned();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&root)))
        .map(str::to_string)
        .collect()
}

fn iptables_save() -> String {
    match std::process::Command::new("iptables-save").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => panic!("iptables-save: {e}"),
    }
}

/// Rules in the root's chains for the project's bridge or its containers (the
/// root's predefined `bridge` network keeps its own, as docker0's do).
fn root_rules(root: &Path, bridge: &str, ids: &[String]) -> Vec<String> {
    let chains = berth::runtime::network::firewall::Chains::for_root(root);
    iptables_save()
        .lines()
        .filter(|l| {
            l.contains(&chains.dnat) || l.contains(&chains.post) || l.contains(&chains.forward)
        })
        .filter(|l| {
            l.contains(&format!("berth-net:{bridge}\""))
                || ids.iter().any(|id| l.contains(&format!("berth:{id}")))
        })
        .map(str::to_string)
        .collect()
}

/// Processes whose command line names the root (monitors, inits' parents).
fn processes_of(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().into_owned();
    let own = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|p| p.file_name().to_string_lossy() != own)
        .filter_map(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(&root).then_some(text)
        })
        .collect()
}

fn free_port() -> u16 {
    match TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}
