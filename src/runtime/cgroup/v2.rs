//! cgroup v2: one unified directory per container.
//!
//! Controllers must be enabled top-down: a cgroup only gets memory.max if
//! its parent lists `memory` in cgroup.subtree_control, and so on up to the
//! mount root.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::fsutil::{self, read_optional, write_value};
use super::limits::{self, Mode};
use super::{CgroupError, Limits, Stats};

/// Controllers berth enables for its containers: the ones its limits use.
const MANAGED: [&str; 3] = ["cpu", "memory", "pids"];

/// One container's unified directory, plus where it hangs from.
#[derive(Clone, Debug)]
pub(super) struct Group {
    root: PathBuf,
    parent: PathBuf,
    dir: PathBuf,
}

impl Group {
    /// `parent` is relative to `root` (possibly empty), `name` one component.
    pub(super) fn new(root: &Path, parent: &Path, name: &str) -> Group {
        Group {
            root: root.to_path_buf(),
            parent: parent.to_path_buf(),
            dir: root.join(parent).join(name),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn create(&self, limits: &Limits) -> Result<(), CgroupError> {
        limits::validate(limits)?;
        self.enable_chain(&needed_controllers(limits))?;
        fsutil::make_dir(&self.dir)?;
        let result = self.apply(limits, Mode::Create);
        if result.is_err() {
            // Best effort: the limit error is the one worth reporting.
            let _ = super::destroy_dirs(std::slice::from_ref(&self.dir), || Ok(()));
        }
        result
    }

    /// Enables every managed controller the host offers in each
    /// cgroup.subtree_control from the root down to the parent, creating
    /// the parent directories on the way. Controllers a limit needs but the
    /// host lacks are an error; others are enabled when present so stats
    /// (memory.current, pids.current) work without limits.
    fn enable_chain(&self, needed: &[&'static str]) -> Result<(), CgroupError> {
        let controllers_path = self.root.join("cgroup.controllers");
        let available = fsutil::read_string(&controllers_path)?;
        let available = parse_controllers(&available);
        if let Some(missing) = needed.iter().find(|c| !available.contains(c)) {
            return Err(CgroupError::ControllerUnavailable {
                controller: missing,
                detail: format!("{} lists {:?}", controllers_path.display(), available),
            });
        }
        let wanted: Vec<&str> = MANAGED
            .into_iter()
            .filter(|c| available.contains(c))
            .collect();
        let mut dir = self.root.clone();
        enable_in(&dir, &wanted)?;
        for component in self.parent.components() {
            dir.push(component);
            fsutil::make_dir(&dir)?;
            enable_in(&dir, &wanted)?;
        }
        Ok(())
    }

    pub(super) fn apply(&self, limits: &Limits, mode: Mode) -> Result<(), CgroupError> {
        limits::validate(limits)?;
        self.apply_memory(limits, mode)?;
        if let Some(cpus) = limits.cpus {
            let value = cpu_max_value(limits::cpu_quota(cpus)?);
            write_value(&self.dir.join("cpu.max"), &value)?;
        }
        if let Some(shares) = limits::effective_shares(limits.cpu_shares) {
            let weight = limits::shares_to_weight(shares).to_string();
            write_value(&self.dir.join("cpu.weight"), &weight)?;
        }
        if let Some(pids) = limits.pids {
            write_value(&self.dir.join("pids.max"), &limits::pids_value(pids))?;
        }
        Ok(())
    }

    fn apply_memory(&self, limits: &Limits, mode: Mode) -> Result<(), CgroupError> {
        if let Some(memory) = limits.memory {
            write_value(&self.dir.join("memory.max"), &memory.to_string())?;
        }
        if limits.memory.is_none() && limits.memory_swap.is_none() {
            return Ok(());
        }
        let swap_path = self.dir.join("memory.swap.max");
        // memory.swap.max exists only with swap accounting; docker then
        // drops the swap limit with a warning, and so does berth.
        let accounting = swap_path.exists();
        let Some(total) = limits::swap_total(limits.memory, limits.memory_swap, accounting, mode)
        else {
            return Ok(());
        };
        let memory = match limits.memory {
            Some(m) => m,
            None => self.current_memory_max()?,
        };
        write_value(&swap_path, &limits::v2_swap_value(total, memory))
    }

    /// A swap-only update needs the memory limit already in force, because
    /// v2 limits swap alone while docker's value is memory plus swap.
    fn current_memory_max(&self) -> Result<u64, CgroupError> {
        let path = self.dir.join("memory.max");
        fsutil::read_limit_optional(&path)?.ok_or(CgroupError::InvalidLimit {
            field: "memory_swap",
            reason: "needs a memory limit (memory.max is \"max\")".to_string(),
        })
    }

    pub(super) fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        write_value(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    pub(super) fn freeze(&self, limit: Duration) -> Result<(), CgroupError> {
        self.set_frozen(true, limit)
    }

    pub(super) fn thaw(&self, limit: Duration) -> Result<(), CgroupError> {
        self.set_frozen(false, limit)
    }

    /// Writes cgroup.freeze and waits for cgroup.events to report the new
    /// state: the write only requests it, tasks stop at their next return
    /// to user space. A freeze that times out is undone.
    fn set_frozen(&self, frozen: bool, limit: Duration) -> Result<(), CgroupError> {
        let freeze = self.dir.join("cgroup.freeze");
        if !freeze.exists() {
            return Err(CgroupError::Unsupported {
                what: "cgroup v2 freezer (cgroup.freeze needs Linux 5.2+)",
                path: freeze,
            });
        }
        write_value(&freeze, if frozen { "1" } else { "0" })?;
        let events = self.dir.join("cgroup.events");
        let done = fsutil::wait_until(limit, || {
            let content = fsutil::read_string(&events)?;
            Ok(events_frozen(&content) == Some(frozen))
        })?;
        if done {
            return Ok(());
        }
        if frozen {
            let _ = write_value(&freeze, "0");
        }
        Err(CgroupError::Timeout {
            path: events,
            what: if frozen { "freeze" } else { "thaw" },
            waited: limit,
        })
    }

    /// cgroup.kill (Linux 5.14+) kills the whole subtree atomically, so no
    /// freeze is needed to stop a fork race.
    pub(super) fn kill_file(&self) -> Option<PathBuf> {
        let path = self.dir.join("cgroup.kill");
        path.exists().then_some(path)
    }

    /// memory.events counts this cgroup and its descendants.
    pub(super) fn oom_killed(&self) -> Result<bool, CgroupError> {
        let content = read_optional(&self.dir.join("memory.events"))?;
        Ok(content.is_some_and(|c| fsutil::keyed_value(&c, "oom_kill").is_some_and(|n| n > 0)))
    }

    /// Files of controllers that are not enabled read as zero / no limit.
    pub(super) fn stats(&self) -> Result<Stats, CgroupError> {
        let read = |file: &str| fsutil::read_u64_optional(&self.dir.join(file));
        let keyed = |file: &str, key: &str| -> Result<u64, CgroupError> {
            let content = read_optional(&self.dir.join(file))?.unwrap_or_default();
            Ok(fsutil::keyed_value(&content, key).unwrap_or(0))
        };
        Ok(Stats {
            cpu_usage_ns: keyed("cpu.stat", "usage_usec")?.saturating_mul(1000),
            memory_usage: read("memory.current")?.unwrap_or(0),
            memory_limit: fsutil::read_limit_optional(&self.dir.join("memory.max"))?,
            memory_inactive_file: keyed("memory.stat", "inactive_file")?,
            pids_current: read("pids.current")?.unwrap_or(0),
            pids_limit: fsutil::read_limit_optional(&self.dir.join("pids.max"))?,
        })
    }
}

fn needed_controllers(limits: &Limits) -> Vec<&'static str> {
    let mut needed = Vec::new();
    if limits.memory.is_some() || limits.memory_swap.is_some() {
        needed.push("memory");
    }
    if limits.cpus.is_some() || limits::effective_shares(limits.cpu_shares).is_some() {
        needed.push("cpu");
    }
    if limits.pids.is_some() {
        needed.push("pids");
    }
    needed
}

/// Reads subtree_control first so the common case (already enabled by an
/// earlier container) costs one read and no write.
fn enable_in(dir: &Path, wanted: &[&str]) -> Result<(), CgroupError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let path = dir.join("cgroup.subtree_control");
    let current = fsutil::read_string(&path)?;
    match enable_request(&parse_controllers(&current), wanted) {
        Some(request) => write_value(&path, &request),
        None => Ok(()),
    }
}

/// Splits a cgroup.controllers / cgroup.subtree_control line.
fn parse_controllers(content: &str) -> Vec<&str> {
    content.split_whitespace().collect()
}

/// The subtree_control write enabling what `wanted` adds to `enabled`
/// (e.g. "+memory +pids"), or `None` when nothing is missing.
fn enable_request(enabled: &[&str], wanted: &[&str]) -> Option<String> {
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(" "))
}

fn cpu_max_value(quota: u64) -> String {
    format!("{quota} {}", limits::CPU_PERIOD_US)
}

/// The `frozen` flag of cgroup.events; `None` on kernels without it.
fn events_frozen(content: &str) -> Option<bool> {
    fsutil::keyed_value(content, "frozen").map(|v| v == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_root_parent_and_name() {
        let g = Group::new(Path::new("/sys/fs/cgroup"), Path::new("berth"), "abc");
        assert_eq!(g.dir(), Path::new("/sys/fs/cgroup/berth/abc"));
        let g = Group::new(Path::new("/sys/fs/cgroup"), Path::new(""), "abc");
        assert_eq!(g.dir(), Path::new("/sys/fs/cgroup/abc"));
    }

    #[test]
    fn enable_request_lists_only_missing() {
        assert_eq!(
            enable_request(&["cpu", "io"], &["cpu", "memory", "pids"]).as_deref(),
            Some("+memory +pids")
        );
        assert_eq!(
            enable_request(&["cpu", "memory", "pids"], &["cpu", "memory"]),
            None
        );
        assert_eq!(enable_request(&[], &[]), None);
    }

    #[test]
    fn controllers_parse_from_file_content() {
        let c = parse_controllers("cpuset cpu io memory hugetlb pids rdma misc\n");
        assert!(c.contains(&"memory"));
        assert!(!c.contains(&"freezer"));
        assert!(parse_controllers("\n").is_empty());
    }

    #[test]
    fn events_frozen_flag() {
        assert_eq!(events_frozen("populated 1\nfrozen 1\n"), Some(true));
        assert_eq!(events_frozen("populated 1\nfrozen 0\n"), Some(false));
        assert_eq!(events_frozen("populated 0\n"), None);
    }

    #[test]
    fn cpu_max_is_quota_then_period() {
        assert_eq!(cpu_max_value(50_000), "50000 100000");
    }

    #[test]
    fn needed_controllers_follow_limits() {
        assert!(needed_controllers(&Limits::default()).is_empty());
        let l = Limits {
            memory: Some(1),
            cpu_shares: Some(0),
            pids: Some(-1),
            ..Limits::default()
        };
        assert_eq!(needed_controllers(&l), vec!["memory", "pids"]);
    }

    /// A fake unified tree on tmpfs: exercises limit writing, swap
    /// arithmetic, OOM and stats parsing without real controllers (this
    /// hybrid host's cgroup2 has none).
    fn fake_group() -> (tempfile::TempDir, Group) {
        let root = tempfile::tempdir().unwrap();
        let g = Group::new(root.path(), Path::new("berth"), "c1");
        std::fs::create_dir_all(g.dir()).unwrap();
        for f in [
            "memory.max",
            "memory.swap.max",
            "cpu.max",
            "cpu.weight",
            "pids.max",
        ] {
            std::fs::write(g.dir().join(f), "max").unwrap();
        }
        (root, g)
    }

    fn read(g: &Group, file: &str) -> String {
        std::fs::read_to_string(g.dir().join(file)).unwrap()
    }

    #[test]
    fn fixture_limits_are_written_in_v2_units() {
        let (_root, g) = fake_group();
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(96 << 20),
            cpus: Some(1.5),
            cpu_shares: Some(512),
            pids: Some(-1),
            restrict_devices: false,
        };
        g.apply(&limits, Mode::Create).unwrap();
        assert_eq!(read(&g, "memory.max"), (64u64 << 20).to_string());
        assert_eq!(read(&g, "memory.swap.max"), (32u64 << 20).to_string());
        assert_eq!(read(&g, "cpu.max"), "150000 100000");
        assert_eq!(read(&g, "cpu.weight"), "20");
        assert_eq!(read(&g, "pids.max"), "max");
    }

    #[test]
    fn fixture_swap_only_update_uses_current_memory() {
        let (_root, g) = fake_group();
        std::fs::write(g.dir().join("memory.max"), "1000\n").unwrap();
        let swap = Limits {
            memory_swap: Some(1500),
            ..Limits::default()
        };
        g.apply(&swap, Mode::Update).unwrap();
        assert_eq!(read(&g, "memory.swap.max"), "500");
        std::fs::write(g.dir().join("memory.max"), "max\n").unwrap();
        assert!(g.apply(&swap, Mode::Update).is_err());
    }

    #[test]
    fn fixture_memory_only_update_keeps_swap() {
        let (_root, g) = fake_group();
        let mem = Limits {
            memory: Some(4096),
            ..Limits::default()
        };
        g.apply(&mem, Mode::Update).unwrap();
        assert_eq!(read(&g, "memory.swap.max"), "max");
        g.apply(&mem, Mode::Create).unwrap();
        assert_eq!(read(&g, "memory.swap.max"), "4096");
    }

    #[test]
    fn fixture_oom_and_stats_parse() {
        let (_root, g) = fake_group();
        assert!(!g.oom_killed().unwrap());
        let events = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
        std::fs::write(g.dir().join("memory.events"), events).unwrap();
        assert!(g.oom_killed().unwrap());
        let files = [
            (
                "cpu.stat",
                "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
            ),
            ("memory.current", "8192\n"),
            ("memory.max", "65536\n"),
            ("memory.stat", "anon 4096\nfile 4096\ninactive_file 1024\n"),
            ("pids.current", "3\n"),
        ];
        for (f, c) in files {
            std::fs::write(g.dir().join(f), c).unwrap();
        }
        let s = g.stats().unwrap();
        assert_eq!(s.cpu_usage_ns, 1_500_000);
        assert_eq!(s.memory_usage, 8192);
        assert_eq!(s.memory_limit, Some(65536));
        assert_eq!(s.memory_inactive_file, 1024);
        assert_eq!(s.pids_current, 3);
        assert_eq!(s.pids_limit, None);
    }

    #[test]
    fn fixture_enable_chain_writes_missing_controllers() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        std::fs::write(r.join("cgroup.subtree_control"), "cpu\n").unwrap();
        // The parent dir exists already (as the kernel would populate it).
        std::fs::create_dir(r.join("berth")).unwrap();
        std::fs::write(r.join("berth/cgroup.subtree_control"), "").unwrap();
        let g = Group::new(r, Path::new("berth"), "c1");
        g.enable_chain(&["memory"]).unwrap();
        let root_ctl = std::fs::read_to_string(r.join("cgroup.subtree_control")).unwrap();
        assert_eq!(root_ctl, "+memory +pids");
        let parent_ctl = std::fs::read_to_string(r.join("berth/cgroup.subtree_control")).unwrap();
        assert_eq!(parent_ctl, "+cpu +memory +pids");
        let err = g.enable_chain(&["hugetlb"]);
        assert!(matches!(
            err,
            Err(CgroupError::ControllerUnavailable { .. })
        ));
    }
}
