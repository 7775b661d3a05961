//! cgroup v1: one directory per controller hierarchy.
//!
//! A container is placed in every controller berth knows (not only the ones
//! it limits) so that it is fully contained, as docker's cgroupfs driver
//! does; co-mounted controllers (`cpu,cpuacct`) share one directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::fsutil::{self, read_optional, write_value};
use super::limits::{self, Mode, SwapTotal};
use super::{CgroupError, Limits, Stats};

/// The v1 controllers berth places containers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Controller {
    Memory,
    Cpu,
    Cpuacct,
    Cpuset,
    Pids,
    Freezer,
    Devices,
    Blkio,
}

impl Controller {
    pub(super) const ALL: [Controller; 8] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Pids,
        Controller::Freezer,
        Controller::Devices,
        Controller::Blkio,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
            Controller::Devices => "devices",
            Controller::Blkio => "blkio",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A path per controller (mount points in [`Mounts`], the container's
/// directories in [`Group`]); `None` where the controller is not mounted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Mounts([Option<PathBuf>; 8]);

impl Mounts {
    pub(super) fn get(&self, c: Controller) -> Option<&Path> {
        self.0[c.index()].as_deref()
    }

    pub(super) fn insert_if_absent(&mut self, c: Controller, path: PathBuf) {
        self.0[c.index()].get_or_insert(path);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// The directories for `relative` under every mounted controller.
    pub(super) fn group(&self, relative: &Path) -> Group {
        Group {
            dirs: Mounts(self.0.clone().map(|m| m.map(|m| m.join(relative)))),
            cpuset_mount: self.get(Controller::Cpuset).map(Path::to_path_buf),
        }
    }
}

/// One container's v1 directories.
#[derive(Clone, Debug)]
pub(super) struct Group {
    dirs: Mounts,
    /// Where cpuset inheritance stops walking up.
    cpuset_mount: Option<PathBuf>,
}

fn unavailable(controller: Controller) -> CgroupError {
    CgroupError::ControllerUnavailable {
        controller: controller.name(),
        detail: "no cgroup v1 mount for it in /proc/self/mountinfo".to_string(),
    }
}

impl Group {
    fn need(&self, c: Controller) -> Result<&Path, CgroupError> {
        self.dirs.get(c).ok_or_else(|| unavailable(c))
    }

    /// Distinct directories: co-mounted controllers share one.
    pub(super) fn unique_dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for dir in self.dirs.0.iter().flatten() {
            if !out.contains(dir) {
                out.push(dir.clone());
            }
        }
        out
    }

    /// Makes the directories, then applies `limits`; on failure removes
    /// the container's directories (the shared parents stay).
    pub(super) fn create(&self, limits: &Limits) -> Result<(), CgroupError> {
        limits::validate(limits)?;
        self.check_available(limits)?;
        let result = self
            .make_dirs()
            .and_then(|()| self.apply(limits, Mode::Create));
        if result.is_err() {
            // Best effort: the creation error is the one worth reporting.
            let _ = super::destroy_dirs(&self.unique_dirs(), || Ok(()));
        }
        result
    }

    /// Fails before touching anything when a limit's controller is missing.
    fn check_available(&self, limits: &Limits) -> Result<(), CgroupError> {
        let memory = limits.memory.is_some() || limits.memory_swap.is_some();
        let cpu = limits.cpus.is_some() || limits::effective_shares(limits.cpu_shares).is_some();
        let wanted = [
            (memory, Controller::Memory),
            (cpu, Controller::Cpu),
            (limits.pids.is_some(), Controller::Pids),
        ];
        for (needed, c) in wanted {
            if needed {
                self.need(c)?;
            }
        }
        Ok(())
    }

    fn make_dirs(&self) -> Result<(), CgroupError> {
        for dir in self.unique_dirs() {
            fsutil::make_dir_all(&dir)?;
        }
        if let (Some(mount), Some(dir)) = (
            self.cpuset_mount.as_deref(),
            self.dirs.get(Controller::Cpuset),
        ) {
            // A cpuset with empty cpus/mems refuses tasks (ENOSPC), and new
            // cpusets start empty unless cgroup.clone_children is set.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                inherit_cpuset(mount, dir, file)?;
            }
        }
        Ok(())
    }

    pub(super) fn apply(&self, limits: &Limits, mode: Mode) -> Result<(), CgroupError> {
        limits::validate(limits)?;
        self.check_available(limits)?;
        if let Some(dir) = self.dirs.get(Controller::Memory) {
            apply_memory(dir, limits, mode)?;
        }
        if let Some(dir) = self.dirs.get(Controller::Cpu) {
            apply_cpu(dir, limits)?;
        }
        if let (Some(dir), Some(pids)) = (self.dirs.get(Controller::Pids), limits.pids) {
            write_value(&dir.join("pids.max"), &limits::pids_value(pids))?;
        }
        if let (Mode::Create, true, Some(dir)) = (
            mode,
            limits.restrict_devices,
            self.dirs.get(Controller::Devices),
        ) {
            restrict_devices(dir)?;
        }
        Ok(())
    }

    pub(super) fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for dir in self.unique_dirs() {
            write_value(&dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    pub(super) fn freezer_dir(&self) -> Option<&Path> {
        self.dirs.get(Controller::Freezer)
    }

    pub(super) fn freeze(&self, limit: Duration) -> Result<(), CgroupError> {
        let dir = self.need(Controller::Freezer)?;
        set_freezer(dir, "FROZEN", limit)
    }

    pub(super) fn thaw(&self, limit: Duration) -> Result<(), CgroupError> {
        let dir = self.need(Controller::Freezer)?;
        set_freezer(dir, "THAWED", limit)
    }

    /// The kernel (4.13+) counts OOM kills in memory.oom_control.
    pub(super) fn oom_killed(&self) -> Result<bool, CgroupError> {
        let dir = self.need(Controller::Memory)?;
        let path = dir.join("memory.oom_control");
        let content = read_optional(&path)?.unwrap_or_default();
        Ok(fsutil::keyed_value(&content, "oom_kill").is_some_and(|n| n > 0))
    }

    pub(super) fn stats(&self) -> Result<Stats, CgroupError> {
        let mut stats = Stats::default();
        if let Some(dir) = self.dirs.get(Controller::Cpuacct) {
            stats.cpu_usage_ns = read_or_zero(&dir.join("cpuacct.usage"))?;
        }
        if let Some(dir) = self.dirs.get(Controller::Memory) {
            memory_stats(dir, &mut stats)?;
        }
        if let Some(dir) = self.dirs.get(Controller::Pids) {
            stats.pids_current = read_or_zero(&dir.join("pids.current"))?;
            stats.pids_limit = fsutil::read_limit_optional(&dir.join("pids.max"))?;
        }
        Ok(stats)
    }
}

fn read_or_zero(path: &Path) -> Result<u64, CgroupError> {
    Ok(fsutil::read_u64_optional(path)?.unwrap_or(0))
}

/// v1 reports "no limit" as the page-aligned maximum (9223372036854771712);
/// anything that large is no limit in practice.
const V1_UNLIMITED_FLOOR: u64 = 1 << 62;

fn memory_stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    stats.memory_usage = read_or_zero(&dir.join("memory.usage_in_bytes"))?;
    let limit = fsutil::read_u64_optional(&dir.join("memory.limit_in_bytes"))?;
    stats.memory_limit = limit.filter(|l| *l < V1_UNLIMITED_FLOOR);
    let stat = read_optional(&dir.join("memory.stat"))?.unwrap_or_default();
    // total_* includes child cgroups, matching usage_in_bytes.
    stats.memory_inactive_file = fsutil::keyed_value(&stat, "total_inactive_file").unwrap_or(0);
    Ok(())
}

/// Copies `file` from the nearest ancestor when empty, fixing every empty
/// ancestor on the way (the parent `berth` dir is new on first use too).
fn inherit_cpuset(mount: &Path, dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    let current = fsutil::read_string(&path)?.trim().to_string();
    if !current.is_empty() || dir == mount {
        return Ok(current);
    }
    let Some(parent) = dir.parent() else {
        return Ok(current);
    };
    let value = inherit_cpuset(mount, parent, file)?;
    write_value(&path, &value)?;
    Ok(value)
}

/// Deny everything, then allow docker's list; the kernel checks each rule against
/// the parent's, so this can only narrow access.
fn restrict_devices(dir: &Path) -> Result<(), CgroupError> {
    write_value(&dir.join("devices.deny"), "a")?;
    for rule in super::DEFAULT_DEVICE_RULES {
        write_value(&dir.join("devices.allow"), rule)?;
    }
    Ok(())
}

fn apply_memory(dir: &Path, limits: &Limits, mode: Mode) -> Result<(), CgroupError> {
    if limits.memory.is_none() && limits.memory_swap.is_none() {
        return Ok(());
    }
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    // The memsw file exists only with swap accounting on (swapaccount=1).
    let accounting = memsw.exists();
    let total = limits::swap_total(limits.memory, limits.memory_swap, accounting, mode);
    let memory = dir.join("memory.limit_in_bytes");
    match (limits.memory, total) {
        (Some(m), Some(t)) => write_memory_and_swap(&memory, m, &memsw, t),
        (Some(m), None) => write_value(&memory, &m.to_string()),
        (None, Some(t)) => write_value(&memsw, &limits::v1_swap_value(t)),
        (None, None) => Ok(()),
    }
}

/// The kernel keeps memory.limit <= memsw.limit at every step, so when the
/// new total is above the current one it must be raised first, and
/// otherwise memory must be lowered first.
fn write_memory_and_swap(
    memory_path: &Path,
    memory: u64,
    memsw_path: &Path,
    total: SwapTotal,
) -> Result<(), CgroupError> {
    let current = fsutil::read_u64_optional(memsw_path)?.unwrap_or(u64::MAX);
    let raising = match total {
        SwapTotal::Unlimited => true,
        SwapTotal::Bytes(b) => b > current,
    };
    let memory_value = memory.to_string();
    let swap_value = limits::v1_swap_value(total);
    if raising {
        write_value(memsw_path, &swap_value)?;
        write_value(memory_path, &memory_value)
    } else {
        write_value(memory_path, &memory_value)?;
        write_value(memsw_path, &swap_value)
    }
}

fn apply_cpu(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(cpus) = limits.cpus {
        let quota = limits::cpu_quota(cpus)?;
        let period = limits::CPU_PERIOD_US.to_string();
        write_value(&dir.join("cpu.cfs_period_us"), &period)?;
        write_value(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
    }
    if let Some(shares) = limits::effective_shares(limits.cpu_shares) {
        write_value(&dir.join("cpu.shares"), &shares.to_string())?;
    }
    Ok(())
}

/// Writes `target` to freezer.state and waits until the state reads back
/// as `target` (it passes through FREEZING). Freezing can stall while a
/// task is in an uninterruptible sleep, so the write is repeated, which
/// makes the kernel retry; on timeout a freeze is undone.
fn set_freezer(dir: &Path, target: &str, limit: Duration) -> Result<(), CgroupError> {
    let path = dir.join("freezer.state");
    write_value(&path, target)?;
    let mut polls = 0u32;
    let done = fsutil::wait_until(limit, || {
        polls += 1;
        if polls.is_multiple_of(10) {
            write_value(&path, target)?;
        }
        Ok(fsutil::read_string(&path)?.trim() == target)
    })?;
    if done {
        return Ok(());
    }
    if target == "FROZEN" {
        let _ = write_value(&path, "THAWED");
    }
    Err(CgroupError::Timeout {
        path,
        what: if target == "FROZEN" { "freeze" } else { "thaw" },
        waited: limit,
    })
}

/// Reads freezer.state (tests and diagnostics).
#[cfg(test)]
pub(super) fn freezer_state(dir: &Path) -> Result<String, CgroupError> {
    Ok(fsutil::read_string(&dir.join("freezer.state"))?
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(entries: &[(Controller, &str)]) -> Mounts {
        let mut m = Mounts::default();
        for (c, p) in entries {
            m.insert_if_absent(*c, PathBuf::from(p));
        }
        m
    }

    #[test]
    fn controller_names_round_trip() {
        for c in Controller::ALL {
            assert_eq!(Controller::from_name(c.name()), Some(c));
        }
        assert_eq!(Controller::from_name("name=systemd"), None);
        assert_eq!(Controller::from_name("net_cls"), None);
    }

    #[test]
    fn group_dirs_are_deduplicated_for_comounts() {
        let m = mounts(&[
            (Controller::Cpu, "/cg/cpu,cpuacct"),
            (Controller::Cpuacct, "/cg/cpu,cpuacct"),
            (Controller::Memory, "/cg/memory"),
        ]);
        let g = m.group(Path::new("berth/abc"));
        assert_eq!(
            g.unique_dirs(),
            vec![
                PathBuf::from("/cg/memory/berth/abc"),
                PathBuf::from("/cg/cpu,cpuacct/berth/abc"),
            ]
        );
    }

    #[test]
    fn missing_controller_is_reported_before_writing() {
        let g = mounts(&[(Controller::Memory, "/nonexistent/memory")]).group(Path::new("b/c"));
        let limits = Limits {
            pids: Some(5),
            ..Limits::default()
        };
        let err = g.apply(&limits, Mode::Create);
        assert!(matches!(
            err,
            Err(CgroupError::ControllerUnavailable {
                controller: "pids",
                ..
            })
        ));
    }

    #[test]
    fn memory_written_in_kernel_safe_order() {
        let dir = tempfile::tempdir().unwrap();
        let mem = dir.path().join("memory.limit_in_bytes");
        let memsw = dir.path().join("memory.memsw.limit_in_bytes");
        std::fs::write(&mem, "").unwrap();
        std::fs::write(&memsw, "9223372036854771712").unwrap();
        let limits = Limits {
            memory: Some(100),
            ..Limits::default()
        };
        apply_memory(dir.path(), &limits, Mode::Create).unwrap();
        assert_eq!(std::fs::read_to_string(&mem).unwrap(), "100");
        // Docker's rule: swap equals memory when only memory is given.
        assert_eq!(std::fs::read_to_string(&memsw).unwrap(), "200");
    }
}
