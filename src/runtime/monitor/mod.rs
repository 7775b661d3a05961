//! The per-container supervisor: the parent of the container's init, never inside
//! its namespaces. It starts the container, forwards signals to it, records how it
//! ended, and cleans up its cgroup (and the container itself with `--rm`).
//!
//! In the foreground (`run`, `start -a`) the CLI process is the monitor; with `-d`
//! a session-leading, freshly executed berth is.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, setsid};

pub mod attach;
mod exec;
mod footprint;
pub mod health;
mod io;
pub mod logdecode;
pub mod logfile;
mod reserve;
pub mod restart;

use crate::runtime::cgroup::{self, Limits};
use crate::runtime::container::create::{self, now_rfc3339, write_state};
use crate::runtime::container::init::{InitError, InitPlan};
use crate::runtime::container::record::{self, ContainerRecord, ContainerState, Status};
use crate::runtime::container::rootfs::RootfsPlan;
use crate::runtime::container::spawn::{self, Stdio};
use crate::runtime::container::{etc_files, lifecycle, oci};
use crate::runtime::network;
use crate::runtime::network::ports;
use crate::runtime::security::caps::{self, Cap};
use crate::runtime::security::seccomp;
use crate::runtime::store::Store;
use logfile::{LogWriter, Rotation};

/// The cgroup parent every container's cgroup lives under.
pub const CGROUP_PARENT: &str = "berth";

/// Signals a foreground monitor passes on to the container, as `docker run`'s
/// signal proxy does.
const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The container's command never started; `code` is docker's exit status.
    #[error("{}", .0.message)]
    Start(InitError),
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    #[error("cgroup: {0}")]
    Cgroup(#[from] cgroup::CgroupError),
    #[error("security setup: {0}")]
    Security(#[from] crate::runtime::security::SecurityError),
    #[error(transparent)]
    Volume(#[from] crate::runtime::volume::VolumeError),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: nix::errno::Errno,
    },
}

impl MonitorError {
    pub fn exit_code(&self) -> i32 {
        match self {
            MonitorError::Start(e) => e.code,
            _ => crate::runtime::container::init::EXIT_ENGINE,
        }
    }
}

pub use exec::{ExecOptions, exec};

/// Runs a created container in the foreground; returns its exit status.
pub fn run_foreground(
    store: &Store,
    record: &ContainerRecord,
    interactive: bool,
) -> Result<i32, MonitorError> {
    let mask = block_signals()?;
    let result = supervise(
        store,
        record,
        Attach {
            attach: true,
            interactive,
        },
        None,
    );
    let _ = mask.thread_unblock();
    result
}

/// The first argument of a re-executed berth that is to be a detached monitor.
pub const MONITOR_FLAG: &str = "--container-monitor";
/// A detached monitor's argv[0], as `ps` shows it.
pub const MONITOR_NAME: &str = "berth-monitor";

/// Starts a created container under a detached monitor and returns once its
/// command is running (or has failed to start).
///
/// The monitor is a fresh execution of berth rather than a plain fork: a fork
/// would keep every page the CLI had touched for the container's whole life,
/// about 10 MB each; a fresh image maps only what supervising needs.
pub fn start_detached(store: &Store, record: &ContainerRecord) -> Result<(), MonitorError> {
    let start_lock = start_lock(store, &record.id)?;
    // A start whose CLI was killed may have carried on in its monitor and
    // finished while this one waited for the lock.
    if lifecycle::load(store, &record.id).is_ok_and(|c| c.is_running()) {
        return Ok(());
    }
    // Close-on-exec, so that a monitor forked meanwhile by another thread does
    // not inherit this pipe and keep its read end from ever seeing EOF.
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e))?;
    let argv = monitor_argv(store.root(), &record.id, &write_end, &start_lock)?;
    // SAFETY: berth is single-threaded here; the child only detaches and execs.
    match unsafe { fork() }.map_err(|e| sys("fork", e))? {
        ForkResult::Child => {
            drop(read_end);
            // The monitor itself keeps its report end and the start lock across exec.
            let keep = || nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty());
            let _ = nix::fcntl::fcntl(&write_end, keep());
            let _ = nix::fcntl::fcntl(&start_lock, keep());
            detach();
            let error = nix::unistd::execv(c"/proc/self/exe", &argv).unwrap_err();
            let report = Report {
                pipe: write_end,
                start_lock: start_lock.into(),
            };
            send_report(
                Some(report),
                &InitError::engine(format!("starting the container's monitor: {error}")).encode(),
            );
            // SAFETY: ends the child without unwinding into the CLI's code.
            unsafe { libc::_exit(125) }
        }
        ForkResult::Parent { .. } => {
            drop(write_end);
            // Closing this copy leaves the lock with the monitor's.
            drop(start_lock);
            read_start_report(read_end)
        }
    }
}

/// `containers/<id>/start.lock`, taken before a monitor is forked and held by
/// that monitor until the start is recorded (running, or failed): a second
/// start of the container waits for it, even when the first start's CLI was
/// killed half-way. Closing, not unlocking, releases it, so the copy the CLI
/// closes after the fork does not.
fn start_lock(store: &Store, id: &str) -> Result<std::fs::File, MonitorError> {
    let path = record::container_dir(store.root(), id).join("start.lock");
    let io = |e: std::io::Error| {
        MonitorError::Container(crate::runtime::container::ContainerError::io(&path, e))
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

fn monitor_argv(
    root: &Path,
    id: &str,
    report: &OwnedFd,
    start_lock: &std::fs::File,
) -> Result<Vec<std::ffi::CString>, MonitorError> {
    use std::os::unix::ffi::OsStrExt;
    let fd = std::os::fd::AsRawFd::as_raw_fd(report).to_string();
    let lock = std::os::fd::AsRawFd::as_raw_fd(start_lock).to_string();
    [
        MONITOR_NAME.as_bytes(),
        MONITOR_FLAG.as_bytes(),
        root.as_os_str().as_bytes(),
        id.as_bytes(),
        fd.as_bytes(),
        lock.as_bytes(),
    ]
    .into_iter()
    .map(|arg| {
        std::ffi::CString::new(arg).map_err(|_| sys("monitor argument", nix::errno::Errno::EINVAL))
    })
    .collect()
}

/// The monitor outlives the CLI: its own session, and none of the CLI's
/// terminal or pipes.
fn detach() {
    let _ = setsid();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for target in 0..3 {
            // SAFETY: dup2 onto the standard fds.
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), target) };
        }
    }
}

/// The detached monitor's entry point: `berth --container-monitor ROOT ID FD`,
/// as [`start_detached`] runs it; FD is the start-report pipe.
pub fn detached_main(args: &[std::ffi::OsString]) -> i32 {
    let [root, id, fd, lock] = args else {
        return 125;
    };
    let fd_arg = |a: &std::ffi::OsString| a.to_str().and_then(|f| f.parse::<i32>().ok());
    let (Some(fd), Some(lock)) = (fd_arg(fd), fd_arg(lock)) else {
        return 125;
    };
    // SAFETY: start_detached passed these fds, open and ours alone, on exec.
    let (pipe, start_lock) = unsafe {
        use std::os::fd::FromRawFd;
        (OwnedFd::from_raw_fd(fd), OwnedFd::from_raw_fd(lock))
    };
    let cloexec = || nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC);
    let _ = nix::fcntl::fcntl(&pipe, cloexec());
    let _ = nix::fcntl::fcntl(&start_lock, cloexec());
    let report = Report { pipe, start_lock };
    let id = id.to_string_lossy();
    let opened = Store::open(root)
        .map_err(|e| e.to_string())
        .and_then(|store| {
            let dir = record::container_dir(store.root(), &id);
            let record = record::read_record(&dir).map_err(|e| e.to_string())?;
            Ok((store, record))
        });
    let (store, record) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            send_report(Some(report), &InitError::engine(e).encode());
            return 125;
        }
    };
    if block_signals().is_err() {
        return 125;
    }
    let mode = Attach {
        attach: false,
        interactive: false,
    };
    match supervise(&store, &record, mode, Some(report)) {
        Ok(code) => code,
        Err(e) => e.exit_code(),
    }
}

/// How the monitor's own terminal takes part.
#[derive(Debug, Clone, Copy)]
struct Attach {
    /// Output is copied to the monitor's stdout/stderr.
    attach: bool,
    /// The monitor's stdin goes to the container.
    interactive: bool,
}

/// Pipes for stdout and stderr (the container's ends go in `Stdio`), unless the
/// pty carries everything.
/// The container's stdio and the monitor's ends: stdout and stderr pipes (unless
/// a pty carries everything) and, for a detached `-i` container, the write end of
/// its stdin, which attached clients feed.
type Plumbing = (Stdio, Option<OwnedFd>, Option<OwnedFd>, Option<OwnedFd>);

fn plumbing(tty: bool, open_stdin: bool, mode: Attach) -> Result<Plumbing, MonitorError> {
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e));
    let (stdin, stdin_sink) = if mode.attach && mode.interactive && !tty {
        (None, None)
    } else if !mode.attach && open_stdin && !tty {
        let (read, write) = pipe()?;
        (Some(read), Some(write))
    } else {
        (
            std::fs::File::open("/dev/null").ok().map(OwnedFd::from),
            None,
        )
    };
    if tty {
        let stdio = Stdio {
            stdin,
            stdout: None,
            stderr: None,
        };
        return Ok((stdio, None, None, None));
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdio = Stdio {
        stdin,
        stdout: Some(out_w),
        stderr: Some(err_w),
    };
    Ok((stdio, Some(out_r), Some(err_r), stdin_sink))
}

fn read_start_report(fd: OwnedFd) -> Result<(), MonitorError> {
    let mut file = std::fs::File::from(fd);
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.strip_prefix("ok") {
        Some(_) => Ok(()),
        None if text.is_empty() => Err(MonitorError::Start(InitError::engine(
            "the container's monitor exited before the container started".into(),
        ))),
        None => Err(MonitorError::Start(InitError::decode(&text))),
    }
}

pub(crate) fn sys(what: &str, source: nix::errno::Errno) -> MonitorError {
    MonitorError::Sys {
        what: what.to_string(),
        source,
    }
}

/// Blocks the forwarded signals and SIGCHLD, so the wait loop receives them
/// synchronously; the container's init unblocks them before exec.
fn block_signals() -> Result<SigSet, MonitorError> {
    let set = watched_signals();
    set.thread_block().map_err(|e| sys("blocking signals", e))?;
    Ok(set)
}

fn watched_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(*sig);
    }
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
    set
}

/// Starts, waits, records, cleans up. `report` (detached mode) learns whether the
/// start worked, then the monitor carries on alone.
fn supervise(
    store: &Store,
    record: &ContainerRecord,
    mode: Attach,
    report: Option<Report>,
) -> Result<i32, MonitorError> {
    let dir = record::container_dir(store.root(), &record.id);
    let hierarchy = cgroup::detect()?;
    let rotation = Rotation {
        max_size: record.config.log_max_size,
        max_files: record.config.log_max_files.unwrap_or(1),
    };
    let mut log = LogWriter::open(logfile::log_path(&dir, &record.id), rotation).map_err(|e| {
        MonitorError::Container(crate::runtime::container::ContainerError::io(&dir, e))
    })?;
    reserve::take(&dir);
    // A user's start clears an earlier user's stop; restarts must not. Most
    // starts have nothing to clear, and the start path is kept short.
    let state = record::read_state(&dir).unwrap_or_default();
    if state.stopped_by_user {
        write_state(
            &dir,
            &ContainerState {
                stopped_by_user: false,
                ..state
            },
        )?;
    }
    let policy = restart::Policy::parse(&record.config.restart_policy);
    let mut backoff = restart::Backoff::default();
    let mut report = report;
    let mut first = true;
    // Detached containers can be attached to (the socket outlives restarts).
    let mut hub = match mode.attach {
        true => None,
        false => attach::Hub::bind(&dir, record.config.tty).ok(),
    };
    loop {
        let started = std::time::Instant::now();
        let code = match run_once(
            store,
            record,
            mode,
            report.take(),
            &mut log,
            &hierarchy,
            hub.as_mut(),
        ) {
            Ok(code) => code,
            Err(e) if first => {
                cleanup_after(store, record);
                return Err(e);
            }
            Err(e) => e.exit_code(),
        };
        first = false;
        let state = record::read_state(&dir).unwrap_or_default();
        if !policy.should_restart(code, state.restart_count, state.stopped_by_user) {
            cleanup_after(store, record);
            return Ok(code);
        }
        let delay = backoff.next(started.elapsed());
        let restarting = ContainerState {
            status: Status::Restarting,
            restart_count: state.restart_count + 1,
            monitor_pid: std::process::id() as i32,
            monitor_start: lifecycle::process_start(std::process::id() as i32),
            ..state
        };
        write_state(&dir, &restarting)?;
        tracing::debug!(id = %record.id, ?delay, count = restarting.restart_count, "restarting");
        if restart::interrupted(delay) {
            let stopped = ContainerState {
                status: Status::Exited,
                ..restarting
            };
            write_state(&dir, &stopped)?;
            return Ok(code);
        }
    }
}

/// One start of the container until it exits; returns its exit status.
fn run_once(
    store: &Store,
    record: &ContainerRecord,
    mode: Attach,
    report: Option<Report>,
    log: &mut LogWriter,
    hierarchy: &cgroup::Hierarchy,
    mut hub: Option<&mut attach::Hub>,
) -> Result<i32, MonitorError> {
    let dir = record::container_dir(store.root(), &record.id);
    // Held until the container exits; a taken port fails the start before
    // anything else is done.
    let mut published = match ports::reserve_for(&record.config) {
        Ok(p) => p,
        Err(e) => {
            let e = port_error(record, &e);
            start_failed(&dir, &e);
            send_report(report, &e.encode());
            return Err(MonitorError::Start(e));
        }
    };
    // Torn down when dropped: after the container exits, or on any failure.
    let net = match network::start(store, record) {
        Ok(net) => net,
        Err(e) => {
            let e = InitError::engine(e.to_string());
            start_failed(&dir, &e);
            send_report(report, &e.encode());
            return Err(MonitorError::Start(e));
        }
    };
    if let Err(e) = forward_ports(store, record, &mut published) {
        start_failed(&dir, &e);
        send_report(report, &e.encode());
        return Err(MonitorError::Start(e));
    }
    let mut plan = match plan(store, record, hierarchy.enforces_devices(), &net) {
        Ok(plan) => plan,
        Err(e) => {
            send_report(report, &InitError::engine(e.to_string()).encode());
            return Err(e);
        }
    };
    let cg = hierarchy.create(CGROUP_PARENT, &record.id, &limits(record))?;
    let prepared = cg
        .self_join_files()
        .map_err(MonitorError::from)
        .and_then(|files| {
            plan.cgroup_files = files;
            write_oci_spec(&dir, &plan, record)?;
            plumbing(record.config.tty, record.config.open_stdin, mode)
        });
    let (stdio, out, err, stdin_sink) = match prepared {
        Ok(v) => v,
        Err(e) => {
            let _ = cg.destroy();
            send_report(report, &InitError::engine(e.to_string()).encode());
            return Err(e);
        }
    };
    let spawned = match spawn::spawn(&plan, stdio) {
        Ok(spawned) => spawned,
        Err(e) => {
            let _ = cg.destroy();
            start_failed(&dir, &e);
            send_report(report, &e.encode());
            return Err(MonitorError::Start(e));
        }
    };
    let pid = spawned.pid;
    tracing::debug!(id = %record.id, pid = pid.as_raw(), "container started");
    let state = ContainerState {
        status: Status::Running,
        pid: pid.as_raw(),
        pid_start: lifecycle::process_start(pid.as_raw()),
        monitor_pid: std::process::id() as i32,
        monitor_start: lifecycle::process_start(std::process::id() as i32),
        started_at: Some(now_rfc3339()),
        ports: published.ports().to_vec(),
        // A new run starts unproven: the last run's "healthy" must not satisfy
        // a dependent that reads the state before the first check.
        health: record
            .config
            .healthcheck
            .as_ref()
            .map(|_| health::Health::starting()),
        ..record::read_state(&dir).unwrap_or_default()
    };
    write_state(&dir, &state)?;
    // A restart may follow a rename; a first start has the record just read.
    if state.restart_count > 0 {
        renamed(record, &dir).event(store.root(), "start", &[]);
    } else {
        record.event(store.root(), "start", &[]);
    }
    send_report(report, "ok");
    // Setting up (network, mounts, seccomp) is done.
    footprint::shed_startup_memory();
    let io = match spawned.console {
        Some(master) => io::Io {
            stdout: Some(master),
            stderr: None,
            pty: true,
            attach: mode.attach,
            stdin: mode.attach && mode.interactive,
            stdin_sink: None,
        },
        None => io::Io {
            stdout: out,
            stderr: err,
            pty: false,
            attach: mode.attach,
            stdin: false,
            stdin_sink,
        },
    };
    let mut checker = health_checker(record, pid.as_raw(), hierarchy)?;
    let save_health = |health: &health::Health| {
        if let Ok(mut state) = record::read_state(&dir) {
            let changed =
                state.health.as_ref().map(|h| h.status.as_str()) != Some(health.status.as_str());
            state.health = Some(health.clone());
            let _ = write_state(&dir, &state);
            // docker reports the changes, not the initial "starting".
            if changed && health.status != "starting" {
                renamed(record, &dir).event(
                    store.root(),
                    &format!("health_status: {}", health.status),
                    &[],
                );
            }
        }
    };
    if let Some(c) = &checker {
        // docker reports "starting" from the first moment.
        save_health(&c.health);
    }
    let hook = checker
        .as_mut()
        .map(|c| (c, &save_health as &dyn Fn(&health::Health)));
    let code = io::relay(
        io,
        Some(log),
        hook,
        hub.as_deref_mut(),
        pid,
        &watched_signals(),
    )?;
    if let Some(h) = hub {
        h.close_clients();
    }
    // Before the state says exited: whoever waited for that finds the
    // addresses released.
    drop(net);
    // `stop` may have marked the state meanwhile; keep what it wrote.
    let mut state = record::read_state(&dir).unwrap_or(state);
    state.status = Status::Exited;
    state.exit_code = code;
    state.pid = 0;
    state.finished_at = Some(now_rfc3339());
    state.oom_killed = cg.oom_killed().unwrap_or(false);
    state.ports.clear();
    if let Err(e) = published.unpublish(store) {
        tracing::warn!(id = %record.id, "removing the published ports' rules: {e}");
    }
    tracing::debug!(id = %record.id, code, oom = state.oom_killed, "container exited");
    let _ = cg.destroy();
    // The output may have filled the disk: the exit code must still land.
    reserve::write_final_state(&dir, &state)?;
    let record = renamed(record, &dir);
    if state.oom_killed {
        record.event(store.root(), "oom", &[]);
    }
    record.event(store.root(), "die", &[("exitCode", code.to_string())]);
    Ok(code)
}

/// The record with the name it has now: a `rename` since the start changes
/// the name events carry.
fn renamed(record: &ContainerRecord, dir: &Path) -> ContainerRecord {
    let mut now = record.clone();
    if let Ok(on_disk) = record::read_record(dir) {
        now.name = on_disk.name;
    }
    now
}

/// The container's health checker, when it has a test to run.
fn health_checker(
    record: &ContainerRecord,
    pid: i32,
    hierarchy: &cgroup::Hierarchy,
) -> Result<Option<health::Checker>, MonitorError> {
    let Some(config) = record.config.healthcheck.clone() else {
        return Ok(None);
    };
    let Some(args) = config.argv() else {
        return Ok(None);
    };
    let plan = exec::plan_for(record, pid, args, &[], None, None, false, hierarchy)?;
    Ok(Some(health::Checker::new(config, plan)))
}

/// Where a detached monitor tells its CLI how the start went, and the start
/// lock (see `start_lock`), released with the report: by then the state says
/// running, or the start failed.
struct Report {
    pipe: OwnedFd,
    start_lock: OwnedFd,
}

fn send_report(report: Option<Report>, text: &str) {
    if let Some(Report { pipe, start_lock }) = report {
        let mut file = std::fs::File::from(pipe);
        let _ = file.write_all(text.as_bytes());
        drop(start_lock);
    }
}

/// Points the reserved host ports at the container's address, once its network
/// is up.
fn forward_ports(
    store: &Store,
    record: &ContainerRecord,
    published: &mut ports::Published,
) -> Result<(), InitError> {
    if published.ports().is_empty() {
        return Ok(());
    }
    let address = network::primary_address(store, &record.id)
        .map_err(|e| InitError::engine(e.to_string()))?;
    let Some((ip, bridge)) = address else {
        return Ok(());
    };
    published
        .forward_to(store, &record.id, ip, &bridge)
        .map_err(|e| port_error(record, &e))
}

/// docker's wording for a port that cannot be published.
fn port_error(record: &ContainerRecord, e: &ports::PortError) -> InitError {
    InitError::engine(format!(
        "driver failed programming external connectivity on endpoint {} ({}): {e}",
        record.name, record.id
    ))
}

/// docker keeps a container whose command could not start as "created", with the
/// error and the exit code recorded.
fn start_failed(dir: &Path, e: &InitError) {
    let state = ContainerState {
        exit_code: e.code,
        error: e.message.clone(),
        ..record::read_state(dir).unwrap_or_default()
    };
    let _ = write_state(dir, &state);
}

fn cleanup_after(store: &Store, record: &ContainerRecord) {
    if record.config.auto_remove && create::remove(store, record).is_ok() {
        // As docker's `run --rm`: the anonymous volumes go with the container.
        let _ = crate::runtime::volume::remove_anonymous_of(store, record);
    }
}

pub(crate) fn reap(pid: Pid) -> Result<Option<i32>, MonitorError> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128 + sig as i32)),
        Ok(_) => Ok(None),
        Err(nix::errno::Errno::ECHILD) => Ok(Some(crate::runtime::container::init::EXIT_ENGINE)),
        Err(e) => Err(sys("waiting for the container", e)),
    }
}

fn limits(record: &ContainerRecord) -> Limits {
    let c = &record.config;
    Limits {
        memory: c.memory,
        memory_swap: c.memory_swap,
        cpus: c.cpus,
        cpu_shares: c.cpu_shares,
        pids: c.pids_limit,
        restrict_devices: !c.privileged,
    }
}

/// Everything the container's init needs, decided before it is cloned.
/// The capability set and seccomp program of a container (and of its execs).
fn security(
    c: &crate::runtime::container::record::RunConfig,
    devices_enforced: bool,
) -> Result<(BTreeSet<Cap>, Option<seccompiler::BpfProgram>), MonitorError> {
    let mut caps: BTreeSet<Cap> = caps::resolve(&c.cap_add, &c.cap_drop, c.privileged)?;
    if !devices_enforced && !c.privileged {
        // Without a device cgroup, CAP_MKNOD would let the container create and
        // open the host's block devices.
        caps.remove(&Cap(caps::Capability::CAP_MKNOD));
    }
    let seccomp = if c.seccomp && !c.privileged {
        Some(seccomp::default_filter(&caps)?)
    } else {
        None
    };
    Ok((caps, seccomp))
}

fn plan(
    store: &Store,
    record: &ContainerRecord,
    devices_enforced: bool,
    net: &network::Attached<'_>,
) -> Result<InitPlan, MonitorError> {
    let c = &record.config;
    let dir = record::container_dir(store.root(), &record.id);
    let own_netns = net.own_netns;
    let hostname = net.hostname.clone().unwrap_or_else(|| c.hostname.clone());
    let (caps, seccomp) = security(c, devices_enforced)?;
    let files = match &net.shared_files {
        Some(files) => files.clone(),
        None => write_etc_files(&dir, c, own_netns, net.hosts_written)?,
    };
    let mounts = volume_mounts(store, record)?;
    Ok(InitPlan {
        rootfs: RootfsPlan {
            rootfs: dir.join("rootfs"),
            layers: c.layers.clone(),
            upper: dir.join("upper"),
            work: dir.join("work"),
            files,
            own_netns,
            privileged: c.privileged,
            volatile: c.auto_remove,
            mounts,
        },
        args: c.args.clone(),
        env: c.env.clone(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        hostname,
        caps,
        seccomp,
        no_new_privileges: c.no_new_privileges,
        read_only: c.read_only,
        privileged: c.privileged,
        own_netns,
        netns: net.netns.as_ref().map(|fd| {
            let path = net.netns_path.clone().unwrap_or_default();
            (std::os::fd::AsRawFd::as_raw_fd(fd), path)
        }),
        init: c.init,
        tty: c.tty,
        window: super::container::console::terminal_size(),
        cgroup_files: Vec::new(),
    })
}

/// The container's mounts for this start; the first start copies the image's
/// content into empty volumes.
fn volume_mounts(
    store: &Store,
    record: &ContainerRecord,
) -> Result<Vec<crate::runtime::container::mounts::MountPlan>, MonitorError> {
    use crate::runtime::volume::start::{Purpose, plans};
    let dir = record::container_dir(store.root(), &record.id);
    let first = record::read_state(&dir).map_or(true, |s| s.started_at.is_none());
    Ok(plans(store, record, Purpose::Start { first })?)
}

/// What this start does, in the OCI runtime format, for other tools to read.
fn write_oci_spec(
    dir: &Path,
    plan: &InitPlan,
    record: &ContainerRecord,
) -> Result<(), MonitorError> {
    let cgroups_path = format!("{CGROUP_PARENT}/{}", record.id);
    let spec = oci::runtime_spec(plan, &limits(record), &cgroups_path)
        .map_err(|message| MonitorError::Start(InitError::engine(message)))?;
    let path = dir.join(oci::SPEC_FILE);
    let bytes = serde_json::to_vec_pretty(&spec)
        .map_err(|e| MonitorError::Start(InitError::engine(e.to_string())))?;
    std::fs::write(&path, bytes).map_err(|e| {
        MonitorError::Container(crate::runtime::container::ContainerError::io(&path, e))
    })
}

/// The container's /etc/hosts, hostname and resolv.conf; on bridge networks
/// the network setup has written the hosts file already (it lists peers).
fn write_etc_files(
    dir: &Path,
    c: &crate::runtime::container::record::RunConfig,
    own_netns: bool,
    hosts_written: bool,
) -> Result<Vec<(std::path::PathBuf, String)>, MonitorError> {
    let hostname = c.hostname.as_str();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut files = vec![
        ("hostname", format!("{hostname}\n"), "/etc/hostname"),
        (
            "resolv.conf",
            network::hosts::resolv_conf(&host_resolv, own_netns, &c.dns),
            "/etc/resolv.conf",
        ),
    ];
    if !hosts_written {
        let mut hosts = if own_netns {
            etc_files::hosts(hostname, None)
        } else {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        };
        hosts.push_str(&network::hosts::extra_hosts(&c.add_hosts, None));
        files.push(("hosts", hosts, "/etc/hosts"));
    }
    let mut out = vec![(dir.join("hosts"), "/etc/hosts".to_string())];
    for (name, content, dest) in files {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|e| {
            MonitorError::Container(crate::runtime::container::ContainerError::io(&path, e))
        })?;
        if name != "hosts" {
            out.push((path, dest.to_string()));
        }
    }
    Ok(out)
}
