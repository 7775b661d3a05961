//! The container's first process, between `clone` and `execve`. It runs berth's
//! code inside the new namespaces, so it is made non-dumpable at once (no container
//! process can open its /proc/PID/exe: CVE-2019-5736), keeps no fd of the host
//! past exec, and reports any failure to the parent through a close-on-exec pipe.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, setgid, setgroups, sethostname, setuid};

use super::rootfs::{self, RootfsPlan};
use super::user::{self, ExecUser};
use crate::runtime::security::caps::{self, Cap};
use crate::runtime::security::{paths, seccomp};

/// Exit statuses docker uses when the container never ran its command.
pub const EXIT_ENGINE: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the container's command never started; the code is the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    pub code: i32,
    pub message: String,
}

impl InitError {
    pub fn engine(message: String) -> InitError {
        InitError {
            code: EXIT_ENGINE,
            message,
        }
    }

    /// The wire form sent through the error pipe: `CODE\tmessage`.
    pub fn encode(&self) -> String {
        format!("{}\t{}", self.code, self.message)
    }

    pub fn decode(text: &str) -> InitError {
        match text.split_once('\t') {
            Some((code, message)) => InitError {
                code: code.parse().unwrap_or(EXIT_ENGINE),
                message: message.to_string(),
            },
            None => InitError::engine(text.to_string()),
        }
    }
}

/// Everything the init needs, computed by the parent before `clone` so that the
/// child does no allocation-heavy or fallible planning.
#[derive(Debug, Clone)]
pub struct InitPlan {
    pub rootfs: RootfsPlan,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub caps: BTreeSet<Cap>,
    /// The seccomp program, or None for `seccomp=unconfined` and `--privileged`.
    pub seccomp: Option<seccompiler::BpfProgram>,
    pub no_new_privileges: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub own_netns: bool,
    /// A network namespace to join (an fd the parent keeps open, and its path
    /// for the OCI spec) instead of making a new one.
    pub netns: Option<(std::os::fd::RawFd, std::path::PathBuf)>,
    /// `--init`: pid 1 stays a small reaper that forwards signals to the command.
    pub init: bool,
    /// `-t`: stdio is a pty from the container's devpts; see `console`.
    pub tty: bool,
    /// The terminal size to start the pty with (rows, columns).
    pub window: Option<(u16, u16)>,
    /// Files to write `0` into to join the container's cgroup (see
    /// `Cgroup::self_join_files`).
    pub cgroup_files: Vec<std::path::PathBuf>,
}

/// The child side of `clone`: never returns.
pub fn run(plan: &InitPlan, report: OwnedFd, console: Option<OwnedFd>) -> ! {
    let err = match setup_and_exec(plan, console) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // SAFETY: the fd is ours and stays open until _exit.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(report.as_raw_fd()) };
    let _ = pipe.write_all(err.encode().as_bytes());
    std::mem::forget(report);
    // SAFETY: _exit ends the process without running the parent's atexit handlers
    // or destructors, which belong to the parent's copy of the world.
    unsafe { libc::_exit(err.code) }
}

fn setup_and_exec(
    plan: &InitPlan,
    console: Option<OwnedFd>,
) -> Result<std::convert::Infallible, InitError> {
    set_dumpable(false)?;
    // Die with the monitor: a container is never left running unsupervised.
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    join_cgroup(&plan.cgroup_files)?;
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| sys("entering a cgroup namespace", e))?;
    umask(Mode::empty());
    if let Some((fd, _)) = &plan.netns {
        join_netns(*fd)?;
    } else if plan.own_netns {
        loopback_up()?;
    }
    rootfs::prepare(&plan.rootfs)?;
    sethostname(&plan.hostname).map_err(|e| sys("setting the hostname", e))?;
    if !plan.privileged {
        paths::mask_paths().map_err(|e| InitError::engine(e.to_string()))?;
        paths::readonly_paths().map_err(|e| InitError::engine(e.to_string()))?;
    }
    let user = lookup_user(&plan.user)?;
    if let Some(socket) = console {
        super::console::setup(&socket, plan.window)?;
    }
    enter_working_dir(&plan.working_dir)?;
    if plan.read_only {
        rootfs::make_root_readonly()?;
    }
    set_rlimits()?;
    let env = final_env(&plan.env, &plan.hostname, plan.tty, &user);
    let privileges = Privileges {
        caps: &plan.caps,
        seccomp: plan.seccomp.as_ref(),
        no_new_privileges: plan.no_new_privileges,
    };
    drop_privileges(&privileges, &user)?;
    umask(Mode::from_bits_truncate(0o022));
    close_inherited_fds();
    if plan.init {
        return reaper(&plan.args, &env);
    }
    unblock_signals();
    exec(&plan.args, &env)
}

/// `--init`: fork the command, then as pid 1 pass every catchable signal on to
/// it and reap every orphan, exiting with the command's status (128 + signal
/// if a signal killed it). The reaper stays non-dumpable, so a container
/// process without CAP_SYS_PTRACE cannot open its /proc/1/exe.
fn reaper(args: &[String], env: &[String]) -> Result<std::convert::Infallible, InitError> {
    let mut all = SigSet::all();
    all.remove(nix::sys::signal::Signal::SIGKILL);
    all.remove(nix::sys::signal::Signal::SIGSTOP);
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
        .map_err(|e| sys("blocking signals", e))?;
    // SAFETY: single-threaded; the child only unblocks signals and execs.
    let child = match unsafe { nix::unistd::fork() }.map_err(|e| sys("fork", e))? {
        nix::unistd::ForkResult::Child => {
            unblock_signals();
            let err = match exec(args, env) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            eprintln!("berth-init: {}", err.message);
            // SAFETY: leave without running the parent's cleanup.
            unsafe { libc::_exit(err.code) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    loop {
        match all.wait() {
            Ok(nix::sys::signal::Signal::SIGCHLD) => {
                if let Some(code) = reap_all(child) {
                    // SAFETY: pid 1 exiting ends the container.
                    unsafe { libc::_exit(code) }
                }
            }
            Ok(sig) => {
                let _ = nix::sys::signal::kill(child, sig);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every exited process; the command's status once it is among them.
fn reap_all(command: nix::unistd::Pid) -> Option<i32> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}

fn sys(what: &str, e: Errno) -> InitError {
    InitError::engine(format!("{what}: {}", e.desc()))
}

fn set_dumpable(on: bool) -> Result<(), InitError> {
    // SAFETY: plain prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on)) };
    if rc != 0 {
        return Err(sys("prctl(PR_SET_DUMPABLE)", Errno::last()));
    }
    Ok(())
}

/// Moves this (single-threaded) process into the container's cgroup before it
/// allocates anything worth accounting; the cgroup namespace is rooted there.
fn join_cgroup(files: &[std::path::PathBuf]) -> Result<(), InitError> {
    for file in files {
        std::fs::write(file, b"0").map_err(|e| {
            InitError::engine(format!("joining the cgroup {}: {e}", file.display()))
        })?;
    }
    Ok(())
}

/// Enters the namespace the parent prepared, then closes the fd: nothing of
/// the host's may reach the container's command.
fn join_netns(fd: std::os::fd::RawFd) -> Result<(), InitError> {
    // SAFETY: the parent keeps the fd open across the clone; the child's copy
    // is ours to close.
    let ns = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| sys("joining the network namespace", e))
}

/// `lo` comes up in a fresh network namespace, as in docker's `none` network.
fn loopback_up() -> Result<(), InitError> {
    // SAFETY: a plain socket and two ioctls on a zeroed, correctly sized ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(sys("opening a socket", Errno::last()));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let errno = Errno::last();
        libc::close(fd);
        if rc != 0 {
            return Err(sys("bringing up lo", errno));
        }
    }
    Ok(())
}

fn lookup_user(spec: &str) -> Result<ExecUser, InitError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    user::resolve(spec, &passwd, &group).map_err(InitError::engine)
}

/// Creates the working dir like docker, then checks that the cwd we got is the one
/// asked for and is inside the container (CVE-2024-21626: a leaked host fd's
/// /proc/self/fd/N would resolve outside).
fn enter_working_dir(dir: &str) -> Result<(), InitError> {
    let dir = if dir.is_empty() { "/" } else { dir };
    if !dir.starts_with('/') {
        return Err(InitError::engine(format!(
            "the working directory {dir:?} is not absolute"
        )));
    }
    if dir.starts_with("/proc/") {
        return Err(InitError::engine(format!(
            "the working directory {dir:?} is inside /proc"
        )));
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Err(InitError::engine(format!(
            "creating the working directory {dir}: {e}"
        )));
    }
    chdir_inside(dir)
}

/// chdir, then check that the cwd is inside the container: a leaked host fd's
/// /proc/self/fd/N, named directly or through a symlink, would resolve
/// outside, and getcwd then has no path from our root (CVE-2024-21626).
/// Used by the init and by `exec`.
pub(super) fn chdir_inside(dir: &str) -> Result<(), InitError> {
    if dir.starts_with("/proc/") {
        return Err(InitError::engine(format!(
            "the working directory {dir:?} is inside /proc"
        )));
    }
    nix::unistd::chdir(dir).map_err(|e| sys(&format!("chdir to {dir}"), e))?;
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.starts_with("/") && !cwd.to_string_lossy().contains("(unreachable)") => {
            Ok(())
        }
        _ => Err(InitError::engine(format!(
            "the working directory {dir:?} is outside the container"
        ))),
    }
}

/// docker's open-files limit, or the highest this host lets us set: raising the
/// hard limit needs CAP_SYS_RESOURCE, which some hosts withhold even from root.
pub fn nofile_limit() -> u64 {
    const DOCKER_NOFILE: u64 = 1_048_576;
    let hard = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(_, h)| h);
    let can_raise = caps::has_effective(caps::Capability::CAP_SYS_RESOURCE);
    if can_raise || hard >= DOCKER_NOFILE {
        DOCKER_NOFILE
    } else {
        hard
    }
}

/// The open-files limit; everything else is inherited.
fn set_rlimits() -> Result<(), InitError> {
    let limit = nofile_limit();
    setrlimit(Resource::RLIMIT_NOFILE, limit, limit).map_err(|e| sys("setting RLIMIT_NOFILE", e))
}

pub fn final_env(base: &[String], hostname: &str, tty: bool, user: &ExecUser) -> Vec<String> {
    let mut env = base.to_vec();
    let has = |env: &[String], key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    env
}

/// What a container process may do, shared by the init and `exec`.
pub struct Privileges<'a> {
    pub caps: &'a BTreeSet<Cap>,
    pub seccomp: Option<&'a seccompiler::BpfProgram>,
    pub no_new_privileges: bool,
}

/// Order matters: the bounding set can only shrink while we still hold
/// CAP_SETPCAP; ids change next; then the final sets, no_new_privs and seccomp
/// (last, so the filter does not have to allow our own setup).
pub fn drop_privileges(plan: &Privileges<'_>, user: &ExecUser) -> Result<(), InitError> {
    let engine = |e: crate::runtime::security::SecurityError| InitError::engine(e.to_string());
    let early_seccomp = !plan.no_new_privileges;
    if let (true, Some(program)) = (early_seccomp, plan.seccomp) {
        // Without no_new_privs only CAP_SYS_ADMIN may install a filter; the
        // syscalls still to come (capset, setuid, prctl) are all allowed by it.
        seccomp::install(program).map_err(engine)?;
    }
    caps::drop_bounding(plan.caps).map_err(engine)?;
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| sys("setgroups", e))?;
    setgid(Gid::from_raw(user.gid)).map_err(|e| sys("setgid", e))?;
    setuid(Uid::from_raw(user.uid)).map_err(|e| sys("setuid", e))?;
    caps::apply(plan.caps).map_err(engine)?;
    if plan.no_new_privileges {
        seccomp::set_no_new_privs().map_err(engine)?;
    }
    if let (false, Some(program)) = (early_seccomp, plan.seccomp) {
        seccomp::install(program).map_err(engine)?;
    }
    Ok(())
}

/// Every fd above stderr becomes close-on-exec, whatever opened it.
pub fn close_inherited_fds() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        // Older kernels: mark them one by one.
        for fd in 3..1024 {
            // SAFETY: fcntl on an fd that may or may not be open is harmless.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// The container starts with every signal unblocked and at its default action:
/// the monitor blocks signals it waits for, and Rust ignores SIGPIPE, which an
/// exec would otherwise pass on (a `yes | head` would then never end).
pub fn unblock_signals() {
    // Real-time signals too: an ignored one is inherited through execve.
    // glibc's wrappers refuse its own internal signals (32, 33), so the raw
    // syscall it is.
    for signal in 1..=libc::SIGRTMAX() {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: a zeroed sigaction is SIG_DFL with no flags and an empty
            // mask; the kernel copies it.
            unsafe {
                let action: libc::sigaction = std::mem::zeroed();
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    &action as *const libc::sigaction,
                    std::ptr::null_mut::<libc::sigaction>(),
                    std::mem::size_of::<libc::sigset_t>().min(8),
                );
            }
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// `execvp` semantics with the container's PATH, so "not found" (127) and "not
/// executable" (126) can be told apart as docker does.
pub fn exec(args: &[String], env: &[String]) -> Result<std::convert::Infallible, InitError> {
    let Some(program) = args.first() else {
        return Err(InitError::engine("no command specified".into()));
    };
    let c_args = to_cstrings(args)?;
    let c_env = to_cstrings(env)?;
    if program.contains('/') {
        let path = cstring(program)?;
        let e = nix::unistd::execve(&path, &c_args, &c_env)
            .err()
            .unwrap_or(Errno::EINVAL);
        return Err(exec_error(program, e));
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = false;
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = cstring(&format!("{dir}/{program}"))?;
        match nix::unistd::execve(&candidate, &c_args, &c_env) {
            Err(Errno::EACCES) => denied = true,
            Err(Errno::ENOENT | Errno::ENOTDIR) => {}
            Err(e) => return Err(exec_error(program, e)),
            Ok(never) => match never {},
        }
    }
    if denied {
        return Err(exec_error(program, Errno::EACCES));
    }
    Err(InitError {
        code: EXIT_NOT_FOUND,
        message: format!("exec: {program:?}: executable file not found in $PATH"),
    })
}

fn exec_error(program: &str, e: Errno) -> InitError {
    let code = match e {
        Errno::ENOENT | Errno::ENOTDIR => EXIT_NOT_FOUND,
        Errno::EACCES | Errno::ENOEXEC | Errno::EISDIR | Errno::EPERM => EXIT_NOT_EXECUTABLE,
        _ => EXIT_ENGINE,
    };
    let why = match e {
        Errno::ENOENT => "no such file or directory".to_string(),
        Errno::EACCES => "permission denied".to_string(),
        other => other.desc().to_lowercase(),
    };
    InitError {
        code,
        message: format!("exec: {program:?}: {why}"),
    }
}

fn cstring(text: &str) -> Result<CString, InitError> {
    CString::new(text).map_err(|_| InitError::engine(format!("{text:?} contains a NUL byte")))
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>, InitError> {
    items.iter().map(|s| cstring(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_the_pipe() {
        let e = InitError {
            code: EXIT_NOT_FOUND,
            message: "exec: \"x\": executable file not found in $PATH".into(),
        };
        assert_eq!(InitError::decode(&e.encode()), e);
        assert_eq!(InitError::decode("garbage").code, EXIT_ENGINE);
    }

    #[test]
    fn exec_errors_map_to_docker_codes() {
        assert_eq!(exec_error("x", Errno::ENOENT).code, EXIT_NOT_FOUND);
        assert_eq!(exec_error("x", Errno::EACCES).code, EXIT_NOT_EXECUTABLE);
        assert_eq!(exec_error("x", Errno::ENOEXEC).code, EXIT_NOT_EXECUTABLE);
        assert_eq!(exec_error("x", Errno::E2BIG).code, EXIT_ENGINE);
    }
}
