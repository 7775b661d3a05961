//! `kill -9` of berth at a point spread over a whole `up -d` (and over a
//! recreate), then `up -d` again must converge: every service running or its
//! job exited 0, one container per replica under its own name, no leftover
//! directory or name claim, and a third `up -d` has nothing to do (root).
//!
//! The kill points come from a seeded generator; a failure names the seed and
//! the delay (`BERTH_CRASH_SEED=<seed>` replays it).

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::Run;
use support::net::{free_port, http_get};
use support::runtime::Fixture;

const ROUNDS: u32 = 20;
const RECREATE_ROUNDS: u32 = 6;
const SERVICES: [&str; 5] = ["db", "migrate", "api", "web", "worker"];

struct Crash {
    fx: Fixture,
    project: String,
    file: PathBuf,
    port: u16,
    seed: u64,
}

fn stack(port: u16, mode: &str) -> String {
    let forever = r#"["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]"#;
    format!(
        r#"services:
  db:
    image: bb
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ok; while :; do sleep 1 & wait; done"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 200ms
      retries: 100
    volumes: ["data:/data"]
    networks: [back]
  migrate:
    image: bb
    command: ["sh", "-c", "echo v1 > /data/schema"]
    volumes: ["data:/data"]
    networks: [back]
    depends_on:
      db: {{condition: service_healthy}}
  api:
    image: bb
    command: {forever}
    environment: {{MODE: "{mode}"}}
    networks: [back]
    depends_on:
      migrate: {{condition: service_completed_successfully}}
  web:
    image: bb
    command: ["sh", "-c", "echo up > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    ports: ["127.0.0.1:{port}:8080"]
    networks: [back]
    depends_on: [api]
  worker:
    image: bb
    command: {forever}
    networks: [back]
    depends_on: [api]
networks:
  back: {{}}
volumes:
  data: {{}}
"#
    )
}

impl Crash {
    fn new(tag: &str) -> Crash {
        let fx = Fixture::new();
        let project = format!("{tag}{}", &fx.bridge[2..]);
        let file = fx.work.path().join("compose.yaml");
        let seed = std::env::var("BERTH_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(time_seed);
        eprintln!("BERTH_CRASH_SEED={seed}");
        let crash = Crash {
            fx,
            project,
            file,
            port: free_port(),
            seed,
        };
        crash.write("one");
        crash
    }

    fn write(&self, mode: &str) {
        if let Err(e) = std::fs::write(&self.file, stack(self.port, mode)) {
            panic!("writing {}: {e}", self.file.display());
        }
    }

    fn args<'a>(&'a self, verb: &'a str, file: &'a str) -> Vec<&'a str> {
        vec![verb, "-f", file, "-p", self.project.as_str()]
    }

    fn up(&self) -> Run {
        let file = self.file.to_string_lossy().into_owned();
        let mut args = self.args("up", &file);
        args.push("-d");
        self.fx.berth(&args)
    }

    fn down(&self) {
        let run = self
            .fx
            .berth(&["down", "-p", self.project.as_str(), "-t", "1"]);
        assert_eq!(run.code, 0, "down: {}", run.stderr);
    }

    /// Starts `up -d`, sends SIGKILL after `delay`, and reaps it.
    fn up_killed_after(&self, delay: Duration) {
        let file = self.file.to_string_lossy().into_owned();
        let spawned = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("--root")
            .arg(&self.fx.root)
            .args(self.args("up", &file))
            .arg("-d")
            .current_dir(self.fx.work.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => panic!("cannot run berth: {e}"),
        };
        std::thread::sleep(delay);
        // Kill sends SIGKILL; it fails only when the up already finished.
        let _ = child.kill();
        let _ = child.wait();
    }

    fn timed_up(&self) -> Duration {
        let start = Instant::now();
        let run = self.up();
        assert_eq!(run.code, 0, "seed {}: up: {}", self.seed, run.stderr);
        start.elapsed()
    }

    /// Converges after a kill at `delay`: checked three ways (containers,
    /// leftovers, a no-op third up) and by a page over the published port.
    fn converges(&self, what: &str, delay: Duration) {
        let ctx = format!("seed {} {what} killed after {delay:?}", self.seed);
        let again = self.up();
        assert_eq!(
            again.code, 0,
            "{ctx}: up after the kill failed:\n{}",
            again.stderr
        );
        self.check_containers(&ctx);
        let third = self.up();
        assert!(
            third.code == 0 && third.stderr.contains("Nothing to do"),
            "{ctx}: the third up is not a no-op:\n{}",
            third.stderr
        );
        assert!(
            http_get(self.port, "/index.html").contains("up"),
            "{ctx}: no page"
        );
    }

    fn check_containers(&self, ctx: &str) {
        let ps = self.fx.berth(&["ps", "-a"]);
        assert_eq!(ps.code, 0, "{ctx}: ps: {}", ps.stderr);
        let mut names = Vec::new();
        for line in ps.stdout.lines().skip(1) {
            let name = line.split_whitespace().last().unwrap_or_default();
            let service = name
                .strip_prefix(&format!("{}-", self.project))
                .and_then(|s| s.strip_suffix("-1"))
                .unwrap_or_default();
            let done = if service == "migrate" {
                line.contains("Exited (0)")
            } else {
                line.contains(" Up ")
            };
            assert!(
                done,
                "{ctx}: {name} is not where it should be:\n{}",
                ps.stdout
            );
            names.push(name.to_string());
        }
        names.sort();
        let mut wanted: Vec<String> = SERVICES
            .iter()
            .map(|s| format!("{}-{s}-1", self.project))
            .collect();
        wanted.sort();
        assert_eq!(names, wanted, "{ctx}: containers:\n{}", ps.stdout);
        let dirs: BTreeSet<String> = self.fx.containers().into_iter().collect();
        assert_eq!(dirs.len(), wanted.len(), "{ctx}: directories {dirs:?}");
        let claims = claims(&self.fx);
        assert_eq!(claims, wanted, "{ctx}: name claims");
        let net = format!("{}_back", self.project);
        let inspect = self.fx.berth(&["network", "inspect", &net]);
        assert_eq!(inspect.code, 0, "{ctx}: {}", inspect.stderr);
    }

    /// A fraction of `total` in the `round`-th of `rounds` equal slices, so the
    /// kill points cover the whole run.
    fn delay(&self, rng: &mut u64, round: u32, rounds: u32, total: Duration) -> Duration {
        let frac = (f64::from(round) + unit(rng)) / f64::from(rounds);
        total.mul_f64(frac)
    }
}

impl Drop for Crash {
    fn drop(&mut self) {
        let _ = self
            .fx
            .berth(&["down", "-p", self.project.as_str(), "-v", "-t", "1"]);
    }
}

#[test]
fn kill_during_up_then_up_converges() {
    let c = Crash::new("crash");
    let full = c.timed_up();
    eprintln!("a full up took {full:?}");
    c.down();
    let mut rng = c.seed;
    for round in 0..ROUNDS {
        let delay = c.delay(&mut rng, round, ROUNDS, full);
        c.up_killed_after(delay);
        c.converges("up", delay);
        c.down();
    }
}

#[test]
fn kill_during_a_recreate_then_up_converges() {
    let c = Crash::new("recr");
    c.timed_up();
    c.write("two");
    let full = c.timed_up();
    eprintln!("a recreate took {full:?}");
    let mut rng = c.seed;
    for round in 0..RECREATE_ROUNDS {
        let mode = if round % 2 == 0 { "one" } else { "two" };
        c.write(mode);
        let delay = c.delay(&mut rng, round, RECREATE_ROUNDS, full);
        c.up_killed_after(delay);
        c.converges("recreate", delay);
        let api =
            c.fx.berth(&["exec", &format!("{}-api-1", c.project), "env"]);
        assert!(
            api.stdout.contains(&format!("MODE={mode}")),
            "seed {} recreate killed after {delay:?}: api runs the old config: {}",
            c.seed,
            api.stdout
        );
    }
}

/// The names claimed under `containers/names`.
fn claims(fx: &Fixture) -> Vec<String> {
    let dir = fx.root.join("containers").join("names");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// splitmix64 mapped to [0, 1).
fn unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
