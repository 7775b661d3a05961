//! The partial and one-off stack operations end to end (root): `up SERVICE...`
//! and `--no-deps`, `restart: true`, a moved image tag, `down --rmi` and
//! `stack run`. Each test has its own root and bridge (support::runtime::Fixture)
//! and its own project; the Drop impls take everything down even on failure.

mod support;

use std::path::PathBuf;

use support::cli::Run;
use support::runtime::Fixture;

struct Stack {
    fx: Fixture,
    project: String,
    file: PathBuf,
}

impl Stack {
    fn new(tag: &str, yaml: &str) -> Stack {
        let fx = Fixture::new();
        let project = format!("{tag}{}", &fx.bridge[2..]);
        let file = fx.work.path().join("compose.yaml");
        if let Err(e) = std::fs::write(&file, yaml) {
            panic!("writing {}: {e}", file.display());
        }
        Stack { fx, project, file }
    }

    fn file(&self) -> String {
        self.file.to_string_lossy().into_owned()
    }

    /// `berth VERB -f FILE -p PROJECT EXTRA...`
    fn run(&self, verb: &str, extra: &[&str]) -> Run {
        let file = self.file();
        let mut args = vec![verb, "-f", file.as_str(), "-p", self.project.as_str()];
        args.extend_from_slice(extra);
        self.fx.berth(&args)
    }

    /// `berth stack -f FILE -p PROJECT EXTRA...`
    fn stack(&self, extra: &[&str]) -> Run {
        let file = self.file();
        let mut args = vec!["stack", "-f", file.as_str(), "-p", self.project.as_str()];
        args.extend_from_slice(extra);
        self.fx.berth(&args)
    }

    fn up(&self, extra: &[&str]) -> Run {
        let mut args = vec!["-d"];
        args.extend_from_slice(extra);
        ok(self.run("up", &args))
    }

    /// Names of the project's containers, sorted.
    fn names(&self) -> Vec<String> {
        let list = ok(self.fx.berth(&["ps", "-a", "--format", "json"])).stdout;
        let mut out: Vec<String> = list
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|c| c["Names"].as_str().map(str::to_string))
            .filter(|n| n.starts_with(&self.project))
            .collect();
        out.sort();
        out
    }

    fn inspect(&self, name: &str, template: &str) -> String {
        let run = ok(self.fx.berth(&["inspect", "-f", template, name]));
        run.stdout.trim().to_string()
    }

    fn name(&self, service: &str) -> String {
        format!("{}-{service}-1", self.project)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .fx
            .berth(&["down", "-p", self.project.as_str(), "-v", "-t", "1"]);
    }
}

fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

const CHAIN: &str = r#"services:
  db:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
  web:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    depends_on: [db]
  other:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
"#;

#[test]
fn up_of_named_services_brings_their_dependencies_and_leaves_the_rest() {
    let s = Stack::new("sel", CHAIN);
    let run = s.up(&["web"]);
    assert_eq!(s.names(), [s.name("db"), s.name("web")], "{}", run.stderr);
    assert!(!run.stderr.contains("orphan"), "{}", run.stderr);
    let again = s.up(&["web"]);
    assert!(again.stderr.contains("Nothing to do"), "{}", again.stderr);
    assert!(!again.stderr.contains("orphan"), "{}", again.stderr);

    s.up(&["--no-deps", "other"]);
    assert_eq!(s.names().len(), 3);
    let unknown = s.run("up", &["-d", "nope"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("no such service: nope"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn no_deps_starts_a_service_without_its_dependencies() {
    let s = Stack::new("nodeps", CHAIN);
    s.up(&["--no-deps", "web", "--scale", "web=2"]);
    assert_eq!(s.names(), [s.name("web"), format!("{}-web-2", s.project)]);
}

#[test]
fn restart_true_dependents_are_restarted_when_the_dependency_is_recreated() {
    let yaml = |v: &str| {
        format!(
            r#"services:
  db:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    environment: {{V: "{v}"}}
  app:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    depends_on:
      db: {{condition: service_started, restart: true}}
  side:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    depends_on: [db]
"#
        )
    };
    let s = Stack::new("rst", &yaml("1"));
    s.up(&[]);
    let pid = |svc: &str| s.inspect(&s.name(svc), "{{.State.Pid}}");
    let (app_id, app_pid, side_pid) = (
        s.inspect(&s.name("app"), "{{.Id}}"),
        pid("app"),
        pid("side"),
    );
    std::fs::write(&s.file, yaml("2")).unwrap_or_else(|e| panic!("rewriting: {e}"));
    let run = s.up(&[]);
    assert!(
        run.stderr.contains("restart: dependency db was recreated"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.inspect(&s.name("app"), "{{.Id}}"),
        app_id,
        "app recreated"
    );
    assert_ne!(pid("app"), app_pid, "app was not restarted");
    assert_eq!(s.inspect(&s.name("app"), "{{.State.Status}}"), "running");
    assert_eq!(pid("side"), side_pid, "side was restarted");
}

#[test]
fn a_moved_image_tag_recreates_naming_both_image_ids() {
    let s = Stack::new(
        "img",
        "services:\n  app:\n    image: app:1\n    command: [\"sleep\", \"1000\"]\n    stop_signal: KILL\n",
    );
    let second = support::images::import_busybox(&s.fx.root, s.fx.work.path(), "bb2", |dir| {
        let _ = std::fs::write(dir.join("marker"), "2");
    });
    ok(second);
    ok(s.fx.berth(&["tag", "bb", "app:1"]));
    s.up(&[]);
    let unchanged = s.up(&[]);
    assert!(
        unchanged.stderr.contains("Nothing to do"),
        "{}",
        unchanged.stderr
    );
    let id = |name: &str| s.inspect(name, "{{.Id}}")[7..19].to_string();
    let (old, new) = (id("bb"), id("bb2"));
    ok(s.fx.berth(&["tag", "bb2", "app:1"]));
    let run = s.up(&[]);
    let cause = format!("image: sha256:{old} -> sha256:{new}");
    assert!(run.stderr.contains(&cause), "{cause} not in {}", run.stderr);
    assert!(run.stderr.contains("Recreated"), "{}", run.stderr);
    let now = s.inspect(&s.name("app"), "{{.Image}}");
    assert!(now.contains(&new), "{now}");
}

#[test]
fn down_rmi_all_removes_the_images_and_warns_about_one_in_use() {
    let s = Stack::new(
        "rmi",
        "services:\n  app:\n    image: app:1\n    command: [\"sleep\", \"1000\"]\n    stop_signal: KILL\n  \
         base:\n    image: bb\n    command: [\"sleep\", \"1000\"]\n    stop_signal: KILL\n",
    );
    ok(s.fx.berth(&["tag", "bb", "app:1"]));
    ok(s.fx.berth(&["create", "--name", "keeper", "bb", "true"]));
    s.up(&[]);
    let local = ok(s.run("down", &["--rmi", "local", "-t", "1"]));
    assert!(!local.stderr.contains("Image"), "{}", local.stderr);
    s.up(&[]);
    let run = ok(s.run("down", &["--rmi", "all", "-t", "1"]));
    assert!(
        run.stderr.contains("Image app:1  Removed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Image bb  Resource is still in use"),
        "{}",
        run.stderr
    );
    assert_ne!(s.fx.berth(&["image", "inspect", "app:1"]).code, 0);
    ok(s.fx.berth(&["image", "inspect", "bb"]));
    ok(s.fx.berth(&["rm", "keeper"]));
}

const ONEOFF: &str = r#"services:
  db:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
  job:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    restart: always
    ports: ["127.0.0.1::8080"]
    environment: {FROM_STACK: "yes"}
    depends_on: [db]
"#;

#[test]
fn stack_run_passes_the_exit_code_and_brings_dependencies_up() {
    let s = Stack::new("run", ONEOFF);
    let run = s.stack(&[
        "run",
        "--rm",
        "-e",
        "EXTRA=1",
        "job",
        "sh",
        "-c",
        "echo $FROM_STACK $EXTRA; exit 3",
    ]);
    assert_eq!(
        run.code, 3,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains("yes 1"), "{}", run.stdout);
    // The dependency runs; the --rm one-off is gone; the service itself was not created.
    assert_eq!(s.names(), [s.name("db")]);
    assert_eq!(s.inspect(&s.name("db"), "{{.State.Status}}"), "running");
}

#[test]
fn a_detached_one_off_is_neither_replica_nor_orphan_and_down_removes_it() {
    let s = Stack::new("oneoff", ONEOFF);
    let run = ok(s.stack(&["run", "-d", "--no-deps", "job"]));
    let name = run.stdout.trim().to_string();
    let prefix = format!("{}-job-run-", s.project);
    let hex = name.strip_prefix(&prefix).unwrap_or_default();
    assert!(
        hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(
        s.names(),
        std::slice::from_ref(&name),
        "--no-deps started db"
    );
    let labels = s.inspect(&name, "{{json .Config.Labels}}");
    assert!(
        labels.contains(r#""com.docker.compose.oneoff":"True""#),
        "{labels}"
    );
    assert_eq!(s.inspect(&name, "{{.HostConfig.RestartPolicy.Name}}"), "no");
    let ports = s.inspect(&name, "{{json .NetworkSettings.Ports}}");
    assert!(
        !ports.contains("HostPort"),
        "published without --service-ports: {ports}"
    );

    let up = s.up(&[]);
    assert!(!up.stderr.contains("orphan"), "{}", up.stderr);
    assert_eq!(s.names(), [s.name("db"), s.name("job"), name.clone()]);
    let ps = ok(s.stack(&["ps", "--format", "json"])).stdout;
    assert!(!ps.contains(&name), "{ps}");
    let ps_all = ok(s.stack(&["ps", "-a", "--format", "json"])).stdout;
    assert!(ps_all.contains(&name), "{ps_all}");

    ok(s.run("down", &["-t", "1"]));
    assert!(s.names().is_empty(), "{:?}", s.names());
    let unknown = s.stack(&["run", "nope"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("no such service: nope"),
        "{}",
        unknown.stderr
    );
}
