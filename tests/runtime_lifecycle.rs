//! The lifecycle verbs end to end (root): ps, logs, stop, kill, rm, wait, and what
//! happens when a monitor dies.

mod support;

use std::time::{Duration, Instant};

use support::runtime::Fixture;

fn id_of(f: &Fixture, args: &[&str]) -> String {
    let run = f.berth(args);
    assert_eq!(run.code, 0, "{:?}: {}", args, run.stderr);
    run.stdout.trim().to_string()
}

fn wait_for_log(f: &Fixture, name: &str, needle: &str) {
    for _ in 0..200 {
        if f.berth(&["logs", name]).stdout.contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{name} never logged {needle:?}");
}

#[test]
fn ps_lists_running_and_all_with_docker_statuses() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run", "-d", "--name", "long", "-l", "tier=web", "bb", "sleep", "30",
        ],
    );
    assert_eq!(
        f.berth(&["run", "--name", "done", "bb", "sh", "-c", "exit 3"])
            .code,
        3
    );
    let running = f.berth(&["ps"]);
    assert!(
        running.stdout.starts_with("CONTAINER ID   IMAGE   COMMAND"),
        "{}",
        running.stdout
    );
    assert!(running.stdout.contains("Up "), "{}", running.stdout);
    assert!(
        running.stdout.contains("long") && !running.stdout.contains("done"),
        "{}",
        running.stdout
    );
    let all = f.berth(&["ps", "-a"]);
    assert!(all.stdout.contains("Exited (3) "), "{}", all.stdout);
    let exited = f.berth(&["ps", "-a", "-q", "-f", "status=exited"]);
    assert_eq!(exited.stdout.lines().count(), 1);
    let labelled = f.berth(&["ps", "-q", "-f", "label=tier=web", "--no-trunc"]);
    assert_eq!(labelled.stdout.trim().len(), 64);
    let json = f.berth(&["ps", "-a", "--format", "json"]);
    let first: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(first["Names"], "done", "newest first");
    let templated = f.berth(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(templated.stdout, "done exited\nlong running\n");
    let table = f.berth(&["ps", "--format", "table {{.ID}}\\t{{.Names}}"]);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(
        lines[0].starts_with("CONTAINER ID   NAMES"),
        "{}",
        table.stdout
    );
    assert!(lines[1].ends_with("   long"), "{}", table.stdout);
    let bad = f.berth(&["ps", "--format", "{{.Nope}}"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("Nope"), "{}", bad.stderr);
    assert_eq!(f.berth(&["rm", "-f", "long"]).code, 0);
}

#[test]
fn logs_keep_streams_apart_and_support_tail_and_timestamps() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "talker",
            "bb",
            "sh",
            "-c",
            "echo one; echo two >&2; echo three",
        ],
    );
    wait_for_log(&f, "talker", "three");
    let logs = f.berth(&["logs", "talker"]);
    assert_eq!(logs.stdout, "one\nthree\n");
    assert_eq!(logs.stderr, "two\n");
    // --tail counts lines of both streams, as docker's does.
    let tail = f.berth(&["logs", "--tail", "1", "talker"]);
    assert_eq!(tail.stdout.lines().count() + tail.stderr.lines().count(), 1);
    let stamped = f.berth(&["logs", "-t", "talker"]);
    let first = stamped.stdout.lines().next().unwrap_or("");
    assert!(
        first.ends_with("Z one") && first.starts_with("20"),
        "{}",
        stamped.stdout
    );
    let future = f.berth(&["logs", "--since", "2999-01-01T00:00:00Z", "talker"]);
    assert_eq!(future.stdout, "");
}

#[test]
fn logs_follow_ends_when_the_container_does() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "ticker",
            "bb",
            "sh",
            "-c",
            "for i in 1 2 3; do echo tick$i; sleep 0.2; done",
        ],
    );
    let start = Instant::now();
    let run = f.berth(&["logs", "-f", "ticker"]);
    assert_eq!(run.stdout, "tick1\ntick2\ntick3\n");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn stop_kills_a_process_that_ignores_sigterm_after_the_timeout() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "stubborn",
            "bb",
            "sh",
            "-c",
            "trap '' TERM; echo ready; while true; do sleep 1; done",
        ],
    );
    wait_for_log(&f, "stubborn", "ready");
    let start = Instant::now();
    let stop = f.berth(&["stop", "-t", "1", "stubborn"]);
    let took = start.elapsed();
    assert_eq!(stop.stdout, "stubborn\n", "{}", stop.stderr);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(f.berth(&["wait", "stubborn"]).stdout, "137\n");
}

#[test]
fn stop_is_quick_for_a_container_that_exits_on_sigterm() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "polite",
            "bb",
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo ready; while true; do sleep 1; done",
        ],
    );
    wait_for_log(&f, "polite", "ready");
    let start = Instant::now();
    assert_eq!(f.berth(&["stop", "polite"]).code, 0);
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(f.berth(&["wait", "polite"]).stdout, "0\n");
}

#[test]
fn kill_rm_and_wait() {
    let f = Fixture::new();
    // pid 1 only gets signals it handles (but always SIGKILL).
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "target",
            "bb",
            "sh",
            "-c",
            "trap 'exit 7' USR1; echo ready; while true; do sleep 1; done",
        ],
    );
    wait_for_log(&f, "target", "ready");
    let refused = f.berth(&["rm", "target"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("container is running"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        f.berth(&["kill", "-s", "USR1", "target"]).stdout,
        "target\n"
    );
    assert_eq!(f.berth(&["wait", "target"]).stdout, "7\n");
    id_of(&f, &["start", "target"]);
    assert_eq!(f.berth(&["kill", "target"]).stdout, "target\n");
    assert_eq!(f.berth(&["wait", "target"]).stdout, "137\n");
    let again = f.berth(&["kill", "target"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("is not running"), "{}", again.stderr);
    assert_eq!(f.berth(&["rm", "target"]).stdout, "target\n");
    assert!(f.containers().is_empty());
    let missing = f.berth(&["rm", "target"]);
    assert!(
        missing.stderr.contains("No such container: target"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_killed_monitor_never_leaves_a_container_running() {
    let f = Fixture::new();
    let id = id_of(&f, &["run", "-d", "--name", "orphan", "bb", "sleep", "60"]);
    let state = f.state(&id);
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "{state}");
    let monitor = parent_of(pid);
    assert!(monitor > 1, "no monitor above {pid}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    );
    // Dead, not necessarily reaped: a zombie must not count as running.
    for _ in 0..200 {
        if dead(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let ps = f.berth(&["ps", "-a"]);
    assert!(ps.stdout.contains("Exited (137)"), "{}", ps.stdout);
    let cgroup = std::path::Path::new("/sys/fs/cgroup/memory/berth").join(&id);
    assert!(!cgroup.exists(), "the dead monitor's cgroup is still there");
    assert_eq!(f.berth(&["rm", "orphan"]).code, 0);
}

fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    after
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[test]
fn pause_top_inspect_update_rename_restart() {
    let f = Fixture::new();
    let id = id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "-m",
            "64m",
            "bb",
            "sh",
            "-c",
            "sleep 100 & sleep 100 & wait",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let top = f.berth(&["top", "svc"]);
    assert!(top.stdout.starts_with("UID"), "{}", top.stdout);
    // The shell and its two sleeps.
    assert_eq!(top.stdout.lines().count(), 4, "{}", top.stdout);
    assert_eq!(
        top.stdout
            .lines()
            .filter(|l| l.ends_with("   sleep 100"))
            .count(),
        2,
        "{}",
        top.stdout
    );
    assert_eq!(f.berth(&["pause", "svc"]).code, 0);
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer/berth")
        .join(&id)
        .join("freezer.state");
    assert_eq!(
        std::fs::read_to_string(&freezer).unwrap_or_default().trim(),
        "FROZEN"
    );
    let status = f.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}}",
        "svc",
    ]);
    assert_eq!(status.stdout, "paused true\n");
    assert_eq!(f.berth(&["unpause", "svc"]).code, 0);
    assert_eq!(
        std::fs::read_to_string(&freezer).unwrap_or_default().trim(),
        "THAWED"
    );
    assert_eq!(f.berth(&["update", "-m", "96m", "svc"]).code, 0);
    let limit = std::path::Path::new("/sys/fs/cgroup/memory/berth")
        .join(&id)
        .join("memory.limit_in_bytes");
    assert_eq!(
        std::fs::read_to_string(&limit).unwrap_or_default().trim(),
        (96u64 << 20).to_string()
    );
    let memory = f.berth(&["inspect", "-f", "{{.HostConfig.Memory}}", "svc"]);
    assert_eq!(memory.stdout, format!("{}\n", 96u64 << 20));
    assert_eq!(f.berth(&["rename", "svc", "renamed"]).code, 0);
    assert_eq!(
        f.berth(&["inspect", "-f", "{{.Name}}", &id[..12]]).stdout,
        "/renamed\n"
    );
    let before = f.state(&id)["pid"].clone();
    assert_eq!(
        f.berth(&["restart", "-t", "1", "renamed"]).stdout,
        "renamed\n"
    );
    assert_ne!(f.state(&id)["pid"], before);
    assert_eq!(f.state(&id)["status"], "running");
    let json = f.berth(&["inspect", "renamed"]);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_default();
    assert_eq!(parsed[0]["Id"], id.as_str());
    assert_eq!(parsed[0]["Config"]["Image"], "bb");
    assert_eq!(f.berth(&["rm", "-f", "renamed"]).code, 0);
    assert!(!limit.exists(), "rm left the cgroup");
}

#[test]
fn exec_joins_every_namespace_with_the_same_confinement() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "box",
            "-h",
            "boxhost",
            "-e",
            "FOO=bar",
            "bb",
            "sh",
            "-c",
            "echo $$ > /tmp/init-pid; sleep 60",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let run = f.berth(&["exec", "box", "sh", "-c", "cat /tmp/init-pid; hostname; echo $FOO; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; ls /proc/$$/fd; exit 9"]);
    assert_eq!(run.code, 9, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "1\nboxhost\nbar\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n0\n1\n2\n"
    );
    let user = f.berth(&[
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "X=1",
        "box",
        "sh",
        "-c",
        "id -u; pwd; echo $X",
    ]);
    assert_eq!(user.stdout, "65534\n/tmp\n1\n");
    assert_eq!(f.berth(&["exec", "box", "nope"]).code, 127);
    assert_eq!(f.berth(&["exec", "box", "/etc/passwd"]).code, 126);
    assert_eq!(
        f.berth(&["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"])
            .code,
        0
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        f.berth(&["exec", "box", "cat", "/tmp/d"]).stdout,
        "detached\n"
    );
    // The exec's process is in the container's cgroup and pid namespace.
    let procs = f.berth(&[
        "exec",
        "box",
        "sh",
        "-c",
        "cat /proc/self/cgroup | grep memory; echo $$",
    ]);
    assert!(
        procs.stdout.starts_with("4:memory:/\n") || procs.stdout.contains(":memory:/\n"),
        "{}",
        procs.stdout
    );
    assert_eq!(f.berth(&["stop", "-t", "0", "box"]).code, 0);
    let stopped = f.berth(&["exec", "box", "true"]);
    assert_eq!(stopped.code, 125);
    assert!(
        stopped.stderr.contains("is not running"),
        "{}",
        stopped.stderr
    );
}

fn wait_for_status(f: &Fixture, name: &str, status: &str) -> String {
    for _ in 0..500 {
        let run = f.berth(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", name]);
        if run.stdout.starts_with(status) {
            return run.stdout;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name} never reached {status}");
}

#[test]
fn on_failure_restarts_with_backoff_up_to_the_maximum() {
    let f = Fixture::new();
    let start = Instant::now();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            "bb",
            "sh",
            "-c",
            "echo run; exit 5",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    let done = wait_for_status(&f, "flaky", "exited 2");
    let took = start.elapsed();
    assert_eq!(done, "exited 2\n");
    // Two restarts after 100 ms and 200 ms.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(f.berth(&["logs", "flaky"]).stdout, "run\nrun\nrun\n");
    let policy = f.berth(&[
        "inspect",
        "-f",
        "{{json .HostConfig.RestartPolicy}} {{.State.ExitCode}}",
        "flaky",
    ]);
    assert_eq!(
        policy.stdout,
        "{\"MaximumRetryCount\":2,\"Name\":\"on-failure\"} 5\n"
    );
}

#[test]
fn always_restarts_until_stopped_and_stop_is_prompt() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "forever",
            "--restart",
            "always",
            "bb",
            "sh",
            "-c",
            "echo tick; sleep 0.2; exit 0",
        ],
    );
    std::thread::sleep(Duration::from_millis(1200));
    let count: u32 = f
        .berth(&["inspect", "-f", "{{.RestartCount}}", "forever"])
        .stdout
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(count >= 2, "only {count} restarts");
    let start = Instant::now();
    assert_eq!(f.berth(&["stop", "forever"]).code, 0);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let after = f
        .berth(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "forever",
        ])
        .stdout;
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        f.berth(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "forever"
        ])
        .stdout,
        after
    );
    assert!(after.starts_with("exited"), "{after}");
}

#[test]
fn restart_and_rm_conflict() {
    let f = Fixture::new();
    let run = f.berth(&["run", "--rm", "--restart", "always", "bb", "true"]);
    assert_eq!(run.code, 125);
    assert!(
        run.stderr
            .contains("Conflicting options: --restart and --rm"),
        "{}",
        run.stderr
    );
    let bad = f.berth(&["run", "--restart", "sometimes", "bb", "true"]);
    assert_eq!(bad.code, 125);
}

#[test]
fn health_checks_follow_the_container_and_show_in_ps_and_inspect() {
    let f = Fixture::new();
    // Healthy while /tmp/ok exists: from 0.6 s to 1.6 s.
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "hc",
            "--health-cmd",
            "test -f /tmp/ok && echo fine",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "--health-start-period",
            "5s",
            "--health-start-interval",
            "100ms",
            "bb",
            "sh",
            "-c",
            "sleep 0.6; touch /tmp/ok; sleep 1; rm /tmp/ok; sleep 30",
        ],
    );
    let status = |f: &Fixture| {
        f.berth(&["inspect", "-f", "{{.State.Health.Status}}", "hc"])
            .stdout
    };
    assert_eq!(
        status(&f),
        "starting\n",
        "failures in the start period do not count"
    );
    let mut seen = Vec::new();
    let mut healthy_log = String::new();
    for _ in 0..60 {
        let s = status(&f).trim().to_string();
        if s == "healthy" && healthy_log.is_empty() {
            healthy_log = f
                .berth(&["inspect", "-f", "{{json .State.Health.Log}}", "hc"])
                .stdout;
        }
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, ["starting", "healthy", "unhealthy"], "{seen:?}");
    let ps = f.berth(&["ps"]);
    assert!(ps.stdout.contains("(unhealthy)"), "{}", ps.stdout);
    let log = f.berth(&["inspect", "-f", "{{json .State.Health}}", "hc"]);
    let health: serde_json::Value = serde_json::from_str(&log.stdout).unwrap_or_default();
    assert!(
        health["FailingStreak"].as_u64().unwrap_or(0) >= 2,
        "{health}"
    );
    let results = health["Log"].as_array().cloned().unwrap_or_default();
    assert!(results.len() <= 5 && !results.is_empty());
    assert!(
        healthy_log.contains("\"Output\":\"fine\\n\""),
        "{healthy_log}"
    );
}

#[test]
fn fifty_parallel_runs_all_succeed_with_unique_names() {
    let f = Fixture::new();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| s.spawn(|| f.berth(&["run", "-d", "bb", "sleep", "20"])))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(run) => {
                    assert_eq!(run.code, 0, "{}", run.stderr);
                    run.stdout.trim().to_string()
                }
                Err(_) => panic!("a run thread panicked"),
            })
            .collect()
    });
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 50);
    let names = f.berth(&["ps", "--format", "json"]).stdout;
    let names: std::collections::BTreeSet<String> = names
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["Names"].as_str().map(String::from))
        .collect();
    assert_eq!(names.len(), 50, "running with distinct names");
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    assert_eq!(f.berth(&args).code, 0);
    for id in &ids {
        assert!(
            !std::path::Path::new("/sys/fs/cgroup/pids/berth")
                .join(id)
                .exists(),
            "cgroup of {id} left"
        );
    }
}

#[test]
fn stats_show_cpu_memory_limit_and_pids() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "burner",
            "-m",
            "64m",
            "bb",
            "sh",
            "-c",
            "sleep 30 & while true; do :; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let run = f.berth(&["stats", "--no-stream", "burner"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row = run.stdout.lines().nth(1).unwrap_or("").to_string();
    let cols: Vec<&str> = row
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cols.get(1), Some(&"burner"), "{row}");
    let cpu: f64 = cols
        .get(2)
        .and_then(|c| c.trim_end_matches('%').parse().ok())
        .unwrap_or(0.0);
    assert!(cpu > 30.0, "a busy loop uses CPU: {row}");
    assert!(cols.get(3).is_some_and(|m| m.ends_with("/ 64MiB")), "{row}");
    assert_eq!(cols.last(), Some(&"2"), "the shell and its sleep: {row}");
}

/// `events` from `start` until now, with more flags.
fn events_since(f: &Fixture, start: &str, more: &[&str]) -> support::cli::Run {
    let mut args = vec!["events", "--since", start, "--until", "0s"];
    args.extend_from_slice(more);
    f.berth(&args)
}

#[test]
fn events_record_the_lifecycle() {
    let f = Fixture::new();
    let start = chrono::Utc::now().to_rfc3339();
    assert_eq!(
        f.berth(&["run", "--name", "ev", "bb", "sh", "-c", "exit 3"])
            .code,
        3
    );
    assert_eq!(f.berth(&["rename", "ev", "ev2"]).code, 0);
    assert_eq!(f.berth(&["rm", "ev2"]).code, 0);
    // The start and exit also connect and disconnect the default network.
    let events = events_since(&f, &start, &["--format", "json", "-f", "type=network"]);
    assert!(
        events.stdout.contains("\"connect\"") && events.stdout.contains("\"disconnect\""),
        "{}",
        events.stdout
    );
    let events = events_since(&f, &start, &["--format", "json", "-f", "type=container"]);
    let actions: Vec<String> = events
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["Action"].as_str().map(String::from))
        .collect();
    assert_eq!(
        actions,
        ["create", "start", "die", "rename", "destroy"],
        "{}",
        events.stdout
    );
    let dies = events_since(&f, &start, &["-f", "event=die"]);
    assert_eq!(dies.stdout.lines().count(), 1);
    assert!(dies.stdout.contains("exitCode=3"), "{}", dies.stdout);
}

/// The monitor of a detached container (its init's parent).
fn kill_monitor(f: &Fixture, id: &str) {
    let pid = f.state(id)["pid"].as_i64().unwrap_or(0) as i32;
    let monitor = parent_of(pid);
    assert!(monitor > 1 && pid > 0, "no monitor for {id}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    );
    for _ in 0..200 {
        if dead(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("container {id} outlived its monitor");
}

/// Gone, or a zombie: pid 1, which inherits an init whose monitor died, may
/// take its time to reap it.
fn dead(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')').next().is_some_and(|r| r.starts_with(" Z"))
    })
}

#[test]
fn system_restore_brings_back_what_the_policies_say_and_is_idempotent() {
    let f = Fixture::new();
    let always = id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "always",
            "--restart",
            "always",
            "bb",
            "sleep",
            "60",
        ],
    );
    let unless = id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "unless",
            "--restart",
            "unless-stopped",
            "bb",
            "sleep",
            "60",
        ],
    );
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "stopped",
            "--restart",
            "unless-stopped",
            "bb",
            "sleep",
            "60",
        ],
    );
    let plain = id_of(&f, &["run", "-d", "--name", "plain", "bb", "sleep", "60"]);
    assert_eq!(f.berth(&["stop", "-t", "0", "stopped"]).code, 0);
    // A crash: every monitor dies, and its container with it.
    for id in [&always, &unless, &plain] {
        kill_monitor(&f, id);
    }
    assert_eq!(
        f.berth(&["ps", "-q"]).stdout,
        "",
        "nothing runs after the crash"
    );
    let restored = f.berth(&["system", "restore"]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(restored.stdout, "always\nunless\n");
    let running = f.berth(&["ps", "--format", "json"]).stdout;
    assert!(
        running.contains("\"Names\":\"always\"") && running.contains("\"Names\":\"unless\""),
        "{running}"
    );
    assert!(
        !running.contains("\"Names\":\"plain\"") && !running.contains("\"Names\":\"stopped\""),
        "{running}"
    );
    let again = f.berth(&["system", "restore"]);
    assert_eq!(again.stdout, "", "already running: nothing to do");
}

#[test]
fn cp_copies_both_ways_and_symlinks_never_reach_the_host() {
    let f = Fixture::new();
    let host = f.work.path().join("host");
    std::fs::create_dir_all(&host).unwrap_or_default();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "box",
            "bb",
            "sh",
            "-c",
            "mkdir -p /data/sub; echo inside > /data/sub/f; ln -s / /data/escape; ln -s /etc /data/etc; sleep 60",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let out = host.join("f.txt");
    assert_eq!(
        f.berth(&["cp", "box:/data/sub/f", &out.display().to_string()])
            .code,
        0
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "inside\n"
    );
    assert_eq!(
        f.berth(&["cp", "box:/data", &host.display().to_string()])
            .code,
        0
    );
    assert_eq!(
        std::fs::read_to_string(host.join("data/sub/f")).unwrap_or_default(),
        "inside\n"
    );
    assert!(
        std::fs::symlink_metadata(host.join("data/etc")).is_ok_and(|m| m.file_type().is_symlink()),
        "symlinks are copied as links"
    );
    // Into the container, through a symlink that points at "/": it resolves
    // inside the container, never on the host.
    let probe = host.join("probe");
    std::fs::write(&probe, "from-host").unwrap_or_default();
    let victim = format!("/tmp/berth-cp-victim-{}", std::process::id());
    let through = format!("box:/data/escape{victim}");
    assert_eq!(
        f.berth(&["cp", &probe.display().to_string(), &through])
            .code,
        0
    );
    assert!(
        !std::path::Path::new(&victim).exists(),
        "cp wrote a host file"
    );
    assert_eq!(
        f.berth(&["exec", "box", "cat", &victim]).stdout,
        "from-host"
    );
    // A tar on stdout, and a stopped container.
    let tar = f.berth(&["cp", "box:/etc/passwd", "-"]);
    assert!(tar.stdout.contains("root:x:0:0"), "{}", tar.stdout.len());
    assert_eq!(f.berth(&["stop", "-t", "0", "box"]).code, 0);
    let again = host.join("after-stop.txt");
    assert_eq!(
        f.berth(&["cp", "box:/data/sub/f", &again.display().to_string()])
            .code,
        0
    );
    assert_eq!(
        std::fs::read_to_string(&again).unwrap_or_default(),
        "inside\n"
    );
    let missing = f.berth(&["cp", "box:/nope", &host.display().to_string()]);
    assert_eq!(missing.code, 1, "docker cp exits 1 on a daemon error");
    assert!(missing.stderr.contains("/nope"), "{}", missing.stderr);
}

#[test]
fn log_rotation_bounds_the_log() {
    let f = Fixture::new();
    let id = id_of(
        &f,
        &[
            "create",
            "--name",
            "chatty",
            "--log-opt",
            "max-size=2k",
            "--log-opt",
            "max-file=3",
            "bb",
            "sh",
            "-c",
            "for i in $(seq 1 500); do echo line-$i; done",
        ],
    );
    assert_eq!(f.berth(&["start", "-a", "chatty"]).code, 0);
    let dir = f.root.join("containers").join(&id);
    let mut total = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().contains("-json.log") {
            files += 1;
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    assert_eq!(files, 3);
    assert!(total <= 3 * 2048, "{total} bytes kept");
    let logs = f.berth(&["logs", "chatty"]).stdout;
    assert!(logs.ends_with("line-500\n"), "the newest lines are kept");
    assert!(!logs.starts_with("line-1\n"), "the oldest are gone");
    assert_eq!(
        f.berth(&["run", "--log-opt", "bogus=1", "bb", "true"]).code,
        125
    );
}

#[test]
fn plan_sees_local_images_and_containers() {
    let f = Fixture::new();
    let stack = f.work.path().join("compose.yaml");
    std::fs::write(
        &stack,
        "name: demo\nservices:\n  app:\n    image: bb\n    command: [sleep, '5']\n",
    )
    .unwrap_or_default();
    let plan = f.berth(&[
        "plan",
        "-f",
        &stack.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap_or_default();
    let pulls = json["ops"].as_array().map_or(0, |ops| {
        ops.iter().filter(|o| o["action"] == "pull").count()
    });
    assert_eq!(pulls, 0, "bb is in the store: {}", plan.stdout);
}

fn attach_with_input(f: &Fixture, name: &str, input: &[u8], pause_ms: u64) -> support::cli::Run {
    use std::io::Write;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&f.root)
        .args(["attach", name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        panic!("cannot run berth attach")
    };
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::sleep(Duration::from_millis(pause_ms));
        let _ = stdin.write_all(input);
        std::thread::sleep(Duration::from_millis(pause_ms));
    }
    match child.wait_with_output() {
        Ok(out) => out.into(),
        Err(e) => panic!("attach: {e}"),
    }
}

#[test]
fn attach_streams_output_takes_input_and_detaches() {
    let f = Fixture::new();
    id_of(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "ticker",
            "bb",
            "sh",
            "-c",
            "sleep 0.3; echo out; echo err >&2; exit 4",
        ],
    );
    let run = f.berth(&["attach", "ticker"]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (4, "out\n", "err\n")
    );
    id_of(
        &f,
        &[
            "run",
            "-d",
            "-i",
            "--name",
            "echo",
            "bb",
            "sh",
            "-c",
            "while read l; do echo seen-$l; done",
        ],
    );
    let run = attach_with_input(&f, "echo", b"one\n\x10\x11", 300);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("seen-one"), "{}", run.stdout);
    assert!(
        run.stderr.contains("read escape sequence"),
        "{}",
        run.stderr
    );
    assert!(
        f.berth(&["ps", "-q", "-f", "name=echo"])
            .stdout
            .trim()
            .len()
            == 12,
        "still running after detach"
    );
    let stopped = f.berth(&["attach", "ticker"]);
    assert_eq!(stopped.code, 125);
}

/// `logs` maps the log file; a log cut short meanwhile (`truncate -s 0`, a
/// common way to clear docker logs) ends it with a message, not a crash.
#[test]
fn logs_of_a_log_truncated_while_read_end_with_a_message() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let f = Fixture::new();
    let script = "yes 'a line of output, about forty bytes long' | head -c 12000000";
    assert_eq!(
        f.berth(&["run", "--name", "big", "bb", "sh", "-c", script])
            .code,
        0
    );
    let id = id_of(&f, &["inspect", "-f", "{{.Id}}", "big"]);
    let log = f
        .root
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let mut reader = match Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&f.root)
        .args(["logs", "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("spawning logs: {e}"),
    };
    // Nobody reads yet: the writer blocks on the pipe and the decoders stop a
    // few blocks in, with most of the file still to read.
    std::thread::sleep(Duration::from_millis(500));
    let cut = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .and_then(|file| file.set_len(0));
    assert!(cut.is_ok(), "truncating {}: {cut:?}", log.display());
    let mut out = Vec::new();
    let mut err = String::new();
    let (Some(mut stdout), Some(mut stderr)) = (reader.stdout.take(), reader.stderr.take()) else {
        panic!("no pipes");
    };
    assert!(stdout.read_to_end(&mut out).is_ok());
    assert!(stderr.read_to_string(&mut err).is_ok());
    let status = reader.wait().map(|s| s.code());
    assert_eq!(status.ok().flatten(), Some(1), "stderr: {err}");
    assert!(
        err.contains("the log file was truncated while it was being read"),
        "{err}"
    );
    assert!(
        !out.is_empty() && out.len() < 12_000_000,
        "{} bytes",
        out.len()
    );
    assert!(out.starts_with(b"a line of output"));
}

#[test]
fn events_after_a_rename_carry_the_new_name() {
    let f = Fixture::new();
    let start = chrono::Utc::now().to_rfc3339();
    id_of(&f, &["run", "-d", "--name", "before", "bb", "sleep", "30"]);
    assert_eq!(f.berth(&["rename", "before", "after"]).code, 0);
    assert_eq!(f.berth(&["kill", "after"]).code, 0);
    assert_eq!(f.berth(&["wait", "after"]).stdout.trim(), "137");
    let dies = events_since(&f, &start, &["-f", "event=die", "--format", "json"]);
    let die: serde_json::Value = serde_json::from_str(dies.stdout.trim()).unwrap_or_default();
    assert_eq!(
        die["Actor"]["Attributes"]["name"], "after",
        "{}",
        dies.stdout
    );
    assert_eq!(f.berth(&["rm", "after"]).code, 0);
}

#[test]
fn info_and_version_read_as_docker_prints_them() {
    let f = Fixture::new();
    id_of(&f, &["run", "-d", "--name", "counted", "bb", "sleep", "30"]);
    let info = f.berth(&["info"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    for line in [
        "Containers: 1\n Running: 1\n Paused: 0\n Stopped: 0\n",
        "Images: 1\n",
        "Storage Driver: overlay\n",
        "Cgroup Driver: cgroupfs\nCgroup Version: ",
        &format!("Berth Root Dir: {}\n", f.root.display()),
    ] {
        assert!(info.stdout.contains(line), "{line:?} in:\n{}", info.stdout);
    }
    let version = f.berth(&["version"]);
    assert!(
        version.stdout.starts_with("Client: berth\n Version:"),
        "{}",
        version.stdout
    );
    assert!(
        version.stdout.contains("\nServer: berth\n Engine:\n"),
        "{}",
        version.stdout
    );
    assert!(
        version.stdout.contains(" API version:       1."),
        "{}",
        version.stdout
    );
    assert_eq!(f.berth(&["rm", "-f", "counted"]).code, 0);
}

#[test]
fn rm_force_and_kill_reach_a_paused_container() {
    let f = Fixture::new();
    id_of(&f, &["run", "-d", "--name", "frozen", "bb", "sleep", "60"]);
    id_of(&f, &["run", "-d", "--name", "frozen2", "bb", "sleep", "60"]);
    for name in ["frozen", "frozen2"] {
        assert_eq!(f.berth(&["pause", name]).code, 0);
    }
    let start = Instant::now();
    assert_eq!(f.berth(&["kill", "frozen2"]).code, 0);
    assert_eq!(f.berth(&["wait", "frozen2"]).stdout.trim(), "137");
    let rm = f.berth(&["rm", "-f", "frozen"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(f.berth(&["rm", "frozen2"]).code, 0);
}

/// A commit freezes the container and marks it so; a commit killed before it
/// thawed it (the mark's owner is dead) leaves a freeze the next command undoes.
#[test]
fn a_killed_commits_freeze_is_undone() {
    let f = Fixture::new();
    let id = id_of(&f, &["run", "-d", "--name", "held", "bb", "sleep", "60"]);
    assert_eq!(f.berth(&["pause", "held"]).code, 0);
    let mark = f.root.join("containers").join(&id).join("commit.freeze");
    // No process has pid 2^22 + 1 (above the kernel's pid_max limit).
    assert!(std::fs::write(&mark, "4194305 1").is_ok());
    let state = f.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}}",
        "held",
    ]);
    assert_eq!(state.stdout.trim(), "running false", "{}", state.stderr);
    assert_eq!(
        f.berth(&["exec", "held", "true"]).code,
        0,
        "the container is still frozen"
    );
    assert!(!mark.exists());
    // A user's pause stays.
    assert_eq!(f.berth(&["pause", "held"]).code, 0);
    let state = f.berth(&["inspect", "-f", "{{.State.Status}}", "held"]);
    assert_eq!(state.stdout.trim(), "paused");
    assert_eq!(f.berth(&["rm", "-f", "held"]).code, 0);
}
