//! Soak (root): many cycles of `run -d`/`exec`/`stop`/`rm`, and of `up -d`/
//! `down` of a 10-service stack, then nothing may be left: no mounts, cgroups,
//! veths, firewall rules or processes of removed containers, no new file
//! descriptors in a long-lived monitor, no growth in the store.
//!
//! CI runs a short version. `bench/soak.sh` runs the long one (1,000 and 100
//! cycles) through the same code, with `BERTH_SOAK_CYCLES` and
//! `BERTH_SOAK_STACK_CYCLES`.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use support::residue::{cgroups_of, fd_count, links_of, residue};
use support::runtime::Fixture;

fn cycles(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A container that exits on SIGTERM, so `stop` does not wait for the timeout.
const TERM_EXITS: &str = "trap 'exit 0' TERM; while :; do sleep 1 & wait; done";

fn ok(fx: &Fixture, args: &[&str]) -> String {
    let run = fx.berth(args);
    assert_eq!(run.code, 0, "berth {args:?}: {}{}", run.stdout, run.stderr);
    run.stdout.trim().to_string()
}

/// Every file of the store, except what legitimately changes while the
/// long-lived container `keep` runs (its own directory, the rotated events).
fn store_files(root: &Path, keep: &str) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if rel.starts_with(&format!("containers/{keep}")) || rel.starts_with("events.log") {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            }
            files.insert(rel);
        }
    }
    files
}

/// The monitor's descriptors, ignoring a health probe's pipes that happen to
/// be open: the fewest seen over a second.
fn settled_fds(monitor: u32) -> (usize, String) {
    let mut fewest = (usize::MAX, String::new());
    for _ in 0..10 {
        let n = fd_count(monitor);
        if n < fewest.0 {
            fewest = (n, fd_targets(monitor));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    fewest
}

fn fd_targets(pid: u32) -> String {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return String::new();
    };
    let mut targets: Vec<String> = dir
        .flatten()
        .map(|e| match std::fs::read_link(e.path()) {
            Ok(t) => format!("{} -> {}", e.file_name().to_string_lossy(), t.display()),
            Err(_) => e.file_name().to_string_lossy().into_owned(),
        })
        .collect();
    targets.sort();
    targets.join("\n")
}

/// The monitor of a running container: the parent of its init.
fn monitor_pid(fx: &Fixture, id: &str) -> u32 {
    let pid = ok(fx, &["inspect", "-f", "{{.State.Pid}}", id]);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let ppid = after_name.split_whitespace().nth(1).unwrap_or("0");
    ppid.parse().unwrap_or(0)
}

#[test]
fn run_exec_stop_rm_cycles_leave_nothing() {
    let n = cycles("BERTH_SOAK_CYCLES", 25);
    let fx = Fixture::new();
    let keep = ok(
        &fx,
        &[
            "run",
            "-d",
            "--name",
            "keeper",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "bb",
            "sh",
            "-c",
            TERM_EXITS,
        ],
    );
    // One cycle first, so lazily made files (leases, locks) are in the baseline.
    let mut ids = vec![cycle(&fx, &keep)];
    // The probes see a live container's traces, so their emptiness below means something.
    assert!(
        !cgroups_of(&keep).is_empty(),
        "no cgroup found for the keeper"
    );
    assert!(
        !links_of(std::slice::from_ref(&keep)).is_empty(),
        "no veth found for the keeper"
    );
    let monitor = monitor_pid(&fx, &keep);
    let fds = settled_fds(monitor);
    let files = store_files(&fx.root, &keep);
    let started = Instant::now();
    for _ in 1..n {
        ids.push(cycle(&fx, &keep));
    }
    let took = started.elapsed();
    let fds_after = settled_fds(monitor);
    println!(
        "soak: {n} cycles of run -d/exec/stop/rm in {:.1} s ({:.1} ms each); keeper monitor fds {} -> {}",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / n as f64,
        fds.0,
        fds_after.0
    );
    assert_eq!(
        fds_after.0, fds.0,
        "the long-lived monitor gained fds:\nbefore:\n{}\nafter:\n{}",
        fds.1, fds_after.1
    );
    assert_eq!(store_files(&fx.root, &keep), files, "the store changed");
    assert_eq!(fx.containers(), vec![keep.clone()]);
    let left = residue(&fx.root, &ids);
    assert!(
        left.processes.len() == 1 && left.processes[0].contains(&keep),
        "processes other than the keeper's monitor: {:?}",
        left.processes
    );
    assert!(
        left.mounts.iter().all(|m| m.contains(&keep)),
        "{:?}",
        left.mounts
    );
    assert!(left.cgroups.is_empty(), "{:?}", left.cgroups);
    assert!(left.links.is_empty(), "{:?}", left.links);
    assert!(left.rules.is_empty(), "{:?}", left.rules);
}

/// run -d, exec in it and in the keeper, stop, rm: returns the container's id.
fn cycle(fx: &Fixture, keep: &str) -> String {
    let id = ok(fx, &["run", "-d", "bb", "sh", "-c", TERM_EXITS]);
    ok(fx, &["exec", &id, "true"]);
    ok(fx, &["exec", keep, "true"]);
    ok(fx, &["stop", "-t", "10", &id]);
    ok(fx, &["rm", &id]);
    id
}

fn stack_yaml(services: usize) -> String {
    let mut yaml = String::from("services:\n");
    for i in 1..=services {
        yaml.push_str(&format!(
            "  s{i}:\n    image: bb\n    command: [\"sh\", \"-c\", \"{}\"]\n    volumes: [\"data:/data\"]\n",
            TERM_EXITS.replace('"', "\\\"")
        ));
        if i > 1 {
            yaml.push_str(&format!("    depends_on: [s{}]\n", i - 1));
        }
        if i == 1 {
            yaml.push_str("    networks: [front, default]\n");
        }
    }
    yaml.push_str("networks:\n  front: {}\nvolumes:\n  data: {}\n");
    yaml
}

#[test]
fn up_down_cycles_leave_nothing() {
    let n = cycles("BERTH_SOAK_STACK_CYCLES", 4);
    let fx = Fixture::new();
    let project = format!("soak{}", &fx.bridge[2..]);
    let file = fx.work.path().join("compose.yaml");
    if let Err(e) = std::fs::write(&file, stack_yaml(10)) {
        panic!("writing {}: {e}", file.display());
    }
    let file = file.display().to_string();
    let stack = |verb: &str| ok(&fx, &[verb, "-f", &file, "-p", &project]);
    let mut ids = Vec::new();
    let mut up_down = || {
        ok(&fx, &["up", "-d", "-f", &file, "-p", &project]);
        let listed = ok(&fx, &["ps", "-q", "--no-trunc"]);
        assert_eq!(listed.lines().count(), 10, "running after up: {listed}");
        ids.extend(listed.lines().map(str::to_string));
        stack("down");
    };
    up_down();
    let files = store_files(&fx.root, "-");
    let started = Instant::now();
    for _ in 1..n {
        up_down();
    }
    let took = started.elapsed();
    println!(
        "soak: {n} cycles of up -d/down of 10 services in {:.1} s ({:.0} ms each)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / n as f64
    );
    assert_eq!(store_files(&fx.root, "-"), files, "the store changed");
    assert!(fx.containers().is_empty(), "{:?}", fx.containers());
    let left = residue(&fx.root, &ids);
    assert!(left.is_empty(), "left behind: {left:?}");
    let volumes = ok(&fx, &["volume", "ls", "-q"]);
    assert_eq!(
        volumes,
        format!("{project}_data"),
        "the named volume is kept"
    );
    let networks = ok(&fx, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains(&project), "networks left: {networks}");
}
