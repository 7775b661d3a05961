//! `down` leaves nothing behind (root): no containers, networks (bridge or veth
//! links, netns files), mounts under the root, cgroups (v1 controllers and the
//! unified hierarchy), NAT or filter rules of the root, or processes; named
//! volumes stay until `down -v`, which also takes the anonymous ones; an
//! external volume is never removed.

mod support;

use std::path::{Path, PathBuf};

use support::cli::Run;
use support::net::free_port;
use support::residue::{cgroups_of, mounts_under, processes_under as processes_of};
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
