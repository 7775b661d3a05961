//! `berth watch`, the GitOps loop: poll the files a stack is made of and apply
//! the stack again whenever one changes.
//!
//! Polling (size, mtime, then a content hash) needs no inotify and sees edits
//! made through bind mounts, NFS and `git checkout` alike. A change is applied
//! only once the files have stayed the same for the debounce time, so an editor
//! writing in several steps or a checkout touching many files causes one apply.
//! A stack that no longer loads is logged and the last good one stays applied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::spec::Project;

#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often the files are looked at.
    pub interval: Duration,
    /// How long the files must stay unchanged before a change is applied.
    pub debounce: Duration,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            interval: Duration::from_secs(1),
            debounce: Duration::from_millis(500),
        }
    }
}

/// What a file looked like at the last poll; None when it did not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    hash: [u8; 32],
}

/// The watched files and how each looked.
type Stamps = BTreeMap<PathBuf, Option<Stamp>>;

/// Every file a loaded stack depends on, beyond `base` (the stack files and
/// the `--env-file`s or `.env` the caller already knows): the services'
/// `env_file`s and the `file:` sources of top-level configs and secrets.
pub fn watched_files(base: &[PathBuf], project: &Project) -> Vec<PathBuf> {
    let dir = &project.working_dir;
    let mut out: Vec<PathBuf> = base.to_vec();
    for service in project.services.values() {
        out.extend(service.env_file.iter().map(|e| dir.join(&e.path)));
    }
    for source in project.configs.values().chain(project.secrets.values()) {
        if let Some(file) = source.get("file").and_then(|f| f.as_str()) {
            out.push(dir.join(file));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Size and mtime first; the content hash decides, so a `touch` or a
/// rewrite with the same bytes is no change.
fn stamp(path: &Path, previous: Option<&Stamp>) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok();
    if let Some(p) = previous
        && p.len == meta.len()
        && p.modified == modified
    {
        return Some(p.clone());
    }
    let bytes = std::fs::read(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified,
        hash: Sha256::digest(&bytes).into(),
    })
}

fn poll(files: &[PathBuf], previous: &Stamps) -> Stamps {
    files
        .iter()
        .map(|f| {
            let old = previous.get(f).and_then(Option::as_ref);
            (f.clone(), stamp(f, old))
        })
        .collect()
}

/// The files whose content differs (appeared, vanished or changed).
fn changed(before: &Stamps, after: &Stamps) -> Vec<PathBuf> {
    let same = |a: &Option<Stamp>, b: &Option<Stamp>| match (a, b) {
        (Some(a), Some(b)) => a.hash == b.hash,
        (None, None) => true,
        _ => false,
    };
    after
        .iter()
        .filter(|(f, s)| before.get(*f).is_none_or(|old| !same(old, s)))
        .map(|(f, _)| f.clone())
        .chain(before.keys().filter(|f| !after.contains_key(*f)).cloned())
        .collect()
}

/// The callbacks `watch` drives: load the stack, apply it (returning the plan
/// text to log), write a log line, and say when to stop.
pub struct Hooks<L, A, W, S> {
    pub load: L,
    pub apply: A,
    pub log: W,
    pub stop: S,
}

/// Applies the stack once, then again after every change of its files, until
/// `stop` says so. Load and apply failures are logged, never fatal: the loop
/// goes on with the last stack that loaded.
pub fn watch<L, A, W, S, E1, E2>(
    base: &[PathBuf],
    opts: &WatchOptions,
    mut hooks: Hooks<L, A, W, S>,
) where
    L: FnMut() -> Result<Project, E1>,
    A: FnMut(&Project) -> Result<String, E2>,
    W: FnMut(&str),
    S: FnMut() -> bool,
    E1: std::fmt::Display,
    E2: std::fmt::Display,
{
    let mut files = base.to_vec();
    let mut last = Stamps::new();
    let mut pending: Option<Instant> = None;
    let mut first = true;
    loop {
        let now = poll(&files, &last);
        let diff = changed(&last, &now);
        if !diff.is_empty() && !first {
            let names: Vec<String> = diff.iter().map(|f| f.display().to_string()).collect();
            log_line(&mut hooks.log, &format!("changed: {}", names.join(", ")));
            pending = Some(Instant::now());
        }
        last = now;
        let settled = pending.is_some_and(|t| t.elapsed() >= opts.debounce);
        if first || settled {
            first = false;
            pending = None;
            if let Some(project) = reload(&mut hooks) {
                files = watched_files(base, &project);
                last = poll(&files, &last);
                apply(&mut hooks, &project);
            }
        }
        if (hooks.stop)() {
            return;
        }
        std::thread::sleep(opts.interval);
    }
}

fn reload<L, A, W, S, E1>(hooks: &mut Hooks<L, A, W, S>) -> Option<Project>
where
    L: FnMut() -> Result<Project, E1>,
    W: FnMut(&str),
    E1: std::fmt::Display,
{
    match (hooks.load)() {
        Ok(project) => Some(project),
        Err(e) => {
            let text = format!("cannot load the stack, keeping the last one applied: {e}");
            log_line(&mut hooks.log, &text);
            None
        }
    }
}

fn apply<L, A, W, S, E2>(hooks: &mut Hooks<L, A, W, S>, project: &Project)
where
    A: FnMut(&Project) -> Result<String, E2>,
    W: FnMut(&str),
    E2: std::fmt::Display,
{
    match (hooks.apply)(project) {
        Ok(plan) => {
            log_line(
                &mut hooks.log,
                &format!("applied project {:?}", project.name),
            );
            for line in plan.lines() {
                log_line(&mut hooks.log, line);
            }
        }
        Err(e) => log_line(
            &mut hooks.log,
            &format!("applying project {:?} failed: {e}", project.name),
        ),
    }
}

/// Each line time-stamped, so the log tells when a plan ran.
fn log_line(log: &mut impl FnMut(&str), text: &str) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    log(&format!("{now} {text}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const STACK: &str = "name: w\nservices:\n  app:\n    image: busybox\n    env_file: app.env\n    configs: [cfg]\n    secrets: [sec]\nconfigs:\n  cfg:\n    file: ./cfg.txt\nsecrets:\n  sec:\n    file: ./sec.txt\n";

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let p = dir.path().to_path_buf();
        for (name, text) in [
            ("compose.yaml", STACK),
            ("app.env", "A=1\n"),
            (".env", "X=1\n"),
            ("cfg.txt", "c1"),
            ("sec.txt", "s1"),
        ] {
            write(&p.join(name), text);
        }
        (dir, p)
    }

    fn write(path: &Path, text: &str) {
        if let Err(e) = std::fs::write(path, text) {
            panic!("writing {}: {e}", path.display());
        }
    }

    fn load(dir: &Path) -> Result<Project, crate::spec::SpecError> {
        let mut opts = crate::spec::LoadOptions::from_process(dir.to_path_buf());
        opts.environ.clear();
        crate::spec::load(&opts)
    }

    /// Runs the watcher, calling `step(tick)` after each poll; stops at `ticks`.
    /// Returns the number of applies and the log.
    fn run(
        dir: &Path,
        debounce_ms: u64,
        ticks: usize,
        step: impl Fn(usize),
    ) -> (usize, Vec<String>) {
        let applies = RefCell::new(0);
        let log = RefCell::new(Vec::new());
        let tick = RefCell::new(0);
        let base = vec![dir.join("compose.yaml"), dir.join(".env")];
        let opts = WatchOptions {
            interval: Duration::from_millis(20),
            debounce: Duration::from_millis(debounce_ms),
        };
        let hooks = Hooks {
            load: || load(dir),
            apply: |_: &Project| -> Result<String, String> {
                *applies.borrow_mut() += 1;
                Ok("plan: 1 to add".into())
            },
            log: |line: &str| log.borrow_mut().push(line.to_string()),
            stop: || {
                let mut t = tick.borrow_mut();
                *t += 1;
                step(*t);
                *t >= ticks
            },
        };
        watch(&base, &opts, hooks);
        (applies.into_inner(), log.into_inner())
    }

    #[test]
    fn watched_files_cover_every_kind() {
        let (_keep, dir) = setup();
        let project = match load(&dir) {
            Ok(p) => p,
            Err(e) => panic!("load: {e}"),
        };
        let files = watched_files(&[dir.join("compose.yaml")], &project);
        for name in ["compose.yaml", "app.env", "cfg.txt", "sec.txt"] {
            assert!(
                files.iter().any(|f| f.ends_with(name)),
                "{name} missing from {files:?}"
            );
        }
    }

    #[test]
    fn each_kind_of_change_applies_again() {
        for name in ["compose.yaml", "app.env", ".env", "cfg.txt", "sec.txt"] {
            let (_keep, dir) = setup();
            let target = dir.join(name);
            let (applies, log) = run(&dir, 0, 8, |t| {
                if t == 2 {
                    let old = std::fs::read_to_string(&target).unwrap_or_default();
                    write(&target, &format!("{old}\n# edited\n"));
                }
            });
            assert_eq!(applies, 2, "{name}: {log:?}");
            assert!(
                log.iter()
                    .any(|l| l.contains("changed:") && l.contains(name))
            );
            assert!(log.iter().any(|l| l.ends_with("plan: 1 to add")));
        }
    }

    #[test]
    fn same_content_is_no_change() {
        let (_keep, dir) = setup();
        let target = dir.join("cfg.txt");
        let (applies, _) = run(&dir, 0, 6, |t| {
            if t == 2 {
                std::thread::sleep(Duration::from_millis(10));
                write(&target, "c1");
            }
        });
        assert_eq!(applies, 1);
    }

    #[test]
    fn bursts_of_writes_apply_once() {
        let (_keep, dir) = setup();
        let target = dir.join("cfg.txt");
        // Writes every tick for 5 ticks (20 ms apart), debounce 100 ms.
        let (applies, _) = run(&dir, 100, 20, |t| {
            if (2..7).contains(&t) {
                write(&target, &format!("c{t}"));
            }
        });
        assert_eq!(applies, 2);
    }

    #[test]
    fn broken_file_is_logged_and_the_loop_goes_on() {
        let (_keep, dir) = setup();
        let stack = dir.join("compose.yaml");
        let (applies, log) = run(&dir, 0, 12, |t| match t {
            2 => write(&stack, "services: [not, a, map\n"),
            6 => write(&stack, &STACK.replace("busybox", "busybox:1")),
            _ => {}
        });
        assert_eq!(applies, 2, "{log:?}");
        assert!(
            log.iter()
                .any(|l| l.contains("cannot load the stack, keeping the last one applied")),
            "{log:?}"
        );
    }
}
