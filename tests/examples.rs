//! The example stacks: each loads, plans, uses only the examples' image and
//! publishes only on 127.0.0.1; `examples/build-image.sh` builds that image
//! offline, idempotently (root).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::cli::berth;

const IMAGE: &str = "berth-examples/busybox:latest";
const EXAMPLES: [&str; 3] = ["web", "healthgate", "migrate"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compose_file(name: &str) -> String {
    repo()
        .join("examples/stacks")
        .join(name)
        .join("compose.yaml")
        .to_string_lossy()
        .into_owned()
}

fn temp() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

#[test]
fn every_example_loads_with_its_image_and_loopback_ports() {
    let work = temp();
    for name in EXAMPLES {
        let file = compose_file(name);
        let run = berth(
            work.path(),
            work.path(),
            &["config", "-f", &file, "--format", "json"],
        );
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let project: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_default();
        let services = project["services"].as_object().cloned().unwrap_or_default();
        assert!(
            !services.is_empty(),
            "{name}: no services in {}",
            run.stdout
        );
        for (service, body) in &services {
            assert_eq!(body["image"], IMAGE, "{name}/{service}");
            for port in body["ports"].as_array().cloned().unwrap_or_default() {
                assert_eq!(port["host_ip"], "127.0.0.1", "{name}/{service}: {port}");
            }
        }
    }
}

#[test]
fn every_example_plans() {
    let work = temp();
    let root = work.path().join("root");
    for name in EXAMPLES {
        let file = compose_file(name);
        let run = berth(&root, work.path(), &["plan", "-f", &file]);
        // 2: there are changes (everything is to be created).
        assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("create"), "{name}: {}", run.stdout);
    }
}

fn build_image(root: &Path) -> std::process::Output {
    let script = repo().join("examples/build-image.sh");
    let out = Command::new(script)
        .args(["--berth", env!("CARGO_BIN_EXE_berth"), "--root"])
        .arg(root)
        .output();
    match out {
        Ok(out) => out,
        Err(e) => panic!("running build-image.sh: {e}"),
    }
}

#[test]
fn build_image_is_offline_and_idempotent() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: building the image needs root");
        return;
    }
    let work = temp();
    let root = work.path().join("root");
    let first = build_image(&root);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = build_image(&root);
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let images = berth(&root, work.path(), &["images", "-q", IMAGE]);
    assert_eq!(images.stdout.lines().count(), 1, "{}", images.stdout);
    let run = berth(
        &root,
        work.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "httpd --help 2>&1 | head -1; wget --help 2>&1 | head -1",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// One example brought up end to end in its own root, bridge and project.
struct Running {
    fx: support::runtime::Fixture,
    project: String,
    file: String,
    port: String,
}

impl Running {
    fn up(example: &str) -> Running {
        let fx = support::runtime::Fixture::new();
        let built = build_image(&fx.root);
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let port = match std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr())
        {
            Ok(addr) => addr.port().to_string(),
            Err(e) => panic!("no free port: {e}"),
        };
        let running = Running {
            project: format!("{example}{}", &fx.bridge[2..]),
            file: compose_file(example),
            fx,
            port,
        };
        running.ok(&["up", "-d", "--wait", "--wait-timeout", "120"]);
        running
    }

    fn run(&self, verb: &str, extra: &[&str]) -> support::cli::Run {
        let mut args = vec![verb, "-f", self.file.as_str(), "-p", self.project.as_str()];
        args.extend_from_slice(extra);
        support::cli::berth_env(
            &self.fx.root,
            self.fx.work.path(),
            &args,
            &[("WEB_PORT", self.port.as_str())],
        )
    }

    fn ok(&self, args: &[&str]) -> support::cli::Run {
        let run = self.run(args[0], &args[1..]);
        assert_eq!(
            run.code, 0,
            "{args:?}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    fn name(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.project)
    }

    /// (action, container name) of every container event so far, in order.
    fn events(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.fx.root.join("events.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["Type"] == "container")
            .map(|e| {
                let action = e["Action"].as_str().unwrap_or_default().to_string();
                let name = e["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap_or_default();
                (action, name.to_string())
            })
            .collect()
    }

    fn position(&self, action: &str, name: &str) -> usize {
        let events = self.events();
        match events.iter().position(|(a, n)| a == action && n == name) {
            Some(i) => i,
            None => panic!("no {action:?} event of {name}: {events:?}"),
        }
    }

    /// `down -v` leaves no container, network or volume of the project.
    fn down_leaves_nothing(&self) {
        let down = self
            .fx
            .berth(&["down", "-p", self.project.as_str(), "-v", "-t", "2"]);
        assert_eq!(down.code, 0, "{}", down.stderr);
        assert!(
            self.fx.containers().is_empty(),
            "{:?}",
            self.fx.containers()
        );
        for verb in [["network", "ls"], ["volume", "ls"]] {
            let ls = self.fx.berth(&verb);
            assert!(
                !ls.stdout.contains(&self.project),
                "{verb:?}: {}",
                ls.stdout
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self
            .fx
            .berth(&["down", "-p", self.project.as_str(), "-v", "-t", "1"]);
    }
}

#[test]
fn web_example_serves_its_page_and_down_leaves_nothing() {
    let web = Running::up("web");
    let page = support::net::http_get(web.port.parse().unwrap_or_default(), "/");
    assert!(page.contains("hello from berth"), "{page}");
    let seed = web.position("die", &web.name("seed", 1));
    assert!(seed < web.position("start", &web.name("web", 1)));
    web.down_leaves_nothing();
}

#[test]
fn healthgate_example_starts_the_app_after_the_backend_is_healthy() {
    let gate = Running::up("healthgate");
    let healthy = gate.position("health_status: healthy", &gate.name("backend", 1));
    let app = gate.position("start", &gate.name("app", 1));
    assert!(healthy < app, "{:?}", gate.events());
    // The app prints once its request is answered, a moment after it starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let logs = gate.ok(&["stack", "logs", "app"]);
        if logs.stdout.contains("backend reachable") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", logs.stdout);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    gate.down_leaves_nothing();
}

#[test]
fn migrate_example_runs_the_job_once_before_the_api() {
    let m = Running::up("migrate");
    let job = m.name("migrate", 1);
    let ps = m.ok(&["stack", "ps", "-a"]);
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.contains(&job) && l.contains("Exited (0)")),
        "{}",
        ps.stdout
    );
    let done = m.position("die", &job);
    for n in [1, 2] {
        assert!(
            done < m.position("start", &m.name("api", n)),
            "{:?}",
            m.events()
        );
    }
    let again = m.ok(&["up", "-d"]);
    assert!(again.stderr.contains("Nothing to do"), "{}", again.stderr);
    let starts = m
        .events()
        .iter()
        .filter(|(a, n)| a == "start" && *n == job)
        .count();
    assert_eq!(starts, 1, "the job ran {starts} times");
    m.down_leaves_nothing();
}
