//! `berth stack <verb>` (and its alias `compose`) on a two-service project whose
//! containers are made with `run -d` and compose's labels, so these tests do not
//! depend on `up` (root).

mod support;

use std::time::{Duration, Instant};

use support::runtime::Fixture;

const PROJECT: &str = "sv";

/// `run -d` of one replica of `service`, labeled as `up` labels it.
fn replica(f: &Fixture, service: &str, deps: &str, extra: &[&str], script: &str) {
    let name = format!("{PROJECT}-{service}-1");
    let labels = [
        format!("com.docker.compose.project={PROJECT}"),
        format!("com.docker.compose.service={service}"),
        "com.docker.compose.container-number=1".to_string(),
        format!("com.docker.compose.depends_on={deps}"),
    ];
    let mut args = vec!["run", "-d", "--name", &name];
    for l in &labels {
        args.extend_from_slice(&["-l", l]);
    }
    args.extend_from_slice(extra);
    args.extend_from_slice(&["bb", "sh", "-c", script]);
    let run = f.berth(&args);
    assert_eq!(run.code, 0, "run {name}: {}", run.stderr);
}

/// db, and web depending on it with a published port.
fn project(f: &Fixture, port: u16) {
    replica(
        f,
        "db",
        "",
        &[],
        "echo db ready; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    );
    let publish = format!("127.0.0.1:{port}:80");
    replica(
        f,
        "web",
        "db:service_started:false",
        &["-p", &publish],
        "echo web ready; trap 'exit 0' TERM; httpd -p 80; while true; do sleep 0.1; done",
    );
}

fn stack(f: &Fixture, verb: &[&str]) -> support::cli::Run {
    let mut args = vec!["stack", "-p", PROJECT];
    args.extend_from_slice(verb);
    f.berth(&args)
}

fn ok(f: &Fixture, verb: &[&str]) -> String {
    let run = stack(f, verb);
    assert_eq!(run.code, 0, "stack {verb:?}: {}", run.stderr);
    run.stdout
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ps_logs_port_top_images_exec() {
    let f = Fixture::new();
    project(&f, 18471);
    let ps = ok(&f, &["ps"]);
    let header = ps.lines().next().unwrap_or_default();
    for column in [
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ] {
        assert!(header.contains(column), "{ps}");
    }
    assert!(ps.contains("sv-db-1") && ps.contains("sv-web-1"), "{ps}");
    assert!(ps.contains("127.0.0.1:18471->80/tcp"), "{ps}");
    assert_eq!(ok(&f, &["ps", "--services"]), "db\nweb\n");
    assert_eq!(ok(&f, &["ps", "-q", "web"]).lines().count(), 1);
    let json = ok(&f, &["ps", "--format", "json", "db"]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_default();
    assert_eq!(row["Service"], "db", "{json}");
    assert_eq!(row["State"], "running", "{json}");

    wait_until("both logs", || {
        let logs = ok(&f, &["logs", "--no-color"]);
        logs.contains("db-1  | db ready") && logs.contains("web-1 | web ready")
    });
    assert_eq!(
        ok(&f, &["logs", "--no-color", "web"]),
        "web-1 | web ready\n"
    );
    let stamped = ok(&f, &["logs", "-t", "--no-color", "--tail", "1", "db"]);
    assert!(stamped.starts_with("db-1 | 20"), "{stamped}");

    assert_eq!(ok(&f, &["port", "web", "80"]), "127.0.0.1:18471\n");
    assert_ne!(stack(&f, &["port", "web", "81"]).code, 0);

    let top = ok(&f, &["top", "db"]);
    assert!(top.starts_with("sv-db-1\nUID"), "{top}");
    let images = ok(&f, &["images"]);
    assert!(
        images.contains("CONTAINER") && images.contains("sv-web-1"),
        "{images}"
    );
    assert!(images.contains("bb"), "{images}");

    assert_eq!(
        ok(
            &f,
            &["exec", "-T", "-e", "X=1", "web", "sh", "-c", "echo $X"]
        ),
        "1\n"
    );
    let missing = stack(&f, &["exec", "-T", "nope", "true"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("nope"), "{}", missing.stderr);
}

#[test]
fn stop_start_restart_kill_rm_in_dependency_order() {
    let f = Fixture::new();
    project(&f, 18472);
    let stop = stack(&f, &["stop", "-t", "5"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    // Dependents first.
    let web = stop.stderr.find("sv-web-1  Stopped");
    let db = stop.stderr.find("sv-db-1  Stopping");
    assert!(web.is_some() && db.is_some() && web < db, "{}", stop.stderr);
    assert_eq!(ok(&f, &["ps", "-q"]), "");
    assert_eq!(ok(&f, &["ps", "-a", "-q"]).lines().count(), 2);

    let start = stack(&f, &["start"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let db = start.stderr.find("sv-db-1  Started");
    let web = start.stderr.find("sv-web-1  Starting");
    assert!(
        db.is_some() && web.is_some() && db < web,
        "{}",
        start.stderr
    );
    assert_eq!(ok(&f, &["ps", "-q"]).lines().count(), 2);

    let restart = stack(&f, &["restart", "-t", "5", "db"]);
    assert_eq!(restart.code, 0, "{}", restart.stderr);
    assert!(
        restart.stderr.contains("sv-db-1  Started"),
        "{}",
        restart.stderr
    );
    assert_eq!(ok(&f, &["ps", "-q"]).lines().count(), 2);

    // The alias, and kill.
    let kill = f.berth(&["compose", "-p", PROJECT, "kill", "-s", "KILL", "web"]);
    assert_eq!(kill.code, 0, "{}", kill.stderr);
    wait_until("web killed", || ok(&f, &["ps", "-q"]).lines().count() == 1);

    let rm = stack(&f, &["rm", "-f"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert!(rm.stderr.contains("sv-web-1  Removed"), "{}", rm.stderr);
    assert_eq!(ok(&f, &["ps", "-a", "--services"]), "db\n");
    let rm = stack(&f, &["rm", "-f", "-s", "-v"]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert!(f.containers().is_empty(), "{:?}", f.containers());
}

#[test]
fn project_from_the_stack_file_name() {
    let f = Fixture::new();
    project(&f, 18473);
    let file = f.work.path().join("compose.yaml");
    let text = format!("name: {PROJECT}\nservices:\n  db:\n    image: bb\n");
    if let Err(e) = std::fs::write(&file, text) {
        panic!("writing {}: {e}", file.display());
    }
    let run = f.berth(&["stack", "ps", "--services"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "db\nweb\n");
    let none = f.berth(&["stack", "-p", "other", "ps", "-a"]);
    assert_eq!(none.stdout.lines().count(), 1, "{}", none.stdout);
}

/// A crash of the container's monitor, as after a reboot: the container dies
/// with it (PDEATHSIG).
fn kill_monitor(f: &Fixture, name: &str) {
    let id = f
        .berth(&["inspect", "-f", "{{.Id}}", name])
        .stdout
        .trim()
        .to_string();
    let state = f.state(&id);
    let monitor = state["monitor_pid"].as_i64().unwrap_or(0) as i32;
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    assert!(monitor > 1 && pid > 0, "no monitor for {name}: {state}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_until("the container to die", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}

#[test]
fn system_restore_starts_a_stack_in_dependency_order_after_health() {
    let f = Fixture::new();
    // web is created first: restore's oldest-first order alone would start it first.
    let always = ["--restart", "always"];
    replica(
        &f,
        "web",
        "db:service_healthy:false",
        &always,
        "exec sleep 60",
    );
    let health = [
        "--restart",
        "always",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "20",
    ];
    replica(
        &f,
        "db",
        "",
        &health,
        "sleep 1; touch /tmp/ready; exec sleep 60",
    );
    // Healthy before the crash: restore must not take that old health for the
    // new run's.
    wait_until("db to be healthy", || {
        let json = ok(&f, &["ps", "--format", "json", "db"]);
        let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_default();
        row["Health"] == "healthy"
    });
    for name in ["sv-web-1", "sv-db-1"] {
        kill_monitor(&f, name);
    }
    assert_eq!(ok(&f, &["ps", "-q"]), "");
    let restored = f.berth(&["system", "restore"]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(restored.stdout, "sv-db-1\nsv-web-1\n");
    // web was started only once db was healthy.
    let json = ok(&f, &["ps", "--format", "json", "db"]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_default();
    assert_eq!(row["Health"], "healthy", "{json}");
    assert_eq!(ok(&f, &["ps", "-q"]).lines().count(), 2);
}
