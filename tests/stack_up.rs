//! `berth up`, `down` and `apply` end to end (root): each test has its own
//! root and bridge (support::runtime::Fixture), its own project name and a
//! stack file built on the busybox image `bb`.

mod support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::cli::Run;
use support::runtime::Fixture;

struct Stack {
    fx: Fixture,
    project: String,
    file: PathBuf,
}

impl Stack {
    fn new(tag: &str) -> Stack {
        let fx = Fixture::new();
        let project = format!("{tag}{}", &fx.bridge[2..]);
        let file = fx.work.path().join("compose.yaml");
        Stack { fx, project, file }
    }

    fn write(&self, yaml: &str) {
        if let Err(e) = std::fs::write(&self.file, yaml) {
            panic!("writing {}: {e}", self.file.display());
        }
    }

    fn run(&self, verb: &str, extra: &[&str]) -> Run {
        let file = self.file.to_string_lossy().into_owned();
        let mut args = vec![verb, "-f", file.as_str(), "-p", self.project.as_str()];
        args.extend_from_slice(extra);
        self.fx.berth(&args)
    }

    fn up(&self, extra: &[&str]) -> Run {
        let mut args = vec!["-d"];
        args.extend_from_slice(extra);
        self.run("up", &args)
    }

    fn ok(&self, run: Run) -> Run {
        assert_eq!(
            run.code, 0,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    /// Container name -> id of the project's containers, from their records.
    fn ids(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for id in self.fx.containers() {
            let path = self
                .fx
                .root
                .join("containers")
                .join(&id)
                .join("config.json");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let rec: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let name = rec["name"].as_str().unwrap_or_default().to_string();
            if name.starts_with(&self.project) {
                out.push((name, id));
            }
        }
        out.sort();
        out
    }

    fn names(&self) -> Vec<String> {
        self.ids().into_iter().map(|(n, _)| n).collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .fx
            .berth(&["down", "-p", self.project.as_str(), "-v", "-t", "1"]);
    }
}

fn web_stack(port: u16, greeting: &str) -> String {
    format!(
        r#"services:
  web:
    image: bb
    command: ["sh", "-c", "mkdir -p /srv; echo $$GREETING > /srv/index.html; httpd -f -p 8080 -h /srv"]
    environment:
      GREETING: "{greeting}"
    ports: ["127.0.0.1:{port}:8080"]
    volumes: ["data:/data"]
  worker:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
volumes:
  data: {{}}
"#
    )
}

fn port(offset: u16) -> u16 {
    20000 + (std::process::id() as u16 % 20000) + offset
}

#[test]
fn up_serves_and_a_second_up_changes_nothing() {
    let s = Stack::new("web");
    let p = port(1);
    s.write(&web_stack(p, "hello"));
    let first = s.ok(s.up(&[]));
    assert!(first.stderr.contains("Started"), "{}", first.stderr);
    assert!(support::net::http_get(p, "/index.html").contains("hello"));
    let before = s.ids();
    assert_eq!(
        before.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        [
            format!("{}-web-1", s.project),
            format!("{}-worker-1", s.project)
        ]
    );
    let again = s.ok(s.up(&[]));
    assert!(again.stderr.contains("Nothing to do"), "{}", again.stderr);
    assert_eq!(s.ids(), before);
}

#[test]
fn a_changed_environment_recreates_only_that_service() {
    let s = Stack::new("env");
    let p = port(2);
    s.write(&web_stack(p, "a"));
    s.ok(s.up(&[]));
    let before = s.ids();
    s.write(&web_stack(p, "b"));
    let run = s.ok(s.up(&[]));
    assert!(
        run.stderr.contains(r#"environment.GREETING: "a" -> "b""#),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Recreated"), "{}", run.stderr);
    let after = s.ids();
    assert_ne!(after[0].1, before[0].1, "web was not recreated");
    assert_eq!(after[1], before[1], "worker was recreated");
    assert!(support::net::http_get(p, "/index.html").contains('b'));
}

#[test]
fn an_unhealthy_dependency_fails_up_naming_it() {
    let s = Stack::new("sick");
    s.write(
        r#"services:
  db:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 200ms
      retries: 2
  app:
    image: bb
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
"#,
    );
    let run = s.up(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}-db-1 is unhealthy", s.project)),
        "{}",
        run.stderr
    );
}

#[test]
fn a_completed_job_runs_first_and_only_once() {
    let s = Stack::new("job");
    s.write(
        r#"services:
  migrate:
    image: bb
    command: ["sh", "-c", "sleep 0.3; echo done"]
  app:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    depends_on:
      migrate: {condition: service_completed_successfully}
"#,
    );
    s.ok(s.up(&[]));
    let before = s.ids();
    assert_eq!(before.len(), 2);
    let again = s.ok(s.up(&[]));
    assert!(again.stderr.contains("Nothing to do"), "{}", again.stderr);
    assert_eq!(s.ids(), before);
}

#[test]
fn scale_down_and_orphans() {
    let s = Stack::new("scale");
    let two = r#"services:
  w:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
  old:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
"#;
    s.write(two);
    s.ok(s.up(&["--scale", "w=3"]));
    assert_eq!(s.names().len(), 4);
    s.write(
        r#"services:
  w:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
"#,
    );
    let run = s.ok(s.up(&["--scale", "w=2"]));
    assert!(run.stderr.contains("orphan"), "{}", run.stderr);
    let names = s.names();
    assert!(names.contains(&format!("{}-old-1", s.project)));
    assert!(!names.contains(&format!("{}-w-3", s.project)), "{names:?}");
    s.ok(s.up(&["--scale", "w=2", "--remove-orphans"]));
    assert_eq!(
        s.names(),
        [format!("{}-w-1", s.project), format!("{}-w-2", s.project)]
    );
}

#[test]
fn down_leaves_nothing_and_works_from_the_project_name() {
    let s = Stack::new("down");
    let p = port(3);
    s.write(&web_stack(p, "x"));
    s.ok(s.up(&[]));
    support::net::http_get(p, "/index.html");
    let net = format!("{}_default", s.project);
    let inspect = s.fx.berth(&["network", "inspect", &net]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let down =
        s.fx.berth(&["down", "-p", s.project.as_str(), "-v", "-t", "2"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(s.names().is_empty());
    assert_ne!(s.fx.berth(&["network", "inspect", &net]).code, 0);
    let vols = s.fx.berth(&["volume", "ls", "-q"]);
    assert!(!vols.stdout.contains(&s.project), "{}", vols.stdout);
    let rules = std::process::Command::new("iptables-save").output();
    if let Ok(out) = rules {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(&format!("--dport {p}")),
            "rules left for port {p}"
        );
    }
    assert!(TcpStream::connect(("127.0.0.1", p)).is_err());
}

#[test]
fn apply_refuses_a_stale_plan() {
    let s = Stack::new("apply");
    s.write(
        r#"services:
  a:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
"#,
    );
    let plan = s.fx.work.path().join("plan.json");
    let plan_text = plan.to_string_lossy().into_owned();
    let made = s.run("plan", &["-o", &plan_text]);
    assert_eq!(made.code, 2, "{}", made.stderr);
    s.ok(s.run("apply", &[&plan_text]));
    assert_eq!(s.names(), [format!("{}-a-1", s.project)]);
    let stale = s.run("apply", &[&plan_text]);
    assert_eq!(stale.code, 1, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("changed since this plan"),
        "{}",
        stale.stderr
    );
}

#[test]
fn foreground_up_streams_prefixed_logs_and_ctrl_c_stops_gracefully() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let s = Stack::new("fg");
    s.write(
        r#"services:
  job:
    image: bb
    command: ["sh", "-c", "echo job says hi"]
  svc:
    image: bb
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo svc up; while :; do sleep 0.2; done"]
    depends_on:
      job:
        condition: service_completed_successfully
"#,
    );
    let file = s.file.to_string_lossy().into_owned();
    let spawned = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&s.fx.root)
        .args(["up", "-f", file.as_str(), "-p", s.project.as_str()])
        .current_dir(s.fx.work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => panic!("cannot run berth: {e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout pipe")
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines.iter().any(|l: &String| l.ends_with("svc up")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(e) => panic!("no `svc up` from the foreground up ({e}): {lines:?}"),
        }
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT) {
        panic!("SIGINT: {e}");
    }
    let status = match child.wait() {
        Ok(status) => status,
        Err(e) => panic!("waiting for up: {e}"),
    };
    let _ = reader.join();
    lines.extend(rx.try_iter());
    assert_eq!(status.code(), Some(130), "{lines:?}");
    for expected in ["job-1 | job says hi", "svc-1 | svc up", "svc-1 | bye"] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected:?} in {lines:?}"
        );
    }
    let ps = s.ok(s.fx.berth(&["ps", "-a"]));
    let svc = format!("{}-svc-1", s.project);
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.ends_with(&svc) && l.contains("Exited (0)")),
        "{}",
        ps.stdout
    );
    // Stopped by the user, so the next up starts it again; the job stays done.
    let again = s.ok(s.up(&[]));
    assert!(again.stderr.contains("svc-1  Started"), "{}", again.stderr);
    assert!(!again.stderr.contains("job-1  Started"), "{}", again.stderr);
}
