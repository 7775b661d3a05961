//! Running `exec` from the CLI: the plan from the container's record and the
//! user's flags, then the joiner, then the signal (and pty) relay.

use super::io::{self, Io};
use super::{CGROUP_PARENT, MonitorError, block_signals, security, watched_signals};
use crate::runtime::cgroup;
use crate::runtime::container::exec::{self as container_exec, ExecPlan};
use crate::runtime::container::lifecycle::Container;

pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
}

/// Runs a command in a running container; returns its exit status (0 at once
/// with `detach`).
pub fn exec(c: &Container, opts: &ExecOptions) -> Result<i32, MonitorError> {
    if !c.is_running() || c.state.pid <= 0 {
        return Err(MonitorError::Container(
            crate::runtime::container::ContainerError::NotRunning {
                name: c.record.name.clone(),
            },
        ));
    }
    let cfg = &c.record.config;
    let hierarchy = cgroup::detect()?;
    let (caps, seccomp) = security(cfg, hierarchy.enforces_devices())?;
    let mut env = cfg.env.clone();
    for (key, value) in &opts.env {
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(format!("{key}={value}"));
    }
    let plan = ExecPlan {
        pid: c.state.pid,
        args: opts.args.clone(),
        env,
        working_dir: opts
            .working_dir
            .clone()
            .unwrap_or_else(|| cfg.working_dir.clone()),
        user: opts.user.clone().unwrap_or_else(|| cfg.user.clone()),
        caps,
        seccomp,
        no_new_privileges: cfg.no_new_privileges,
        cgroup_files: hierarchy
            .open(CGROUP_PARENT, &c.record.id)
            .self_join_files()?,
        tty: opts.tty,
        hostname: cfg.hostname.clone(),
    };
    let mask = block_signals()?;
    let result = run(&plan, opts);
    let _ = mask.thread_unblock();
    result
}

fn run(plan: &ExecPlan, opts: &ExecOptions) -> Result<i32, MonitorError> {
    let (joiner, master) = container_exec::spawn(plan).map_err(MonitorError::Start)?;
    if opts.detach {
        return Ok(0);
    }
    let io = Io {
        stdout: master,
        stderr: None,
        pty: opts.tty,
        attach: true,
        stdin: opts.tty && opts.interactive,
    };
    let code = io::relay(io, None, joiner, &watched_signals())?;
    Ok(code)
}
