//! Health checks, run by the monitor as docker does: every `interval` the test
//! runs inside the container (like `exec`); `retries` failures in a row make it
//! unhealthy; failures during `start_period` do not count; a test running longer
//! than `timeout` is killed and fails. The last five results are kept.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::runtime::container::exec::{self as container_exec, ExecPlan};
use crate::runtime::image::config::ImageHealthcheck;

/// docker keeps this many results in `State.Health.Log`.
const KEEP_RESULTS: usize = 5;
/// Output kept per result, as docker truncates it.
const MAX_OUTPUT: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HealthConfig {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

/// What a container asks of its health check (`--health-*` flags, a compose
/// `healthcheck:`), to be laid over the image's HEALTHCHECK.
#[derive(Debug, Clone, Default)]
pub struct HealthOverride {
    /// `--no-healthcheck`, `disable: true`: no check, whatever the image says.
    pub disable: bool,
    pub test: Option<Vec<String>>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

impl HealthOverride {
    /// docker's rules: the test replaces the image's; each unset timing comes
    /// from the image, then from docker's defaults; a NONE test means no check.
    pub fn resolve(self, image: Option<&ImageHealthcheck>) -> Option<HealthConfig> {
        if self.disable {
            return None;
        }
        let test = self.test.or_else(|| image.map(|i| i.test.clone()))?;
        if test.first().is_none_or(|kind| kind == "NONE") {
            return None;
        }
        let base = image.cloned().unwrap_or_default();
        let timing = |own: Option<Duration>, image_ns: i64, default: u64| {
            own.unwrap_or_else(|| match u64::try_from(image_ns) {
                Ok(ns) if ns > 0 => Duration::from_nanos(ns),
                _ => Duration::from_secs(default),
            })
        };
        let retries = self
            .retries
            .or_else(|| u32::try_from(base.retries).ok().filter(|n| *n > 0))
            .unwrap_or(3);
        Some(HealthConfig {
            test,
            interval: timing(self.interval, base.interval, 30),
            timeout: timing(self.timeout, base.timeout, 30),
            start_period: timing(self.start_period, base.start_period, 0),
            start_interval: timing(self.start_interval, base.start_interval, 5),
            retries,
        })
    }
}

impl HealthConfig {
    /// The argv to run, or None when the test is `NONE` or empty.
    pub fn argv(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl Health {
    /// Where every run begins, before its first check.
    pub fn starting() -> Health {
        Health {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

struct Running {
    pid: Pid,
    output: OwnedFd,
    started: Instant,
    started_at: String,
}

/// The monitor's side: when to run the next test, and the one running now.
pub struct Checker {
    config: HealthConfig,
    plan: ExecPlan,
    container_started: Instant,
    next: Instant,
    running: Option<Running>,
    pub health: Health,
}

impl Checker {
    pub fn new(config: HealthConfig, plan: ExecPlan) -> Checker {
        let now = Instant::now();
        let first = if config.start_period.is_zero() {
            config.interval
        } else {
            config.start_interval.max(Duration::from_millis(100))
        };
        Checker {
            config,
            plan,
            container_started: now,
            next: now + first,
            running: None,
            health: Health::starting(),
        }
    }

    /// How long the monitor may sleep before calling `tick`.
    pub fn wait(&self) -> Duration {
        let due = match &self.running {
            Some(r) => r.started + self.config.timeout,
            None => self.next,
        };
        due.saturating_duration_since(Instant::now())
    }

    /// Starts a due test, or kills one past its timeout. True when the health
    /// changed.
    pub fn tick(&mut self) -> bool {
        let now = Instant::now();
        if let Some(r) = &self.running {
            if now >= r.started + self.config.timeout {
                let _ = kill(r.pid, Signal::SIGKILL);
            }
            return false;
        }
        if now < self.next {
            return false;
        }
        let started_at = crate::runtime::container::create::now_rfc3339();
        match self.launch() {
            Ok((pid, output)) => {
                self.running = Some(Running {
                    pid,
                    output,
                    started: now,
                    started_at,
                });
                false
            }
            Err(message) => self.record(-1, message, started_at),
        }
    }

    fn launch(&mut self) -> Result<(Pid, OwnedFd), String> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
        self.plan.stdout = Some(write);
        let result = container_exec::spawn(&self.plan).map_err(|e| e.message);
        self.plan.stdout = None;
        result.map(|(pid, _)| (pid, read))
    }

    /// After SIGCHLD: collects a finished test. True when the health changed.
    pub fn reap(&mut self) -> bool {
        let Some(r) = &self.running else { return false };
        let code = match waitpid(r.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => code,
            Ok(WaitStatus::Signaled(..)) => -1,
            Ok(_) => return false,
            Err(_) => -1,
        };
        let Some(r) = self.running.take() else {
            return false;
        };
        let output = read_output(&r.output);
        let output = if code == -1 && r.started.elapsed() >= self.config.timeout {
            format!("Health check exceeded timeout ({:?})", self.config.timeout)
        } else {
            output
        };
        self.record(code, output, r.started_at)
    }

    /// Records a result; always true (the log changed).
    fn record(&mut self, code: i32, output: String, start: String) -> bool {
        let in_start_period = self.container_started.elapsed() < self.config.start_period;
        if code == 0 {
            self.health.failing_streak = 0;
            self.health.status = "healthy".into();
        } else if !in_start_period || self.health.status != "starting" {
            self.health.failing_streak += 1;
            if self.health.failing_streak >= self.config.retries.max(1) {
                self.health.status = "unhealthy".into();
            }
        }
        self.health.log.push(HealthResult {
            start,
            end: crate::runtime::container::create::now_rfc3339(),
            exit_code: code,
            output,
        });
        if self.health.log.len() > KEEP_RESULTS {
            self.health.log.remove(0);
        }
        let interval = if self.health.status == "starting"
            && in_start_period
            && !self.config.start_interval.is_zero()
        {
            self.config.start_interval
        } else {
            self.config.interval
        };
        self.next = Instant::now() + interval;
        true
    }

    /// The running test's pid, so the monitor can tell its exit from the
    /// container's.
    pub fn pid(&self) -> Option<Pid> {
        self.running.as_ref().map(|r| r.pid)
    }
}

fn read_output(fd: &OwnedFd) -> String {
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = nix::unistd::read(fd, &mut buf) {
        out.extend_from_slice(&buf[..n]);
        if out.len() >= MAX_OUTPUT {
            out.truncate(MAX_OUTPUT);
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_forms() {
        let mut c = HealthConfig {
            test: vec!["CMD-SHELL".into(), "test -f /ok".into()],
            ..HealthConfig::default()
        };
        assert_eq!(
            c.argv(),
            Some(vec!["/bin/sh".into(), "-c".into(), "test -f /ok".into()])
        );
        c.test = vec!["CMD".into(), "true".into()];
        assert_eq!(c.argv(), Some(vec!["true".into()]));
        c.test = vec!["NONE".into()];
        assert_eq!(c.argv(), None);
    }
}
