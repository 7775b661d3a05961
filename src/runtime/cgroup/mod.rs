//! Container cgroups: v1 (and hybrid) and v2 behind one interface.
//!
//! [`detect`] reads the mount table once per process and says which
//! version holds the controllers. On a hybrid host (v1 controllers plus an
//! empty cgroup2 at /sys/fs/cgroup/unified) the controllers are used
//! through v1, because a controller can only be active in one hierarchy and
//! the unified one has none. The driver is "cgroupfs": berth writes the
//! cgroup files itself (no systemd), under `<mount>/<parent>/<name>`.
//!
//! Limits follow docker's semantics (see [`Limits`]); errors name the file
//! and the value written.

mod fsutil;
mod limits;
mod mountinfo;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use fsutil::Removal;
use limits::Mode;

/// Which cgroup version holds the controllers berth uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no usable cgroup hierarchy in /proc/self/mountinfo (neither cgroup v1 controllers nor a cgroup2 mount); mount cgroup2 at /sys/fs/cgroup"
    )]
    NotMounted,
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("creating cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("removing cgroup {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("cgroup {path} still busy after {waited:?} (pids left: {pids:?})")]
    Busy {
        path: PathBuf,
        pids: Vec<i32>,
        waited: Duration,
    },
    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid {field} limit: {reason}")]
    InvalidLimit { field: &'static str, reason: String },
    #[error("the {controller} cgroup controller is not available: {detail}")]
    ControllerUnavailable {
        controller: &'static str,
        detail: String,
    },
    #[error("{what} is not supported here ({path} is missing)")]
    Unsupported { what: &'static str, path: PathBuf },
    #[error("timed out after {waited:?} waiting for {path} to {what}")]
    Timeout {
        path: PathBuf,
        what: &'static str,
        waited: Duration,
    },
    #[error("sending {signal} to pid {pid}: {source}")]
    Signal {
        pid: i32,
        signal: Signal,
        source: Errno,
    },
}

/// Resource limits in docker's units. `None` leaves a setting alone
/// (kernel default on create, unchanged on update).
#[derive(Default, Clone, Debug)]
pub struct Limits {
    /// Memory limit in bytes (> 0).
    pub memory: Option<u64>,
    /// Memory plus swap in bytes, -1 for unlimited swap, 0 for unset. When
    /// a cgroup is created with only `memory`, swap equals memory (docker).
    /// Ignored without swap accounting, as docker does.
    pub memory_swap: Option<i64>,
    /// CPUs' worth of time per period, e.g. 0.5 (at least 0.01).
    pub cpus: Option<f64>,
    /// Relative weight, docker's 2..=262144 (default 1024); 0 is unset.
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks; -1 (or 0, as in docker's API) is unlimited.
    pub pids: Option<i64>,
    /// Limit device access to docker's default allow-list (applied at create;
    /// `--privileged` leaves it off). See [`DEFAULT_DEVICE_RULES`].
    pub restrict_devices: bool,
}

/// docker's default device cgroup: creating any device node is allowed (so images
/// can ship them), but reading or writing only the harmless ones. Without this a
/// container with CAP_MKNOD could open the host's disks.
pub const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// A snapshot of a container's usage, for `berth stats`. Controllers that
/// are not present read as zero / no limit.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub cpu_usage_ns: u64,
    pub memory_usage: u64,
    /// `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Reclaimable page cache, which docker subtracts from usage for display.
    pub memory_inactive_file: u64,
    pub pids_current: u64,
    /// `None` when unlimited.
    pub pids_limit: Option<u64>,
}

/// The host's cgroup layout. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Hierarchy {
    layout: Arc<Layout>,
}

#[derive(Debug)]
enum Layout {
    V1 {
        mounts: v1::Mounts,
        /// The (controller-less) cgroup2 mount of a hybrid host.
        unified: Option<PathBuf>,
    },
    V2 {
        root: PathBuf,
    },
}

/// One container's cgroup: a directory per v1 hierarchy, or one v2 dir.
#[derive(Clone, Debug)]
pub struct Cgroup {
    /// `Err` when [`Hierarchy::open`] got a name `create` would refuse:
    /// such a cgroup cannot exist, so every operation but destroy fails.
    group: Result<Group, BadName>,
}

#[derive(Clone, Debug)]
struct BadName {
    name: String,
    reason: &'static str,
}

impl From<&BadName> for CgroupError {
    fn from(bad: &BadName) -> CgroupError {
        CgroupError::InvalidName {
            name: bad.name.clone(),
            reason: bad.reason,
        }
    }
}

#[derive(Clone, Debug)]
enum Group {
    /// Boxed: a path per v1 controller makes it several times larger.
    V1(Box<v1::Group>),
    V2(v2::Group),
}

/// How long freeze/thaw may take; the kernel normally needs a few ms.
const FREEZE_WAIT: Duration = Duration::from_secs(2);
/// How long kill_all tries to freeze before signalling anyway.
const KILL_FREEZE_WAIT: Duration = Duration::from_millis(200);
/// How long destroy waits for killed processes to leave the cgroup.
const DESTROY_WAIT: Duration = Duration::from_secs(1);

static DETECTED: OnceLock<Hierarchy> = OnceLock::new();

/// The host's hierarchy, read from /proc/self/mountinfo on first use and
/// cached for the life of the process (mounts of cgroupfs do not change
/// under a running engine).
pub fn detect() -> Result<Hierarchy, CgroupError> {
    if let Some(h) = DETECTED.get() {
        return Ok(h.clone());
    }
    let path = Path::new("/proc/self/mountinfo");
    let content = fsutil::read_string(path)?;
    let found = Hierarchy::from_mountinfo(&content)?;
    Ok(DETECTED.get_or_init(|| found).clone())
}

impl Hierarchy {
    /// v1 when any controller berth uses is mounted as v1 (v1-only and
    /// hybrid hosts), else v2 when cgroup2 is mounted. A cgroup2 mount
    /// alone does not make a host v2: hybrid hosts have one, without
    /// controllers.
    fn from_mountinfo(content: &str) -> Result<Hierarchy, CgroupError> {
        let found = mountinfo::cgroup_mounts(&mountinfo::parse(content));
        let layout = match (found.v1.is_empty(), found.unified) {
            (false, unified) => Layout::V1 {
                mounts: found.v1,
                unified,
            },
            (true, Some(root)) => Layout::V2 { root },
            (true, None) => return Err(CgroupError::NotMounted),
        };
        Ok(Hierarchy {
            layout: Arc::new(layout),
        })
    }

    /// A v2 hierarchy rooted at `root` regardless of what the host uses:
    /// lets tests drive the v2 code against this hybrid host's cgroup2.
    #[cfg(test)]
    fn v2_at(root: &Path) -> Hierarchy {
        Hierarchy {
            layout: Arc::new(Layout::V2 {
                root: root.to_path_buf(),
            }),
        }
    }

    pub fn version(&self) -> Version {
        match *self.layout {
            Layout::V1 { .. } => Version::V1,
            Layout::V2 { .. } => Version::V2,
        }
    }

    /// Creates (or reuses) `<mount>/<parent>/<name>` and applies `limits`.
    /// On failure nothing of the container's cgroup is left behind.
    pub fn create(&self, parent: &str, name: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let relative = relative_path(parent, name).map_err(|bad| CgroupError::from(&bad))?;
        let cgroup = self.cgroup_at(&relative);
        match cgroup.group()? {
            Group::V1(g) => g.create(limits)?,
            Group::V2(g) => g.create(limits)?,
        }
        Ok(cgroup)
    }

    /// The cgroup of an existing container; touches nothing, so it also
    /// works for one that is gone (destroy is then a no-op).
    pub fn open(&self, parent: &str, name: &str) -> Cgroup {
        match relative_path(parent, name) {
            Ok(relative) => self.cgroup_at(&relative),
            Err(bad) => Cgroup { group: Err(bad) },
        }
    }

    /// One line for `berth info`.
    /// Whether device access can be restricted on this host (v1's devices
    /// controller). On v2 that takes an eBPF program, which berth does not load
    /// yet, so callers must compensate (berth drops CAP_MKNOD there).
    pub fn enforces_devices(&self) -> bool {
        match &*self.layout {
            Layout::V1 { mounts, .. } => mounts.get(v1::Controller::Devices).is_some(),
            Layout::V2 { .. } => false,
        }
    }

    pub fn driver_description(&self) -> String {
        match &*self.layout {
            Layout::V1 {
                unified: Some(_), ..
            } => "cgroupfs v1 (hybrid)".to_string(),
            Layout::V1 { unified: None, .. } => "cgroupfs v1".to_string(),
            Layout::V2 { .. } => "cgroupfs v2".to_string(),
        }
    }

    fn cgroup_at(&self, relative: &Path) -> Cgroup {
        let group = match &*self.layout {
            Layout::V1 { mounts, .. } => Group::V1(Box::new(mounts.group(relative))),
            Layout::V2 { root } => {
                let parent = relative.parent().unwrap_or(Path::new(""));
                let name = relative.file_name().unwrap_or_default();
                Group::V2(v2::Group::new(root, parent, &name.to_string_lossy()))
            }
        };
        Cgroup { group: Ok(group) }
    }
}

/// `<parent>/<name>` after checking both cannot escape the mount: `parent`
/// may have several components (leading/trailing `/` ignored), `name` one.
fn relative_path(parent: &str, name: &str) -> Result<PathBuf, BadName> {
    let invalid = |reason| BadName {
        name: format!("{parent}/{name}"),
        reason,
    };
    if name.is_empty() || name.contains('/') {
        return Err(invalid("the name must be one non-empty path component"));
    }
    let mut path = PathBuf::new();
    let trimmed = parent.trim_matches('/');
    let parts = trimmed.split('/').filter(|_| !trimmed.is_empty());
    for part in parts.chain([name]) {
        let mut components = Path::new(part).components();
        let plain = matches!(components.next(), Some(Component::Normal(_)));
        if !plain || components.next().is_some() || part.contains('\0') {
            return Err(invalid(
                "components must be plain names (no '.', '..' or '//')",
            ));
        }
        path.push(part);
    }
    Ok(path)
}

impl Cgroup {
    fn group(&self) -> Result<&Group, CgroupError> {
        self.group.as_ref().map_err(CgroupError::from)
    }

    /// `None` for a cgroup opened with an invalid name.
    pub fn version(&self) -> Option<Version> {
        match self.group.as_ref().ok()? {
            Group::V1(_) => Some(Version::V1),
            Group::V2(_) => Some(Version::V2),
        }
    }

    /// Moves `pid` (a whole process) into the cgroup, in every hierarchy.
    ///
    /// Cost note: the first migration after a quiet period waits for an RCU
    /// grace period inside the kernel (~10 ms on a small VM); later ones
    /// are ~20 us per hierarchy. On v2, clone3(CLONE_INTO_CGROUP) with a
    /// descriptor of `paths()[0]` places a child without a migration.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        match self.group()? {
            Group::V1(g) => g.add_pid(pid),
            Group::V2(g) => g.add_pid(pid),
        }
    }

    /// The files a single-threaded process writes `0` into to move itself here.
    /// On v1 that is each hierarchy's `tasks`: a thread moving itself skips the
    /// kernel's global threadgroup lock, whose RCU wait otherwise costs 10-25 ms
    /// per container start. On v2 it is `cgroup.procs`.
    pub fn self_join_files(&self) -> Result<Vec<PathBuf>, CgroupError> {
        Ok(match self.group()? {
            Group::V1(g) => g
                .unique_dirs()
                .into_iter()
                .map(|d| d.join("tasks"))
                .collect(),
            Group::V2(g) => vec![g.dir().join("cgroup.procs")],
        })
    }

    /// Live update (`berth update`). As in docker, a memory-only update
    /// leaves the swap limit alone.
    pub fn update(&self, limits: &Limits) -> Result<(), CgroupError> {
        match self.group()? {
            Group::V1(g) => g.apply(limits, Mode::Update),
            Group::V2(g) => g.apply(limits, Mode::Update),
        }
    }

    /// Freezes every process and returns once the kernel reports the
    /// cgroup frozen (at most ~2 s; on timeout it is thawed again).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.freeze_within(FREEZE_WAIT)
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.group()? {
            Group::V1(g) => g.thaw(FREEZE_WAIT),
            Group::V2(g) => g.thaw(FREEZE_WAIT),
        }
    }

    /// Every process in the cgroup and its sub-cgroups (a container may
    /// make its own), sorted. On v1 the union over all hierarchies, so a
    /// half-placed process is not missed.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut all = std::collections::BTreeSet::new();
        for dir in self.paths() {
            all.extend(fsutil::pids_recursive(&dir)?);
        }
        Ok(all.into_iter().collect())
    }

    /// Whether the kernel's OOM killer killed a process in this cgroup.
    pub fn oom_killed(&self) -> Result<bool, CgroupError> {
        match self.group()? {
            Group::V1(g) => g.oom_killed(),
            Group::V2(g) => g.oom_killed(),
        }
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match self.group()? {
            Group::V1(g) => g.stats(),
            Group::V2(g) => g.stats(),
        }
    }

    /// Sends `signal` to every process. SIGKILL goes through cgroup.kill
    /// where the kernel has it, otherwise the cgroup is frozen while the
    /// pids are listed and signalled, so nothing can fork out of reach.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if signal == Signal::SIGKILL
            && let Ok(Group::V2(g)) = &self.group
            && let Some(kill) = g.kill_file()
        {
            return fsutil::write_value(&kill, "1");
        }
        if signal != Signal::SIGKILL || !self.can_freeze() {
            return self.signal_each(signal);
        }
        // Skips the freeze when there is nothing to kill: destroy calls this
        // repeatedly while waiting for the dead to leave.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        // The freeze only narrows a fork race, so a slow one is given up on
        // (it thaws itself) and the signals are sent regardless.
        let _ = self.freeze_within(KILL_FREEZE_WAIT);
        let sent = self.signal_each(signal);
        // Always thaw: SIGKILLed tasks only die once they run again, and
        // this also ends a paused container.
        sent.and(self.thaw())
    }

    fn freeze_within(&self, limit: Duration) -> Result<(), CgroupError> {
        match self.group()? {
            Group::V1(g) => g.freeze(limit),
            Group::V2(g) => g.freeze(limit),
        }
    }

    fn can_freeze(&self) -> bool {
        match &self.group {
            Ok(Group::V1(g)) => g.freezer_dir().is_some_and(Path::exists),
            Ok(Group::V2(g)) => g.dir().join("cgroup.freeze").exists(),
            Err(_) => false,
        }
    }

    /// Processes that exit meanwhile (ESRCH) are not an error.
    fn signal_each(&self, signal: Signal) -> Result<(), CgroupError> {
        // Never 0 or negative: kill(2) would reach a whole process group.
        for pid in self.pids()?.into_iter().filter(|p| *p > 0) {
            match signal::kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    return Err(CgroupError::Signal {
                        pid,
                        signal,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Removes every directory (and sub-cgroups). Processes still inside
    /// are SIGKILLed and waited for (~1 s). Missing dirs are fine, so this
    /// can be repeated.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        destroy_dirs(&self.paths(), || self.kill_all(Signal::SIGKILL))
    }

    /// The cgroup's directories: one per distinct v1 hierarchy, or one
    /// (none for a cgroup opened with an invalid name).
    pub fn paths(&self) -> Vec<PathBuf> {
        match &self.group {
            Ok(Group::V1(g)) => g.unique_dirs(),
            Ok(Group::V2(g)) => vec![g.dir().to_path_buf()],
            Err(_) => Vec::new(),
        }
    }
}

/// rmdir each of `dirs`; when some are busy, call `kill` and retry (with
/// their sub-cgroups, deepest first) until they go or [`DESTROY_WAIT`]
/// passes. rmdir is the fast path: an empty cgroup costs one syscall.
fn destroy_dirs(
    dirs: &[PathBuf],
    mut kill: impl FnMut() -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let mut busy = remove_each(dirs, false)?;
    if busy.is_empty() {
        return Ok(());
    }
    let gone = fsutil::wait_until(DESTROY_WAIT, || {
        kill()?;
        busy = remove_each(&busy, true)?;
        Ok(busy.is_empty())
    })?;
    match busy.first() {
        Some(path) if !gone => Err(CgroupError::Busy {
            pids: fsutil::pids_recursive(path)?.into_iter().collect(),
            path: path.clone(),
            waited: DESTROY_WAIT,
        }),
        _ => Ok(()),
    }
}

/// Returns the directories still busy.
fn remove_each(dirs: &[PathBuf], with_children: bool) -> Result<Vec<PathBuf>, CgroupError> {
    let mut busy = Vec::new();
    for dir in dirs {
        if with_children {
            for child in fsutil::descendants_deepest_first(dir) {
                fsutil::remove_dir(&child)?;
            }
        }
        if fsutil::remove_dir(dir)? == Removal::Busy {
            busy.push(dir.clone());
        }
    }
    Ok(busy)
}
