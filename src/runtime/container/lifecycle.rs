//! Operations on existing containers: their live state, signals, stop, wait and
//! removal. The state file is corrected whenever it claims a process that no
//! longer exists (a monitor killed, a machine rebooted): a container is never
//! shown running forever.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ContainerError;
use super::create::{self, now_rfc3339, write_state};
use super::record::{self, ContainerRecord, ContainerState, Status};
use crate::runtime::store::Store;

/// How often waiting loops look at the state again.
const POLL: Duration = Duration::from_millis(10);

/// A container as the verbs see it: record plus current, corrected state.
#[derive(Debug, Clone)]
pub struct Container {
    pub record: ContainerRecord,
    pub state: ContainerState,
}

impl Container {
    pub fn is_running(&self) -> bool {
        matches!(
            self.state.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }
}

/// The start time of a process (field 22 of /proc/PID/stat), to tell a live
/// container from an unrelated process that reused its pid.
pub fn process_start(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// A process's state letter and start time, from /proc/PID/stat.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is still the process that started at `start`, and not a
/// zombie: a container init whose monitor was killed is reparented to pid 1,
/// which may take its time to reap it.
fn same_process(pid: i32, start: Option<u64>) -> bool {
    if pid <= 0 {
        return false;
    }
    match (proc_stat(pid), start) {
        (Some(('Z' | 'X', _)) | None, _) => false,
        (Some((_, now)), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

/// Whether someone still answers for the state: the container's init, or its
/// monitor (which records the exit itself, moments after the init is gone, and
/// is the only process left while a container waits to restart).
fn alive(state: &ContainerState) -> bool {
    same_process(state.monitor_pid, state.monitor_start)
        || (state.status != Status::Restarting && same_process(state.pid, state.pid_start))
}

/// Present while a commit keeps the container frozen: the committer's pid and
/// start time.
const COMMIT_FREEZE: &str = "commit.freeze";

/// Reads a container, correcting a state whose process is gone.
pub fn load(store: &Store, id: &str) -> Result<Container, ContainerError> {
    let dir = record::container_dir(store.root(), id);
    let record = record::read_record(&dir)?;
    let mut state = record::read_state(&dir)?;
    if matches!(
        state.status,
        Status::Running | Status::Paused | Status::Restarting
    ) && !alive(&state)
    {
        state.status = Status::Exited;
        state.pid = 0;
        state.finished_at.get_or_insert_with(now_rfc3339);
        if state.exit_code == 0 {
            // The monitor died with it: the real status was never recorded.
            state.exit_code = 137;
        }
        state.ports.clear();
        let _ = write_state(&dir, &state);
        // Nobody else will remove the dead monitor's cgroup, network, or port
        // rules (the kernel closed its reserving sockets).
        destroy_cgroup(id);
        release_network(store, &record);
        if crate::runtime::network::ports::publishes(&record.config) {
            let _ = crate::runtime::network::firewall::cleanup_container(store.root(), id);
        }
    } else if state.status == Status::Paused && frozen_by_dead_commit(&dir) {
        thaw_after_dead_commit(&dir, id, &mut state);
    }
    Ok(Container { record, state })
}

/// Marks a container as frozen by the commit of this process, before the
/// freeze; see [`frozen_by_dead_commit`].
pub fn mark_commit_freeze(store: &Store, id: &str) -> Result<(), ContainerError> {
    let path = record::container_dir(store.root(), id).join(COMMIT_FREEZE);
    let me = std::process::id() as i32;
    let owner = format!("{me} {}", process_start(me).unwrap_or(0));
    std::fs::write(&path, owner).map_err(|e| ContainerError::io(&path, e))
}

pub fn clear_commit_freeze(store: &Store, id: &str) {
    let _ = std::fs::remove_file(record::container_dir(store.root(), id).join(COMMIT_FREEZE));
}

/// A commit killed while the container was frozen for it left it paused; it
/// is not a user's pause, so it is thawed.
fn frozen_by_dead_commit(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(COMMIT_FREEZE)) else {
        return false;
    };
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(pid), start) => !same_process(pid as i32, start),
        _ => true,
    }
}

fn thaw_after_dead_commit(dir: &Path, id: &str, state: &mut ContainerState) {
    let thawed = crate::runtime::cgroup::detect()
        .map_err(|e| e.to_string())
        .and_then(|h| {
            h.open(crate::runtime::monitor::CGROUP_PARENT, id)
                .thaw()
                .map_err(|e| e.to_string())
        });
    match thawed {
        Ok(()) => {
            state.status = Status::Running;
            let _ = write_state(dir, state);
            let _ = std::fs::remove_file(dir.join(COMMIT_FREEZE));
        }
        Err(e) => tracing::warn!(id, "thawing after a killed commit: {e}"),
    }
}

fn release_network(store: &Store, record: &ContainerRecord) {
    if let Err(e) = crate::runtime::network::stop(store, record) {
        tracing::warn!(id = %record.id, "releasing the network: {e}");
    }
}

fn destroy_cgroup(id: &str) {
    if let Ok(hierarchy) = crate::runtime::cgroup::detect() {
        let _ = hierarchy
            .open(crate::runtime::monitor::CGROUP_PARENT, id)
            .destroy();
    }
}

/// Every container, newest first, with corrected states.
pub fn list(store: &Store) -> Result<Vec<Container>, ContainerError> {
    let mut out = Vec::new();
    for (record, _) in record::list(store.root())? {
        if let Ok(c) = load(store, &record.id) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Finds by name, id or unique id prefix, then loads.
pub fn find(store: &Store, name: &str) -> Result<Container, ContainerError> {
    let id = create::resolve(store, name)?;
    load(store, &id)
}

/// Sends `signal` to the container's init.
pub fn signal(c: &Container, signal: Signal) -> Result<(), ContainerError> {
    if !c.is_running() {
        return Err(ContainerError::NotRunning {
            name: c.record.name.clone(),
        });
    }
    // Between restarts there is no process but the monitor: it stops waiting.
    let (pid, signal) = match c.state.status {
        Status::Restarting => (c.state.monitor_pid, Signal::SIGTERM),
        _ => (c.state.pid, signal),
    };
    // kill(0) or kill(-1) would signal our own process group, or everything.
    if pid <= 0 {
        return Err(ContainerError::NotRunning {
            name: c.record.name.clone(),
        });
    }
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            return Err(ContainerError::io(
                Path::new("kill"),
                std::io::Error::from(e),
            ));
        }
    }
    // A frozen process takes a SIGKILL only once thawed (docker thaws a
    // paused container it kills); other signals wait for `unpause`.
    if c.state.status == Status::Paused && signal == Signal::SIGKILL {
        cgroup_of(c)?
            .thaw()
            .map_err(|e| ContainerError::Store(e.to_string()))?;
    }
    Ok(())
}

/// docker stop: the stop signal, then SIGKILL once `timeout` has passed.
pub fn stop(store: &Store, c: &Container, timeout: Duration) -> Result<(), ContainerError> {
    if !c.is_running() {
        return Ok(());
    }
    let stop_signal = c
        .record
        .config
        .stop_signal
        .as_deref()
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(Signal::SIGTERM);
    mark_stopping(store, c);
    c.record.event(
        store.root(),
        "kill",
        &[("signal", (stop_signal as i32).to_string())],
    );
    signal(c, stop_signal)?;
    if wait_until_stopped(store, &c.record.id, timeout)? {
        return Ok(());
    }
    // Escalate against the current state: the container may have been restarted.
    let now = load(store, &c.record.id)?;
    if now.is_running() {
        signal(&now, Signal::SIGKILL)?;
    }
    wait_until_stopped(store, &c.record.id, Duration::from_secs(10))?;
    c.record.event(store.root(), "stop", &[]);
    Ok(())
}

/// A stop asked by a user: the restart policy must not bring the container back.
pub fn mark_stopping(store: &Store, c: &Container) {
    let dir = record::container_dir(store.root(), &c.record.id);
    if let Ok(mut state) = record::read_state(&dir) {
        state.stopped_by_user = true;
        let _ = write_state(&dir, &state);
    }
}

/// True once the container is no longer running; false on timeout.
pub fn wait_until_stopped(
    store: &Store,
    id: &str,
    timeout: Duration,
) -> Result<bool, ContainerError> {
    let start = Instant::now();
    loop {
        if !load(store, id)?.is_running() {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        std::thread::sleep(POLL);
    }
}

/// The monitor records the exit before its last clean-up writes; removing the
/// directory meanwhile fails (`Directory not empty`), so a remove waits for the
/// monitor process itself, up to `timeout`.
fn wait_for_monitor(store: &Store, id: &str, timeout: Duration) {
    let dir = record::container_dir(store.root(), id);
    let start = Instant::now();
    while let Ok(state) = record::read_state(&dir) {
        if !same_process(state.monitor_pid, state.monitor_start) || start.elapsed() >= timeout {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// docker wait: blocks until the container is not running, returns its code.
pub fn wait(store: &Store, id: &str) -> Result<i32, ContainerError> {
    loop {
        let c = load(store, id)?;
        if !c.is_running() && c.state.status != Status::Created {
            return Ok(c.state.exit_code);
        }
        std::thread::sleep(POLL);
    }
}

/// docker rm; `force` kills a running container first.
pub fn remove(store: &Store, c: &Container, force: bool) -> Result<(), ContainerError> {
    if c.is_running() {
        if !force {
            return Err(ContainerError::RemoveRunning {
                id: c.record.id.clone(),
            });
        }
        // The restart policy must not bring it back while it is being removed.
        mark_stopping(store, c);
        signal(c, Signal::SIGKILL)?;
        // Never delete the directory under a live container's mounts.
        if !wait_until_stopped(store, &c.record.id, Duration::from_secs(10))? {
            return Err(ContainerError::State {
                message: format!(
                    "container {} is still running 10 s after SIGKILL; it was not removed",
                    c.record.id
                ),
            });
        }
    }
    wait_for_monitor(store, &c.record.id, Duration::from_secs(5));
    destroy_cgroup(&c.record.id);
    release_network(store, &c.record);
    create::remove(store, &c.record)
}

/// The container's cgroup (existing only while it runs).
fn cgroup_of(c: &Container) -> Result<crate::runtime::cgroup::Cgroup, ContainerError> {
    let hierarchy =
        crate::runtime::cgroup::detect().map_err(|e| ContainerError::Store(e.to_string()))?;
    Ok(hierarchy.open(crate::runtime::monitor::CGROUP_PARENT, &c.record.id))
}

fn set_status(store: &Store, c: &Container, status: Status) -> Result<(), ContainerError> {
    let dir = record::container_dir(store.root(), &c.record.id);
    let mut state = record::read_state(&dir)?;
    state.status = status;
    write_state(&dir, &state)
}

/// docker pause: freezes every process of the container (the cgroup freezer).
pub fn pause(store: &Store, c: &Container) -> Result<(), ContainerError> {
    match c.state.status {
        Status::Running => {}
        Status::Paused => {
            return Err(ContainerError::State {
                message: format!("container {} is already paused", c.record.id),
            });
        }
        _ => {
            return Err(ContainerError::NotRunning {
                name: c.record.name.clone(),
            });
        }
    }
    // A user's pause is never taken for a dead commit's.
    let dir = record::container_dir(store.root(), &c.record.id);
    if frozen_by_dead_commit(&dir) {
        clear_commit_freeze(store, &c.record.id);
    }
    cgroup_of(c)?
        .freeze()
        .map_err(|e| ContainerError::Store(e.to_string()))?;
    c.record.event(store.root(), "pause", &[]);
    set_status(store, c, Status::Paused)
}

pub fn unpause(store: &Store, c: &Container) -> Result<(), ContainerError> {
    if c.state.status != Status::Paused {
        return Err(ContainerError::State {
            message: format!("container {} is not paused", c.record.id),
        });
    }
    cgroup_of(c)?
        .thaw()
        .map_err(|e| ContainerError::Store(e.to_string()))?;
    c.record.event(store.root(), "unpause", &[]);
    set_status(store, c, Status::Running)
}

/// The processes of a running container (host pids).
pub fn processes(c: &Container) -> Result<Vec<i32>, ContainerError> {
    if !c.is_running() {
        return Err(ContainerError::NotRunning {
            name: c.record.name.clone(),
        });
    }
    cgroup_of(c)?
        .pids()
        .map_err(|e| ContainerError::Store(e.to_string()))
}

/// Usage counters of a running container.
pub fn stats(c: &Container) -> Result<crate::runtime::cgroup::Stats, ContainerError> {
    if !c.is_running() {
        return Err(ContainerError::NotRunning {
            name: c.record.name.clone(),
        });
    }
    cgroup_of(c)?
        .stats()
        .map_err(|e| ContainerError::Store(e.to_string()))
}

/// docker update: new limits on the live cgroup and in the record.
pub fn update(
    store: &Store,
    c: &Container,
    change: impl FnOnce(&mut record::RunConfig),
) -> Result<(), ContainerError> {
    let dir = record::container_dir(store.root(), &c.record.id);
    let mut rec = record::read_record(&dir)?;
    change(&mut rec.config);
    if c.is_running() {
        let limits = crate::runtime::cgroup::Limits {
            memory: rec.config.memory,
            memory_swap: rec.config.memory_swap,
            cpus: rec.config.cpus,
            cpu_shares: rec.config.cpu_shares,
            pids: rec.config.pids_limit,
            restrict_devices: false,
        };
        cgroup_of(c)?
            .update(&limits)
            .map_err(|e| ContainerError::Store(e.to_string()))?;
    }
    let bytes =
        serde_json::to_vec_pretty(&rec).map_err(|e| ContainerError::Store(e.to_string()))?;
    crate::runtime::store::write_atomic(&dir.join(record::CONFIG_FILE), &bytes)
        .map_err(create::store_err)
}

/// Whether `system restore` (after a reboot or monitor crash) should start this
/// container again: docker's policies, never one a user stopped.
pub fn wants_restore(c: &Container) -> bool {
    use crate::runtime::monitor::restart::Policy;
    if c.is_running() || c.state.stopped_by_user || c.state.status == Status::Created {
        return false;
    }
    match Policy::parse(&c.record.config.restart_policy) {
        Policy::Always | Policy::UnlessStopped => true,
        policy @ Policy::OnFailure { .. } => {
            policy.should_restart(c.state.exit_code, c.state.restart_count, false)
        }
        Policy::No => false,
    }
}

/// A signal by name (`TERM`, `SIGTERM`, `sigkill`) or number (`9`).
pub fn parse_signal(text: &str) -> Result<Signal, ContainerError> {
    let bad = || ContainerError::InvalidSignal {
        signal: text.to_string(),
    };
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("TERM").ok(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill").ok(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("9").ok(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGHUP").ok(), Some(Signal::SIGHUP));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn a_zombie_is_not_alive() -> std::io::Result<()> {
        let mut child = std::process::Command::new("true").spawn()?;
        let pid = child.id() as i32;
        let start = process_start(pid);
        // Not waited for: once it exits it is a zombie until reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let zombie = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.starts_with(" Z")))
        };
        while !zombie() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(zombie(), "the child never became a zombie");
        assert!(!same_process(pid, start));
        child.wait()?;
        let me = std::process::id() as i32;
        assert!(same_process(me, process_start(me)));
        Ok(())
    }

    #[test]
    fn our_own_start_time_is_readable() {
        assert!(process_start(std::process::id() as i32).is_some());
        assert!(process_start(i32::MAX).is_none());
    }
}
