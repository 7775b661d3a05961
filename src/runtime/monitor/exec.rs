//! Running `exec` from the CLI: the plan from the container's record and the
//! user's flags, then the joiner, then the signal (and pty) relay.

use super::io::{self, Io};
use super::{CGROUP_PARENT, MonitorError, block_signals, security, watched_signals};
use crate::runtime::cgroup;
use crate::runtime::container::exec::{self as container_exec, ExecPlan};
use crate::runtime::container::lifecycle::Container;
use crate::runtime::container::record::ContainerRecord;

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
    let hierarchy = cgroup::detect()?;
    let plan = plan_for(
        &c.record,
        c.state.pid,
        opts.args.clone(),
        &opts.env,
        opts.working_dir.clone(),
        opts.user.clone(),
        opts.tty,
        &hierarchy,
    )?;
    let mask = block_signals()?;
    let result = run(&plan, opts);
    let _ = mask.thread_unblock();
    result
}

/// An exec in the container whose init is `pid`: its confinement, env and user,
/// with the caller's overrides.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_for(
    record: &ContainerRecord,
    pid: i32,
    args: Vec<String>,
    extra_env: &[(String, String)],
    working_dir: Option<String>,
    user: Option<String>,
    tty: bool,
    hierarchy: &cgroup::Hierarchy,
) -> Result<ExecPlan, MonitorError> {
    let cfg = &record.config;
    let (caps, seccomp) = security(cfg, hierarchy.enforces_devices())?;
    let mut env = cfg.env.clone();
    for (key, value) in extra_env {
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(format!("{key}={value}"));
    }
    Ok(ExecPlan {
        pid,
        args,
        env,
        working_dir: working_dir.unwrap_or_else(|| cfg.working_dir.clone()),
        user: user.unwrap_or_else(|| cfg.user.clone()),
        caps,
        seccomp,
        no_new_privileges: cfg.no_new_privileges,
        cgroup_files: hierarchy
            .open(CGROUP_PARENT, &record.id)
            .self_join_files()?,
        tty,
        hostname: cfg.hostname.clone(),
        stdout: None,
    })
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
        stdin_sink: None,
    };
    let code = io::relay(io, None, None, None, joiner, &watched_signals())?;
    Ok(code)
}
