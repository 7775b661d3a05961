//! Tests against the real cgroupfs of the machine they run on (they need
//! root). This machine is hybrid: the v1 tests use the real controllers;
//! the v2 tests drive the code against the controller-less cgroup2 at
//! /sys/fs/cgroup/unified, so only the core files (cgroup.procs,
//! cgroup.freeze, cgroup.events, cgroup.kill) are exercised for real there.
//! v2 limit files (memory.max, cpu.max, pids.max, ...) can only be tested
//! with fixtures here (see v2.rs): no controller can be enabled in a
//! cgroup2 whose controllers are all bound to v1 hierarchies.
//!
//! Every test uses its own parent (`berth-test-<pid>-<n>`) so tests run in
//! parallel, and a [`Guard`] removes everything even when a test fails.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe};

use super::mountinfo::tests::{COMOUNTED, HYBRID, PURE_V2};
use super::*;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_parent() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("berth-test-{}-{n}", std::process::id())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (passes) a test that needs root and a real hierarchy when run
/// unprivileged, so `cargo test` stays usable as a normal user.
macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// Skips a test of v1 files on a host whose controllers are on v2.
macro_rules! require_v1 {
    () => {
        require_root!();
        if host().version() != Version::V1 {
            eprintln!("skipped: the host's controllers are not on cgroup v1");
            return;
        }
    };
}

/// Removes the cgroup, its test parent, and kills and reaps its children.
struct Guard {
    cgroup: Cgroup,
    children: Vec<Pid>,
}

impl Guard {
    fn new(cgroup: Cgroup) -> Guard {
        Guard {
            cgroup,
            children: Vec::new(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for pid in &self.children {
            let _ = nix::sys::signal::kill(*pid, Signal::SIGKILL);
            let _ = waitpid(*pid, None);
        }
        let _ = self.cgroup.destroy();
        for path in self.cgroup.paths() {
            if let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// A forked child that waits on a pipe until released, so the parent can
/// put it into a cgroup before it does anything. The child only makes
/// raw syscalls: the test binary is multi-threaded, so after fork only
/// async-signal-safe calls are allowed.
struct Child {
    pid: Pid,
    go: OwnedFd,
}

fn spawn(body: fn() -> i32) -> Child {
    let (read, write) = pipe().unwrap();
    // SAFETY: the child only calls async-signal-safe functions (read,
    // mmap, fork, kill, waitpid, pause, _exit) and never returns.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => unsafe {
            let mut byte = 0u8;
            libc::read(read.as_raw_fd(), (&raw mut byte).cast(), 1);
            libc::_exit(body());
        },
        ForkResult::Parent { child } => Child {
            pid: child,
            go: write,
        },
    }
}

fn release(child: &Child) {
    nix::unistd::write(&child.go, b"g").unwrap();
}

fn sleeper() -> i32 {
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}

const MIB: usize = 1 << 20;

/// Touches 128 MiB page by page; in a 32 MiB cgroup without swap the OOM
/// killer must end it first.
fn memory_hog() -> i32 {
    let len = 128 * MIB;
    // SAFETY: anonymous private mapping, written only within its length.
    unsafe {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let p = libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0);
        if p == libc::MAP_FAILED {
            return 2;
        }
        let bytes = p.cast::<u8>();
        for off in (0..len).step_by(4096) {
            bytes.add(off).write_volatile(1);
        }
    }
    0
}

const FORKS: usize = 50;

/// Forks FORKS times, then kills and reaps what it forked; exits with the
/// number of forks that failed with EAGAIN (or 255 on another error).
fn fork_bomb() -> i32 {
    let mut kids = [0 as libc::pid_t; FORKS];
    let mut refused = 0;
    // SAFETY: only fork/pause/_exit/kill/waitpid, all async-signal-safe.
    unsafe {
        for slot in kids.iter_mut() {
            match libc::fork() {
                0 => loop {
                    libc::pause();
                },
                -1 if nix::errno::Errno::last() == nix::errno::Errno::EAGAIN => refused += 1,
                -1 => return 255,
                pid => *slot = pid,
            }
        }
        for pid in kids.into_iter().filter(|p| *p > 0) {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    refused
}

fn host() -> Hierarchy {
    detect().unwrap()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn v1_dir(cg: &Cgroup, mount: &str) -> PathBuf {
    cg.paths()
        .into_iter()
        .find(|p| p.starts_with(Path::new("/sys/fs/cgroup").join(mount)))
        .unwrap_or_else(|| panic!("no {mount} dir in {:?}", cg.paths()))
}

fn every_limit() -> Limits {
    Limits {
        memory: Some(64 * MIB as u64),
        memory_swap: Some(128 * MIB as u64 as i64),
        cpus: Some(0.5),
        cpu_shares: Some(512),
        pids: Some(10),
        restrict_devices: true,
    }
}

#[test]
fn detect_matches_the_host() {
    let h = host();
    let expected = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "cgroupfs v2"
    } else if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        "cgroupfs v1 (hybrid)"
    } else {
        "cgroupfs v1"
    };
    assert_eq!(h.driver_description(), expected);
    let version = if expected == "cgroupfs v2" {
        Version::V2
    } else {
        Version::V1
    };
    assert_eq!(h.version(), version);
}

#[test]
fn detection_from_fixtures() {
    let hybrid = Hierarchy::from_mountinfo(HYBRID).unwrap();
    assert_eq!(hybrid.version(), Version::V1);
    assert_eq!(hybrid.driver_description(), "cgroupfs v1 (hybrid)");
    let comounted = Hierarchy::from_mountinfo(COMOUNTED).unwrap();
    assert_eq!(comounted.version(), Version::V1);
    let v2 = Hierarchy::from_mountinfo(PURE_V2).unwrap();
    assert_eq!(v2.version(), Version::V2);
    assert_eq!(v2.driver_description(), "cgroupfs v2");
    let v1_only: String = HYBRID
        .lines()
        .filter(|l| !l.contains("cgroup2"))
        .collect::<Vec<_>>()
        .join("\n");
    let plain = Hierarchy::from_mountinfo(&v1_only).unwrap();
    assert_eq!(plain.driver_description(), "cgroupfs v1");
    let none = Hierarchy::from_mountinfo("22 1 0:20 / /sys rw - sysfs sysfs rw\n");
    assert!(matches!(none, Err(CgroupError::NotMounted)));
}

#[test]
fn paths_from_fixtures() {
    let v2 = Hierarchy::from_mountinfo(PURE_V2).unwrap();
    let cg = v2.open("berth", "abc");
    assert_eq!(cg.paths(), vec![PathBuf::from("/sys/fs/cgroup/berth/abc")]);
    let cg = v2.open("/a/b/", "abc");
    assert_eq!(cg.paths(), vec![PathBuf::from("/sys/fs/cgroup/a/b/abc")]);
    let v1 = Hierarchy::from_mountinfo(COMOUNTED).unwrap();
    let paths = v1.open("berth", "abc").paths();
    assert_eq!(
        paths,
        vec![
            PathBuf::from("/sys/fs/cgroup/memory/berth/abc"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/abc"),
            PathBuf::from("/sys/fs/cgroup/pids/berth/abc"),
        ]
    );
}

#[test]
fn names_that_escape_are_rejected() {
    let h = Hierarchy::from_mountinfo(PURE_V2).unwrap();
    for (parent, name) in [
        ("berth", ".."),
        ("..", "x"),
        ("a/../b", "x"),
        ("berth", "a/b"),
        ("berth", ""),
        ("a//b", "x"),
        ("./a", "x"),
        ("berth", "a\0b"),
    ] {
        let err = h.create(parent, name, &Limits::default());
        assert!(
            matches!(err, Err(CgroupError::InvalidName { .. })),
            "{parent:?} {name:?}"
        );
        let opened = h.open(parent, name);
        assert!(opened.paths().is_empty());
        assert!(opened.add_pid(1).is_err());
        assert!(opened.destroy().is_ok());
    }
    assert!(relative_path("", "abc").is_ok());
}

#[test]
fn v1_create_with_every_limit_update_destroy() {
    require_v1!();
    let parent = unique_parent();
    let cg = host().create(&parent, "c1", &every_limit()).unwrap();
    let guard = Guard::new(cg.clone());
    let mem = v1_dir(&cg, "memory");
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        (64 * MIB).to_string()
    );
    assert_eq!(
        read(mem.join("memory.memsw.limit_in_bytes")),
        (128 * MIB).to_string()
    );
    let cpu = v1_dir(&cg, "cpu");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "10");
    let cpuset = v1_dir(&cg, "cpuset");
    assert_eq!(
        read(cpuset.join("cpuset.cpus")),
        read("/sys/fs/cgroup/cpuset/cpuset.cpus".into())
    );
    assert_eq!(
        read(cpuset.join("cpuset.mems")),
        read("/sys/fs/cgroup/cpuset/cpuset.mems".into())
    );

    // Raise both (memsw must go first), then lower both (memory first).
    let raise = Limits {
        memory: Some(96 * MIB as u64),
        memory_swap: Some(256 * MIB as i64),
        cpus: Some(1.5),
        cpu_shares: Some(2048),
        pids: Some(-1),
        restrict_devices: false,
    };
    cg.update(&raise).unwrap();
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        (96 * MIB).to_string()
    );
    assert_eq!(
        read(mem.join("memory.memsw.limit_in_bytes")),
        (256 * MIB).to_string()
    );
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "150000");
    assert_eq!(read(cpu.join("cpu.shares")), "2048");
    assert_eq!(read(v1_dir(&cg, "pids").join("pids.max")), "max");
    let lower = Limits {
        memory: Some(16 * MIB as u64),
        memory_swap: Some(32 * MIB as i64),
        ..Limits::default()
    };
    cg.update(&lower).unwrap();
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        (16 * MIB).to_string()
    );
    assert_eq!(
        read(mem.join("memory.memsw.limit_in_bytes")),
        (32 * MIB).to_string()
    );
    // Memory-only update keeps swap (docker); memory above memsw is refused.
    let too_big = Limits {
        memory: Some(64 * MIB as u64),
        ..Limits::default()
    };
    let err = cg.update(&too_big).unwrap_err();
    assert!(err.to_string().contains("memory.limit_in_bytes"), "{err}");
    let unlimited = Limits {
        memory_swap: Some(-1),
        ..Limits::default()
    };
    cg.update(&unlimited).unwrap();
    cg.update(&too_big).unwrap();

    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory_limit, Some(64 * MIB as u64));
    assert_eq!(stats.pids_limit, None);

    cg.destroy().unwrap();
    for p in cg.paths() {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    cg.destroy().unwrap();
    drop(guard);
}

#[test]
fn v1_memory_only_gets_docker_swap() {
    require_v1!();
    let limits = Limits {
        memory: Some(32 * MIB as u64),
        ..Limits::default()
    };
    let cg = host().create(&unique_parent(), "c1", &limits).unwrap();
    let _guard = Guard::new(cg.clone());
    let mem = v1_dir(&cg, "memory");
    assert_eq!(
        read(mem.join("memory.memsw.limit_in_bytes")),
        (64 * MIB).to_string()
    );
}

#[test]
fn v1_devices_are_restricted_to_docker_defaults() {
    require_v1!();
    let limits = Limits {
        restrict_devices: true,
        ..Limits::default()
    };
    let cg = host().create(&unique_parent(), "c1", &limits).unwrap();
    let _guard = Guard::new(cg.clone());
    assert!(host().enforces_devices());
    let list = read(v1_dir(&cg, "devices").join("devices.list"));
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
    assert!(list.lines().any(|l| l == "b *:* m"), "{list}");
    assert!(!list.lines().any(|l| l == "a *:* rwm"), "{list}");
    // A disk stays out of reach even though mknod is allowed.
    assert!(
        !list
            .lines()
            .any(|l| l.starts_with("b ") && l.ends_with("rw")),
        "{list}"
    );
}

#[test]
fn v1_failed_create_leaves_nothing() {
    require_v1!();
    let parent = unique_parent();
    let bad = Limits {
        cpus: Some(1e12),
        ..Limits::default()
    };
    let err = host().create(&parent, "c1", &bad).unwrap_err();
    assert!(err.to_string().contains("cpu.cfs_quota_us"), "{err}");
    let cg = host().open(&parent, "c1");
    let _guard = Guard::new(cg.clone());
    for p in cg.paths() {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn v1_child_pids_freeze_thaw_kill() {
    require_v1!();
    let cg = host()
        .create(&unique_parent(), "c1", &Limits::default())
        .unwrap();
    let mut guard = Guard::new(cg.clone());
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    assert_eq!(cg.pids().unwrap(), vec![child.pid.as_raw()]);

    cg.freeze().unwrap();
    let freezer = v1_dir(&cg, "freezer");
    assert_eq!(v1::freezer_state(&freezer).unwrap(), "FROZEN");
    cg.thaw().unwrap();
    assert_eq!(v1::freezer_state(&freezer).unwrap(), "THAWED");

    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids_current, 1);
    // Charges stay with the old cgroup on v1 (no move_charge_at_immigrate),
    // so only the limit is certain here.
    assert_eq!(stats.memory_limit, None);

    cg.kill_all(Signal::SIGKILL).unwrap();
    let status = waitpid(child.pid, None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    guard.children.clear();
    cg.destroy().unwrap();
    assert!(cg.paths().iter().all(|p| !p.exists()));
}

#[test]
fn v1_kill_all_reaches_a_paused_container() {
    require_v1!();
    let cg = host()
        .create(&unique_parent(), "c1", &Limits::default())
        .unwrap();
    let mut guard = Guard::new(cg.clone());
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    cg.freeze().unwrap();
    cg.kill_all(Signal::SIGKILL).unwrap();
    let status = waitpid(child.pid, None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    guard.children.clear();
}

#[test]
fn v1_kill_all_with_sigterm() {
    require_v1!();
    let cg = host()
        .create(&unique_parent(), "c1", &Limits::default())
        .unwrap();
    let mut guard = Guard::new(cg.clone());
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    cg.kill_all(Signal::SIGTERM).unwrap();
    let status = waitpid(child.pid, None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGTERM, false)
    );
    guard.children.clear();
}

#[test]
fn v1_destroy_kills_what_is_left_and_sub_cgroups() {
    require_v1!();
    let cg = host()
        .create(&unique_parent(), "c1", &Limits::default())
        .unwrap();
    let mut guard = Guard::new(cg.clone());
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    // A container may make its own sub-cgroups (here in memory only).
    let sub = v1_dir(&cg, "memory").join("inner");
    std::fs::create_dir(&sub).unwrap();
    cg.add_pid(child.pid.as_raw()).unwrap();
    std::fs::write(sub.join("cgroup.procs"), child.pid.to_string()).unwrap();
    release(&child);
    assert_eq!(cg.pids().unwrap(), vec![child.pid.as_raw()]);
    let start = Instant::now();
    cg.destroy().unwrap();
    eprintln!("destroy with a live process took {:?}", start.elapsed());
    assert!(cg.paths().iter().all(|p| !p.exists()));
    let status = waitpid(child.pid, None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    guard.children.clear();
}

#[test]
fn oom_kill_is_detected() {
    require_root!();
    let limits = Limits {
        memory: Some(32 * MIB as u64),
        memory_swap: Some(32 * MIB as i64),
        ..Limits::default()
    };
    let cg = host().create(&unique_parent(), "c1", &limits).unwrap();
    let mut guard = Guard::new(cg.clone());
    assert!(!cg.oom_killed().unwrap());
    let child = spawn(memory_hog);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    let status = waitpid(child.pid, None).unwrap();
    guard.children.clear();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    assert!(cg.oom_killed().unwrap());
}

#[test]
fn pids_limit_makes_forks_fail() {
    require_root!();
    let limits = Limits {
        pids: Some(10),
        ..Limits::default()
    };
    let cg = host().create(&unique_parent(), "c1", &limits).unwrap();
    let mut guard = Guard::new(cg.clone());
    let child = spawn(fork_bomb);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    let status = waitpid(child.pid, None).unwrap();
    guard.children.clear();
    // The child itself is one of the 10 tasks, so 9 forks succeed.
    assert_eq!(status, WaitStatus::Exited(child.pid, (FORKS - 9) as i32));
}

/// One container's cgroup life: detect + create + add_pid, then destroy.
fn time_one_round(parent: &str, name: &str, guard: &mut Guard) -> [Duration; 3] {
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    let t = Instant::now();
    let cg = detect()
        .unwrap()
        .create(parent, name, &every_limit())
        .unwrap();
    let create = t.elapsed();
    let t = Instant::now();
    cg.add_pid(child.pid.as_raw()).unwrap();
    let add = t.elapsed();
    let _ = nix::sys::signal::kill(child.pid, Signal::SIGKILL);
    let _ = waitpid(child.pid, None);
    guard.children.pop();
    let t = Instant::now();
    cg.destroy().unwrap();
    [create, add, t.elapsed()]
}

/// The container-start hot path. Rounds are spaced out because the first
/// migration after a quiet period waits for an RCU grace period in the
/// kernel (cgroup_threadgroup_rwsem), which back-to-back rounds would hide.
#[test]
fn hot_path_timing() {
    require_root!();
    let parent = unique_parent();
    let mut guard = Guard::new(host().open(&parent, "none"));
    let mut rounds: Vec<[Duration; 3]> = (0..8)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(100));
            time_one_round(&parent, &format!("c{i}"), &mut guard)
        })
        .collect();
    let mut report = Vec::new();
    for (i, what) in ["create", "add_pid", "destroy"].iter().enumerate() {
        rounds.sort_by_key(|r| r[i]);
        let (median, max) = (rounds[rounds.len() / 2][i], rounds[rounds.len() - 1][i]);
        report.push(format!("{what} median {median:?} max {max:?}"));
    }
    eprintln!("{}: {}", host().driver_description(), report.join(", "));
}

/// The host's cgroup2: the real one on a v2 host, else the hybrid's
/// controller-less one at /sys/fs/cgroup/unified, if mounted.
fn unified() -> Option<Hierarchy> {
    if host().version() == Version::V2 {
        return Some(host());
    }
    let root = Path::new("/sys/fs/cgroup/unified");
    root.join("cgroup.procs")
        .exists()
        .then(|| Hierarchy::v2_at(root))
}

#[test]
fn v2_core_files_on_unified_hierarchy() {
    require_root!();
    let Some(h) = unified() else {
        eprintln!("skipped: no cgroup2 at /sys/fs/cgroup/unified");
        return;
    };
    let cg = h
        .create(&unique_parent(), "c1", &Limits::default())
        .unwrap();
    let mut guard = Guard::new(cg.clone());
    assert_eq!(cg.version(), Some(Version::V2));
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    assert_eq!(cg.pids().unwrap(), vec![child.pid.as_raw()]);
    let dir = cg.paths()[0].clone();

    cg.freeze().unwrap();
    assert!(read(dir.join("cgroup.events")).contains("frozen 1"));
    cg.thaw().unwrap();
    assert!(read(dir.join("cgroup.events")).contains("frozen 0"));

    // No controllers: stats read as zero rather than failing.
    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory_limit, None);
    assert!(!cg.oom_killed().unwrap());

    cg.kill_all(Signal::SIGKILL).unwrap();
    let status = waitpid(child.pid, None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    guard.children.clear();
    cg.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn v2_destroy_kills_live_process() {
    require_root!();
    let Some(h) = unified() else {
        return;
    };
    let cg = h
        .create(&unique_parent(), "c1", &Limits::default())
        .unwrap();
    let mut guard = Guard::new(cg.clone());
    let child = spawn(sleeper);
    guard.children.push(child.pid);
    cg.add_pid(child.pid.as_raw()).unwrap();
    release(&child);
    cg.destroy().unwrap();
    assert!(cg.paths().iter().all(|p| !p.exists()));
    let status = waitpid(child.pid, None).unwrap();
    assert_eq!(
        status,
        WaitStatus::Signaled(child.pid, Signal::SIGKILL, false)
    );
    guard.children.clear();
}

#[test]
fn v2_limit_without_controller_is_refused_cleanly() {
    require_root!();
    let Some(h) = unified() else {
        return;
    };
    if host().version() == Version::V2 {
        eprintln!("skipped: this host's cgroup2 has controllers");
        return;
    }
    let parent = unique_parent();
    let limits = Limits {
        memory: Some(64 * MIB as u64),
        ..Limits::default()
    };
    let err = h.create(&parent, "c1", &limits).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerUnavailable {
                controller: "memory",
                ..
            }
        ),
        "{err}"
    );
    let cg = h.open(&parent, "c1");
    let _guard = Guard::new(cg.clone());
    assert!(!cg.paths()[0].exists());
}
