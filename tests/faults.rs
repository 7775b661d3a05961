//! Fault injection (root): `kill -9` of berth at seeded random points of
//! `pull`, `run -d`, `commit`, `rm -f`, `up -d` and `down`; a full disk
//! during a pull and during log writing; a registry connection cut mid-blob.
//! After each fault the next command succeeds or fails clearly, `berth system
//! check` finds a sound store, and nothing is leaked: mounts, cgroups, veths,
//! firewall rules, processes. Set `BERTH_FAULT_SEED` to replay a run; the
//! seed and every kill delay are printed with any failure.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{Run, berth_env};
use support::images::busybox_tar;
use support::registry::{Fault, Proxy, Registry};
use support::runtime::Fixture;

/// Kill points per command.
const KILLS: usize = 10;

/// xorshift64*: a seeded, replayable source of kill delays.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("BERTH_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("fault seed: BERTH_FAULT_SEED={seed}");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Point `i` of `n`, spread over `span`: one random delay in each slice.
    fn delay(&mut self, i: usize, n: usize, span: Duration) -> Duration {
        let slice = span.as_micros() as u64 / n as u64;
        let at = slice * i as u64 + self.next() % slice.max(1);
        Duration::from_micros(at)
    }
}

/// What the test has done so far, printed with any failure.
struct Trail {
    steps: Vec<String>,
}

impl Trail {
    fn new() -> Trail {
        Trail { steps: Vec::new() }
    }

    fn note(&mut self, step: String) {
        self.steps.push(step);
    }

    fn fail(&self, what: &str) -> ! {
        let seed = std::env::var("BERTH_FAULT_SEED").unwrap_or_else(|_| "(printed above)".into());
        panic!(
            "{what}\nseed: {seed}\nsteps:\n  {}",
            self.steps.join("\n  ")
        );
    }

    fn ok(&self, run: &Run, what: &str) {
        if run.code != 0 {
            self.fail(&format!(
                "{what} failed ({}):\nstdout: {}\nstderr: {}",
                run.code, run.stdout, run.stderr
            ));
        }
        self.no_panic(run, what);
    }

    fn no_panic(&self, run: &Run, what: &str) {
        if run.stderr.contains("panicked") || run.code == 101 {
            self.fail(&format!("{what} panicked: {}", run.stderr));
        }
    }
}

fn spawn(root: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(root)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(c) => c,
        Err(e) => panic!("cannot run berth: {e}"),
    }
}

/// Runs `args` and SIGKILLs it after `delay`; true when it was still running.
fn kill_after(
    root: &Path,
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    delay: Duration,
) -> bool {
    let mut child = spawn(root, cwd, args, env);
    let deadline = Instant::now() + delay;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_micros(500).min(deadline - Instant::now()));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

/// How long `args` takes when nothing goes wrong.
fn timed(trail: &Trail, root: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Duration {
    let start = Instant::now();
    let run = berth_env(root, cwd, args, env);
    trail.ok(&run, &format!("{args:?}"));
    start.elapsed()
}

/// Container ids that ever existed in `root`, to look for their leftovers.
fn note_ids(root: &Path, seen: &mut BTreeSet<String>) {
    if let Ok(dir) = std::fs::read_dir(root.join("containers")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64 {
                seen.insert(name);
            }
        }
    }
}

/// Bridges of `root`'s networks, to check they are empty or gone later.
fn note_bridges(root: &Path, seen: &mut BTreeSet<String>) {
    let Ok(dir) = std::fs::read_dir(root.join("networks")) else {
        return;
    };
    for e in dir.flatten() {
        let text = std::fs::read_to_string(e.path().join("network.json")).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let Some(b) = json["bridge"].as_str().filter(|b| !b.is_empty()) {
            seen.insert(b.to_string());
        }
    }
}

/// Nothing of `root` runs: the store checks clean and nothing is leaked.
fn assert_quiet(
    trail: &Trail,
    root: &Path,
    cwd: &Path,
    ids: &BTreeSet<String>,
    bridges: &BTreeSet<String>,
) {
    let check = berth_env(root, cwd, &["system", "check"], &[]);
    if check.code != 0 {
        trail.fail(&format!(
            "system check ({}):\n{}{}",
            check.code, check.stdout, check.stderr
        ));
    }
    let ps = berth_env(root, cwd, &["ps", "-q", "--no-trunc"], &[]);
    trail.ok(&ps, "ps");
    let running: BTreeSet<String> = ps.stdout.lines().map(str::to_string).collect();
    let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let pinned: BTreeSet<PathBuf> = running
        .iter()
        .map(|id| canon.join("containers").join(id).join("netns"))
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let ours: Vec<PathBuf> = berth::runtime::check::mount_points(&mounts)
        .into_iter()
        .filter(|p| p.starts_with(&canon) && *p != canon && !pinned.contains(p))
        .collect();
    if !ours.is_empty() {
        trail.fail(&format!("mounts left under the root: {ours:?}"));
    }
    if let Ok(hierarchy) = berth::runtime::cgroup::detect() {
        for id in ids.difference(&running) {
            let left: Vec<PathBuf> = hierarchy
                .open("berth", id)
                .paths()
                .into_iter()
                .filter(|p| p.is_dir())
                .collect();
            if !left.is_empty() {
                trail.fail(&format!("cgroups left of container {id}: {left:?}"));
            }
        }
    }
    for bridge in bridges {
        let brif = Path::new("/sys/class/net").join(bridge).join("brif");
        let ports: Vec<_> = std::fs::read_dir(&brif)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if ports.len() > running.len() {
            trail.fail(&format!("veths left on bridge {bridge}: {ports:?}"));
        }
    }
    match berth::runtime::network::firewall::containers_with_rules(root) {
        Ok(rules) if !rules.is_subset(&running) => {
            trail.fail(&format!("firewall rules left: {rules:?}"))
        }
        Ok(_) => {}
        Err(e) => trail.fail(&format!("iptables-save: {e}")),
    }
    let procs: Vec<String> = support::residue::processes_under(root)
        .into_iter()
        .filter(|p| {
            !running
                .iter()
                .any(|id| p.contains("--container-monitor") && p.contains(id.as_str()))
        })
        .collect();
    if !procs.is_empty() {
        trail.fail(&format!("berth processes left: {procs:?}"));
    }
}

/// Kills `args` at [`KILLS`] points over its measured duration; after each,
/// `recover` must bring the root back (its runs checked), then `reset`
/// prepares the next kill; then the root must be quiet.
fn kill_points(
    fx: &Fixture,
    args: &[&str],
    env: &[(&str, &str)],
    recover: &dyn Fn(&mut Trail),
    reset: &dyn Fn(&mut Trail),
) -> (usize, usize) {
    let mut rng = Rng::new();
    let mut trail = Trail::new();
    let (root, cwd) = (fx.root.as_path(), fx.work.path());
    let span = timed(&trail, root, cwd, args, env);
    trail.note(format!("{args:?} takes {span:?}"));
    let (mut ids, mut bridges) = (BTreeSet::new(), BTreeSet::new());
    note_ids(root, &mut ids);
    note_bridges(root, &mut bridges);
    reset(&mut trail);
    let mut killed = 0;
    for i in 0..KILLS {
        let delay = rng.delay(i, KILLS, span);
        let was_running = kill_after(root, cwd, args, env, delay);
        killed += usize::from(was_running);
        trail.note(format!("kill {i} at {delay:?} (running: {was_running})"));
        note_ids(root, &mut ids);
        note_bridges(root, &mut bridges);
        recover(&mut trail);
        note_ids(root, &mut ids);
        note_bridges(root, &mut bridges);
        reset(&mut trail);
        assert_quiet(&trail, root, cwd, &ids, &bridges);
    }
    eprintln!(
        "{args:?}: {KILLS} kill points over {span:?}, {killed} killed mid-command, all recovered"
    );
    (KILLS, killed)
}

fn berth(fx: &Fixture, args: &[&str]) -> Run {
    fx.berth(args)
}

/// `rm -f NAME`, fine when it is already gone.
fn remove(fx: &Fixture, trail: &mut Trail, name: &str) {
    let r = berth(fx, &["rm", "-f", name]);
    trail.no_panic(&r, "rm -f");
    if r.code != 0 && !r.stderr.contains(name) {
        trail.fail(&format!("rm -f {name}: unclear error: {}", r.stderr));
    }
    trail.note(format!("rm -f {name}: {}", r.code));
}

#[test]
fn kill_9_during_run_detached() {
    let fx = Fixture::new();
    let args = ["run", "-d", "--name", "fk", "bb", "sleep", "1000"];
    kill_points(
        &fx,
        &args,
        &[],
        &|trail| {
            // The same command again: it runs, or names the container in its way.
            let r = berth(&fx, &args);
            trail.no_panic(&r, "run -d again");
            trail.note(format!("run -d again: {} {}", r.code, r.stderr.trim()));
            if r.code != 0 && !r.stderr.contains("fk") {
                trail.fail(&format!("run -d after a kill: unclear error: {}", r.stderr));
            }
            remove(&fx, trail, "fk");
            let again = berth(&fx, &args);
            trail.ok(&again, "run -d after rm -f");
        },
        &|trail| remove(&fx, trail, "fk"),
    );
}

#[test]
fn kill_9_during_rm_force() {
    let fx = Fixture::new();
    let start = ["run", "-d", "--name", "fr", "bb", "sleep", "1000"];
    let setup = |trail: &mut Trail| trail.ok(&berth(&fx, &start), "run -d");
    let mut trail = Trail::new();
    setup(&mut trail);
    kill_points(
        &fx,
        &["rm", "-f", "fr"],
        &[],
        &|trail| {
            remove(&fx, trail, "fr");
            let ps = berth(&fx, &["ps", "-a", "--format", "json"]);
            trail.ok(&ps, "ps -a");
            if ps.stdout.contains("\"fr\"") {
                trail.fail(&format!("fr still listed: {}", ps.stdout));
            }
            // The name is free again.
            trail.ok(&berth(&fx, &start), "run -d with the name again");
            remove(&fx, trail, "fr");
        },
        &|trail| setup(trail),
    );
    remove(&fx, &mut trail, "fr");
}

#[test]
fn kill_9_during_commit() {
    let fx = Fixture::new();
    let mut trail = Trail::new();
    let script = "seq 1 200000 > /big; touch /marker; sleep 1000";
    trail.ok(
        &berth(
            &fx,
            &["run", "-d", "--name", "fc", "bb", "sh", "-c", script],
        ),
        "run -d",
    );
    // Wait for the file so every commit has the same work to do.
    let deadline = Instant::now() + Duration::from_secs(60);
    while berth(&fx, &["exec", "fc", "test", "-e", "/marker"]).code != 0 {
        if Instant::now() > deadline {
            trail.fail("the container never wrote /marker");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let args = ["commit", "fc", "fc-image:1"];
    kill_points(
        &fx,
        &args,
        &[],
        &|trail| {
            // A commit killed with the container frozen must not leave it so.
            let status = berth(&fx, &["inspect", "-f", "{{.State.Status}}", "fc"]);
            if status.stdout.trim() != "running" {
                trail.fail(&format!("after a killed commit fc is {}", status.stdout));
            }
            trail.ok(&berth(&fx, &args), "commit after a kill");
            let r = berth(
                &fx,
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "fc-image:1",
                    "test",
                    "-e",
                    "/marker",
                ],
            );
            trail.ok(&r, "run of the committed image");
        },
        &|trail| {
            let r = berth(&fx, &["rmi", "fc-image:1"]);
            trail.no_panic(&r, "rmi");
        },
    );
    remove(&fx, &mut trail, "fc");
}

/// A root beside the fixture's, sharing nothing with it.
fn second_root(fx: &Fixture, name: &str) -> PathBuf {
    let root = fx.work.path().join(name);
    if let Err(e) = std::fs::create_dir_all(&root) {
        panic!("creating {}: {e}", root.display());
    }
    root
}

fn registry_env(fx: &Fixture) -> Vec<(String, String)> {
    let p = |s: &str| fx.work.path().join(s).to_string_lossy().into_owned();
    vec![
        ("BERTH_CONFIG".into(), p("berth-config")),
        ("DOCKER_CONFIG".into(), p("docker-config")),
        ("BERTH_REGISTRIES_CONFIG".into(), p("registries.toml")),
    ]
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Pushes `bb` (with `extra` files) to `registry` as `repo:1`; returns the reference.
fn push_image(fx: &Fixture, registry: &Registry, repo: &str, extra: impl Fn(&Path)) -> String {
    let name = format!("{}/{repo}:1", registry.host());
    let tar = busybox_tar(fx.work.path(), repo, extra);
    let env = registry_env(fx);
    let env = env_refs(&env);
    let tar = tar.to_string_lossy().into_owned();
    let r = berth_env(
        &fx.root,
        fx.work.path(),
        &["import", "-c", "CMD [\"sh\"]", &tar, &name],
        &env,
    );
    assert_eq!(r.code, 0, "import: {}", r.stderr);
    let r = berth_env(&fx.root, fx.work.path(), &["push", &name], &env);
    assert_eq!(r.code, 0, "push: {}", r.stderr);
    name
}

/// Random (incompressible) bytes, so gzip keeps the layer large.
fn random_file(path: &Path, len: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let bytes: Vec<u8> = (0..len / 8)
        .flat_map(|_| rng.next().to_le_bytes())
        .collect();
    if let Err(e) = std::fs::write(path, bytes) {
        panic!("writing {}: {e}", path.display());
    }
}

#[test]
fn kill_9_during_pull() {
    let fx = Fixture::new();
    let registry = Registry::start();
    let name = push_image(&fx, &registry, "faults/pull", |root| {
        random_file(&root.join("blob.bin"), 4 << 20)
    });
    let env = registry_env(&fx);
    let env = env_refs(&env);
    let other = second_root(&fx, "pulled");
    let pull = ["pull", "-q", name.as_str()];
    let mut trail = Trail::new();
    let span = timed(&trail, &other, fx.work.path(), &pull, &env);
    trail.note(format!("pull takes {span:?}"));
    let mut rng = Rng::new();
    let rmi = |trail: &Trail| {
        let r = berth_env(&other, fx.work.path(), &["rmi", &name], &env);
        trail.no_panic(&r, "rmi");
    };
    rmi(&trail);
    let mut killed = 0;
    for i in 0..KILLS {
        let delay = rng.delay(i, KILLS, span);
        let was_running = kill_after(&other, fx.work.path(), &pull, &env, delay);
        killed += usize::from(was_running);
        trail.note(format!("kill {i} at {delay:?} (running: {was_running})"));
        let r = berth_env(&other, fx.work.path(), &pull, &env);
        trail.ok(&r, "pull after a kill");
        assert_quiet(
            &trail,
            &other,
            fx.work.path(),
            &BTreeSet::new(),
            &BTreeSet::new(),
        );
        rmi(&trail);
    }
    eprintln!(
        "pull: {KILLS} kill points over {span:?}, {killed} killed mid-command, all recovered"
    );
}

const STACK: &str = "services:
  db:
    image: bb
    command: sleep 1000
  api:
    image: bb
    command: sleep 1000
    depends_on: [db]
  web:
    image: bb
    command: sleep 1000
    depends_on: [api]
";

fn stack(fx: &Fixture) -> (String, String) {
    let file = fx.work.path().join("compose.yaml");
    if let Err(e) = std::fs::write(&file, STACK) {
        panic!("writing {}: {e}", file.display());
    }
    (
        file.to_string_lossy().into_owned(),
        format!("fs{}", &fx.bridge[2..]),
    )
}

#[test]
fn kill_9_during_up() {
    let fx = Fixture::new();
    let (file, project) = stack(&fx);
    let up = ["up", "-d", "-f", file.as_str(), "-p", project.as_str()];
    let down = ["down", "-p", project.as_str()];
    kill_points(
        &fx,
        &up,
        &[],
        &|trail| {
            trail.ok(&berth(&fx, &up), "up -d after a kill");
            let ps = berth(&fx, &["ps", "-q"]);
            if ps.stdout.lines().count() != 3 {
                trail.fail(&format!(
                    "up -d left {} running: {}",
                    ps.stdout.lines().count(),
                    ps.stdout
                ));
            }
        },
        &|trail| trail.ok(&berth(&fx, &down), "down"),
    );
}

#[test]
fn kill_9_during_down() {
    let fx = Fixture::new();
    let (file, project) = stack(&fx);
    let up = ["up", "-d", "-f", file.as_str(), "-p", project.as_str()];
    let down = ["down", "-p", project.as_str()];
    let trail = Trail::new();
    trail.ok(&berth(&fx, &up), "up -d");
    kill_points(
        &fx,
        &down,
        &[],
        &|trail| {
            trail.ok(&berth(&fx, &down), "down after a kill");
            let ps = berth(&fx, &["ps", "-aq"]);
            if !ps.stdout.trim().is_empty() {
                trail.fail(&format!("down left containers: {}", ps.stdout));
            }
        },
        &|trail| trail.ok(&berth(&fx, &up), "up -d"),
    );
    trail.ok(&berth(&fx, &down), "down");
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        if let Err(e) = std::fs::create_dir_all(dir) {
            panic!("creating {}: {e}", dir.display());
        }
        let r = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status();
        assert!(
            matches!(r, Ok(s) if s.success()),
            "mount tmpfs on {}",
            dir.display()
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let r = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status();
        assert!(
            matches!(r, Ok(s) if s.success()),
            "remount {}",
            self.0.display()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full_during_pull() {
    let fx = Fixture::new();
    let registry = Registry::start();
    let name = push_image(&fx, &registry, "faults/big", |root| {
        random_file(&root.join("blob.bin"), 12 << 20)
    });
    let env = registry_env(&fx);
    let env = env_refs(&env);
    let small = fx.work.path().join("small");
    let tmpfs = Tmpfs::mount(&small, "8m");
    let root = small.join("root");
    let trail = Trail::new();
    let r = berth_env(&root, fx.work.path(), &["pull", "-q", &name], &env);
    trail.no_panic(&r, "pull on a full disk");
    assert_ne!(r.code, 0, "the pull fit in 8 MiB?");
    let text = r.stderr.to_lowercase();
    assert!(text.contains("no space left on device"), "{}", r.stderr);
    assert!(
        r.stderr.contains("faults/big"),
        "the error names no image: {}",
        r.stderr
    );
    let images = berth_env(&root, fx.work.path(), &["images", "-q"], &env);
    trail.ok(&images, "images");
    assert!(
        images.stdout.trim().is_empty(),
        "half-registered: {}",
        images.stdout
    );
    // Free space: the same pull now succeeds and the store verifies.
    tmpfs.resize("64m");
    let r = berth_env(&root, fx.work.path(), &["pull", "-q", &name], &env);
    trail.ok(&r, "pull after freeing space");
    assert_quiet(
        &trail,
        &root,
        fx.work.path(),
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    drop(tmpfs);
}

#[test]
fn disk_full_during_log_writing() {
    let fx = Fixture::new();
    let small = fx.work.path().join("small");
    let tmpfs = Tmpfs::mount(&small, "8m");
    let root = small.join("root");
    let trail = Trail::new();
    let r = support::images::import_busybox(&root, fx.work.path(), "lb", |_| {});
    trail.ok(&r, "import");
    let name = "fl";
    let r = berth_env(
        &root,
        fx.work.path(),
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "lb",
            "sh",
            "-c",
            "seq 1 3000000; exit 3",
        ],
        &[],
    );
    trail.ok(&r, "run -d");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let r = berth_env(
            &root,
            fx.work.path(),
            &[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                name,
            ],
            &[],
        );
        trail.ok(&r, "inspect");
        if r.stdout.starts_with("exited") {
            break r.stdout.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the container never exited: {}",
            r.stdout
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The monitor lived to record the real exit code, not 137 for a dead monitor.
    assert_eq!(status, "exited 3");
    let logs = berth_env(&root, fx.work.path(), &["logs", "--tail", "1", name], &[]);
    trail.ok(&logs, "logs");
    let head = berth_env(&root, fx.work.path(), &["logs", name], &[]);
    trail.ok(&head, "logs");
    assert!(
        head.stdout.starts_with("1\n2\n3\n"),
        "{:?}",
        &head.stdout[..head.stdout.len().min(40)]
    );
    trail.ok(&berth_env(&root, fx.work.path(), &["rm", name], &[]), "rm");
    assert_quiet(
        &trail,
        &root,
        fx.work.path(),
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    drop(tmpfs);
}

#[test]
fn registry_dropping_the_connection_mid_blob() {
    let fx = Fixture::new();
    let registry = Registry::start();
    let name = push_image(&fx, &registry, "faults/cut", |root| {
        random_file(&root.join("blob.bin"), 2 << 20)
    });
    let env = registry_env(&fx);
    let env = env_refs(&env);
    let other = second_root(&fx, "cut");
    // Every connection is cut after 256 KiB: retries cannot help.
    let proxy = Proxy::start(
        registry.port,
        Fault::Cut {
            limit: 256 << 10,
            times: usize::MAX,
        },
    );
    let via = name.replacen(&registry.host(), &proxy.host(), 1);
    let trail = Trail::new();
    let r = berth_env(&other, fx.work.path(), &["pull", "-q", &via], &env);
    trail.no_panic(&r, "pull through a cutting proxy");
    assert_ne!(r.code, 0, "pull through a proxy that always cuts succeeded");
    assert!(
        r.stderr.contains("faults/cut"),
        "the error names no image: {}",
        r.stderr
    );
    eprintln!("pull through a cutting proxy: {}", r.stderr.trim());
    let images = berth_env(&other, fx.work.path(), &["images", "-q"], &env);
    trail.ok(&images, "images");
    assert!(
        images.stdout.trim().is_empty(),
        "half-registered: {}",
        images.stdout
    );
    let blobs = std::fs::read_dir(other.join("blobs/sha256")).map(|d| {
        d.flatten()
            .filter(|e| e.metadata().is_ok_and(|m| m.len() > 256 << 10))
            .count()
    });
    assert_eq!(blobs.unwrap_or(0), 0, "a partial layer was registered");
    let r = berth_env(
        &other,
        fx.work.path(),
        &[
            "pull",
            "-q",
            &via.replacen(&proxy.host(), &registry.host(), 1),
        ],
        &env,
    );
    trail.ok(&r, "pull through a working path");
    assert_quiet(
        &trail,
        &other,
        fx.work.path(),
        &BTreeSet::new(),
        &BTreeSet::new(),
    );
    trail.ok(
        &berth_env(
            &other,
            fx.work.path(),
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &name,
                "test",
                "-s",
                "/blob.bin",
            ],
            &env,
        ),
        "run of the pulled image",
    );
}

/// Bridges made with `ip` for a test, deleted even when it fails.
struct Links(Vec<String>);

impl Links {
    /// A bridge carrying the alias berth gives the bridges `root` makes.
    fn add(&mut self, name: &str, root: &Path) {
        self.0.push(name.to_string());
        let alias = format!("berth root={}", root.display());
        for args in [
            vec!["link", "add", name, "type", "bridge"],
            vec!["link", "set", "dev", name, "alias", alias.as_str()],
        ] {
            let out = Command::new("ip").args(&args).output();
            match out {
                Ok(o) if o.status.success() => {}
                other => panic!("ip {args:?}: {other:?}"),
            }
        }
    }
}

impl Drop for Links {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["link", "del", name]).output();
        }
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// What a `kill -9` between making a network's bridge and writing its record
/// leaves (the bridge, nothing naming it) is reported by `system check`, and
/// swept by this root's next `network create`; a bridge of a deleted root is
/// reported and removed by `--repair`; another live root's bridge is left.
#[test]
fn bridges_nobody_records_are_found_and_removed() {
    let fx = Fixture::new();
    let hex = &fx.bridge[2..];
    let canon = std::fs::canonicalize(&fx.root).unwrap_or_else(|_| fx.root.clone());
    let (own, gone, other) = (
        format!("br-{hex}0aa"),
        format!("br-{hex}0bb"),
        format!("br-{hex}0cc"),
    );
    let other_root = fx.work.path().join("other-root");
    std::fs::create_dir_all(&other_root).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let mut links = Links(Vec::new());
    links.add(&own, &canon);
    links.add(&gone, &fx.work.path().join("deleted-root"));
    links.add(&other, &other_root);

    let check = berth(&fx, &["system", "check"]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(
        check
            .stdout
            .contains(&format!("bridge {own}: made by this root")),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains(&format!("bridge {gone}: made by the root")),
        "{}",
        check.stdout
    );
    assert!(!check.stdout.contains(&other), "{}", check.stdout);

    let create = berth(&fx, &["network", "create", "after-kill"]);
    assert_eq!(create.code, 0, "{create:?}");
    assert!(!link_exists(&own), "network create left {own}");
    assert!(link_exists(&gone) && link_exists(&other));
    // A bridge berth makes carries the alias that lets the sweep find it.
    let id = berth(&fx, &["network", "inspect", "-f", "{{.Id}}", "after-kill"]);
    let made = format!("br-{}", &id.stdout.trim()[..12]);
    let alias = std::fs::read_to_string(Path::new("/sys/class/net").join(&made).join("ifalias"));
    assert_eq!(
        alias.map(|a| a.trim_end().to_string()).ok(),
        Some(format!("berth root={}", canon.display()))
    );
    // A create killed after its record, before its bridge: a start makes the
    // bridge, and `network rm` takes a record whose bridge is gone.
    let _ = Command::new("ip").args(["link", "del", &made]).output();
    let run = berth(
        &fx,
        &["run", "--rm", "--network", "after-kill", "bb", "true"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(link_exists(&made), "the start did not make {made}");
    let _ = Command::new("ip").args(["link", "del", &made]).output();

    let repair = berth(&fx, &["system", "check", "--repair"]);
    assert!(
        repair
            .stdout
            .contains(&format!("repaired: removed the bridge {gone}")),
        "{}",
        repair.stdout
    );
    assert!(!link_exists(&gone), "--repair left {gone}");
    assert!(link_exists(&other), "--repair removed a live root's bridge");
    let after = berth(&fx, &["system", "check"]);
    assert_eq!(after.code, 0, "{after:?}");
    assert_eq!(berth(&fx, &["network", "rm", "after-kill"]).code, 0);
}
