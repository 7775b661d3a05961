//! The parent side of starting a container: clone into new namespaces and learn
//! whether its command started. The child places itself in its cgroup.
//!
//! This runs in a single-threaded process (the monitor): the child keeps running
//! berth's code until `execve`, which is only safe without other threads.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, pipe2};

use super::console;
use super::init::{self, InitError, InitPlan};

/// The container's stdio, as fds the child dups onto 0, 1 and 2.
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Stdio {
    /// The caller's own stdio, stdin replaced by /dev/null unless `interactive`.
    pub fn inherit(interactive: bool) -> Stdio {
        let null = if interactive {
            None
        } else {
            std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
        };
        Stdio {
            stdin: null,
            stdout: None,
            stderr: None,
        }
    }
}

/// A started container: its init's pid, and the pty master with `-t`.
pub struct Spawned {
    pub pid: Pid,
    pub console: Option<OwnedFd>,
}

/// Clones the container's init and waits until its command is running (its
/// close-on-exec report pipe closed) or failed (it wrote why).
pub fn spawn(plan: &InitPlan, stdio: Stdio) -> Result<Spawned, InitError> {
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e))?;
    let console = match plan.tty {
        true => Some(console::socket_pair()?),
        false => None,
    };
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if plan.own_netns && plan.netns.is_none() {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let clone_flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a raw clone with no new stack behaves like fork(); the process is
    // single-threaded, and the child only runs `init::run`, which ends in execve
    // or _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, clone_flags, 0, 0, 0, 0) };
    if pid < 0 {
        return Err(sys("clone", Errno::last()));
    }
    if pid == 0 {
        drop(report_read);
        set_stdio(&stdio);
        let (monitor_end, container_end) =
            console.map_or((None, None), |(m, c)| (Some(m), Some(c)));
        drop(monitor_end);
        init::run(plan, report_write, container_end);
    }
    let child = Pid::from_raw(pid as i32);
    drop(report_write);
    drop(stdio);
    let master = console.and_then(|(monitor_end, container_end)| {
        drop(container_end);
        console::receive_master(&monitor_end)
    });
    match read_report(report_read) {
        None => Ok(Spawned {
            pid: child,
            console: master,
        }),
        Some(err) => {
            let _ = waitpid(child, None);
            Err(err)
        }
    }
}

fn sys(what: &str, e: Errno) -> InitError {
    InitError::engine(format!("{what}: {}", e.desc()))
}

/// In the child: put the chosen fds on 0, 1 and 2.
fn set_stdio(stdio: &Stdio) {
    for (fd, target) in [(&stdio.stdin, 0), (&stdio.stdout, 1), (&stdio.stderr, 2)] {
        if let Some(fd) = fd {
            // SAFETY: dup2 onto a standard fd number; the source is a valid fd.
            unsafe { libc::dup2(fd.as_raw_fd(), target) };
        }
    }
}

/// EOF with nothing written means execve succeeded.
fn read_report(fd: OwnedFd) -> Option<InitError> {
    // SAFETY: we own the fd; File takes it over and closes it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) };
    std::mem::forget(fd);
    let mut text = String::new();
    match file.read_to_string(&mut text) {
        Ok(0) => None,
        Ok(_) => Some(InitError::decode(&text)),
        Err(e) => Some(InitError::engine(format!(
            "reading the container's start report: {e}"
        ))),
    }
}
