//! `exec`: a new process inside a running container, with the same isolation as
//! its init: cgroup, every namespace, capabilities, no_new_privs, seccomp.
//!
//! The caller (single-threaded) forks a joiner. It moves itself into the cgroup
//! (while host paths are still visible), enters the namespaces (mount last), and
//! forks the command so it lands in the container's pid namespace. Both stay
//! non-dumpable until execve (CVE-2019-5736), keep no fd but stdio (fd leaks,
//! CVE-2024-21626), and the joiner relays signals to the command and exits with
//! its status.

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use super::init::{self, InitError};
use super::user;
use crate::runtime::security::caps::Cap;

/// What to run, fully decided by the caller.
pub struct ExecPlan {
    pub pid: i32,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub caps: BTreeSet<Cap>,
    pub seccomp: Option<seccompiler::BpfProgram>,
    pub no_new_privileges: bool,
    pub cgroup_files: Vec<std::path::PathBuf>,
    pub tty: bool,
    pub hostname: String,
    /// Where the command's stdout and stderr go (stdin is then /dev/null);
    /// None inherits the caller's stdio.
    pub stdout: Option<OwnedFd>,
}

/// The namespaces joined, in order: mount last, since afterwards host paths are
/// gone.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

fn sys(what: &str, e: Errno) -> InitError {
    InitError::engine(format!("{what}: {}", e.desc()))
}

/// Forks the joiner; returns its pid (its exit status is the command's) and the
/// pty master with `-t`. Fails with 126/127 when the command cannot start.
pub fn spawn(plan: &ExecPlan) -> Result<(Pid, Option<OwnedFd>), InitError> {
    // Opened before forking: the container's init may exit meanwhile.
    let mut ns_fds = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = format!("/proc/{}/ns/{name}", plan.pid);
        let fd = open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys(&format!("opening {path}"), e))?;
        ns_fds.push((fd, *flag));
    }
    let (report_read, report_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e))?;
    let console = match plan.tty {
        true => Some(super::console::socket_pair()?),
        false => None,
    };
    // SAFETY: the caller is single-threaded; the child only joins and execs.
    match unsafe { fork() }.map_err(|e| sys("fork", e))? {
        ForkResult::Child => {
            drop(report_read);
            let container_end = console.map(|(monitor, container)| {
                drop(monitor);
                container
            });
            let code = joiner(plan, ns_fds, report_write, container_end);
            // SAFETY: leave without running the caller's cleanup.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(report_write);
            drop(ns_fds);
            let master = console.and_then(|(monitor, container)| {
                drop(container);
                super::console::receive_master(&monitor)
            });
            match read_report(report_read) {
                None => Ok((child, master)),
                Some(err) => {
                    let _ = waitpid(child, None);
                    Err(err)
                }
            }
        }
    }
}

fn read_report(fd: OwnedFd) -> Option<InitError> {
    let mut text = String::new();
    let mut file = std::fs::File::from(fd);
    match std::io::Read::read_to_string(&mut file, &mut text) {
        Ok(0) => None,
        Ok(_) => Some(InitError::decode(&text)),
        Err(e) => Some(InitError::engine(format!("reading the exec report: {e}"))),
    }
}

/// In the joiner: enter everything, fork the command, relay, exit with its status.
fn joiner(
    plan: &ExecPlan,
    ns_fds: Vec<(OwnedFd, CloneFlags)>,
    report: OwnedFd,
    console: Option<OwnedFd>,
) -> i32 {
    let result = enter(plan, ns_fds).and_then(|()| {
        let mut all = SigSet::all();
        all.remove(Signal::SIGKILL);
        all.remove(Signal::SIGSTOP);
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
            .map_err(|e| sys("blocking signals", e))?;
        // SAFETY: single-threaded; the child only sets up and execs.
        match unsafe { fork() }.map_err(|e| sys("fork", e))? {
            ForkResult::Child => {
                let err = match command(plan, console) {
                    Ok(never) => match never {},
                    Err(e) => e,
                };
                let mut pipe = std::fs::File::from(report);
                let _ = std::io::Write::write_all(&mut pipe, err.encode().as_bytes());
                // SAFETY: leave without cleanup; the report is written.
                unsafe { libc::_exit(err.code) }
            }
            ForkResult::Parent { child } => {
                drop(report);
                drop(console);
                Ok(relay(child, &all))
            }
        }
    });
    result.unwrap_or_else(|e| e.code)
}

fn enter(plan: &ExecPlan, ns_fds: Vec<(OwnedFd, CloneFlags)>) -> Result<(), InitError> {
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
    for file in &plan.cgroup_files {
        std::fs::write(file, b"0").map_err(|e| {
            InitError::engine(format!("joining the cgroup {}: {e}", file.display()))
        })?;
    }
    for (fd, flag) in ns_fds {
        setns(&fd, flag).map_err(|e| sys(&format!("setns({flag:?})"), e))?;
    }
    Ok(())
}

/// The command's side: user, working dir, privileges, exec.
fn command(
    plan: &ExecPlan,
    console: Option<OwnedFd>,
) -> Result<std::convert::Infallible, InitError> {
    nix::unistd::chdir("/").map_err(|e| sys("chdir /", e))?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let exec_user = user::resolve(&plan.user, &passwd, &group).map_err(InitError::engine)?;
    if let Some(out) = &plan.stdout {
        redirect(out)?;
    }
    if let Some(socket) = console {
        super::console::setup(&socket, super::console::terminal_size())?;
    } else {
        // A new session, so a signal for the exec reaches only it.
        let _ = nix::unistd::setsid();
    }
    let dir = if plan.working_dir.is_empty() {
        "/"
    } else {
        plan.working_dir.as_str()
    };
    init::chdir_inside(dir)?;
    let env = init::final_env(&plan.env, &plan.hostname, plan.tty, &exec_user);
    let privileges = init::Privileges {
        caps: &plan.caps,
        seccomp: plan.seccomp.as_ref(),
        no_new_privileges: plan.no_new_privileges,
    };
    init::drop_privileges(&privileges, &exec_user)?;
    init::close_inherited_fds();
    init::unblock_signals();
    init::exec(&plan.args, &env)
}

/// stdout and stderr to `out`, stdin from /dev/null (which the container has).
fn redirect(out: &OwnedFd) -> Result<(), InitError> {
    use std::os::fd::AsRawFd;
    let null = open("/dev/null", OFlag::O_RDONLY, Mode::empty())
        .map_err(|e| sys("opening /dev/null", e))?;
    // SAFETY: dup2 onto the standard fds from valid fds.
    unsafe {
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(out.as_raw_fd(), 2);
    }
    Ok(())
}

/// Passes signals on to the command and returns its exit status.
fn relay(child: Pid, set: &SigSet) -> i32 {
    loop {
        match waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Err(_) => return init::EXIT_ENGINE,
            Ok(_) => {}
        }
        match set.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                let _ = kill(child, sig);
            }
        }
    }
}
