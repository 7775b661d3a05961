//! `pause`, `unpause`, `top`, `rename`, `restart`, `update`, `container prune`,
//! `version` and `info`.

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::output::table;
use super::{CliError, each, engine, print};
use crate::runtime::container::create;
use crate::runtime::container::lifecycle;
use crate::runtime::container::record::Status;
use crate::runtime::image::ImageStore;
use crate::runtime::monitor;
use crate::runtime::store::Store;

/// The docker Engine API version whose CLI conventions berth follows.
const API_VERSION: &str = "1.47";

#[derive(Debug, Args)]
pub struct Names {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn pause(args: &Names, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    each(&args.containers, |name| {
        let c = lifecycle::find(&store, name).map_err(engine)?;
        lifecycle::pause(&store, &c).map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

pub fn unpause(args: &Names, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    each(&args.containers, |name| {
        let c = lifecycle::find(&store, name).map_err(engine)?;
        lifecycle::unpause(&store, &c).map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
}

/// A ps-style table (UID PID PPID C STIME TTY TIME CMD) of the container's processes.
pub fn top(args: &TopArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let c = lifecycle::find(&store, &args.container).map_err(engine)?;
    let mut pids = lifecycle::processes(&c).map_err(engine)?;
    pids.sort_unstable();
    let rows: Vec<Vec<String>> = pids.iter().filter_map(|pid| process_row(*pid)).collect();
    print(&table(
        &["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        &rows,
    ))?;
    Ok(0)
}

pub(super) fn process_row(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let comm_end = stat.rfind(')')?;
    let comm = stat.get(stat.find('(')? + 1..comm_end)?.to_string();
    let fields: Vec<&str> = stat.get(comm_end + 2..)?.split_whitespace().collect();
    let ticks = 100u64;
    let cpu = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let secs = cpu / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmdline)
        .replace('\0', " ")
        .trim()
        .to_string();
    let started = fields.get(19)?.parse::<u64>().ok()? / ticks;
    Some(vec![
        user_name(&uid),
        pid.to_string(),
        fields.get(1)?.to_string(),
        "0".into(),
        start_clock(started),
        "?".into(),
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        if cmd.is_empty() {
            format!("[{comm}]")
        } else {
            cmd
        },
    ])
}

/// Host user name for a uid, as ps prints (the number when unknown).
fn user_name(uid: &str) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// HH:MM of a process start given seconds after boot.
fn start_clock(after_boot: u64) -> String {
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0);
    let ago = (uptime as u64).saturating_sub(after_boot);
    let started = chrono::Local::now() - chrono::Duration::seconds(ago as i64);
    started.format("%H:%M").to_string()
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result (the only mode)
    #[arg(long, required = true)]
    pub no_stream: bool,
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Containers (default: all running)
    pub containers: Vec<String>,
}

/// CPU over this window, as docker's one-shot stats measures it.
const STATS_WINDOW: Duration = Duration::from_millis(500);

pub fn stats(args: &StatsArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let list = if args.containers.is_empty() {
        lifecycle::list(&store)
            .map_err(engine)?
            .into_iter()
            .filter(|c| args.all || c.is_running())
            .collect()
    } else {
        args.containers
            .iter()
            .map(|n| lifecycle::find(&store, n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(engine)?
    };
    let first: Vec<Option<crate::runtime::cgroup::Stats>> =
        list.iter().map(|c| lifecycle::stats(c).ok()).collect();
    std::thread::sleep(STATS_WINDOW);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let mut rows = Vec::new();
    for (c, before) in list.iter().zip(first) {
        let now = lifecycle::stats(c).ok();
        let id: String = if args.no_trunc {
            c.record.id.clone()
        } else {
            c.record.id.chars().take(12).collect()
        };
        let row = match (before, now) {
            (Some(a), Some(b)) => {
                let used = b.cpu_usage_ns.saturating_sub(a.cpu_usage_ns) as f64;
                let cpu = used / STATS_WINDOW.as_nanos() as f64 * 100.0;
                let mem = b.memory_usage.saturating_sub(b.memory_inactive_file);
                let limit = b.memory_limit.unwrap_or_else(host_memory);
                vec![
                    id,
                    c.record.name.clone(),
                    format!("{:.2}%", cpu.min(cpus * 100.0)),
                    format!("{} / {}", bytes(mem), bytes(limit)),
                    format!("{:.2}%", mem as f64 / limit.max(1) as f64 * 100.0),
                    net_io(c),
                    block_io(&c.record.id),
                    b.pids_current.to_string(),
                ]
            }
            _ => vec![
                id,
                c.record.name.clone(),
                "--".into(),
                "-- / --".into(),
                "--".into(),
                "--".into(),
                "--".into(),
                "--".into(),
            ],
        };
        rows.push(row);
    }
    print(&table(
        &[
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ],
        &rows,
    ))?;
    Ok(0)
}

/// Received / sent bytes on the container's interfaces other than loopback.
fn net_io(c: &lifecycle::Container) -> String {
    if c.record.config.network_mode == "host" {
        return "-- / --".into();
    }
    let text =
        std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid)).unwrap_or_default();
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    format!("{} / {}", bytes(rx), bytes(tx))
}

/// Bytes read / written, from the blkio controller (v1) or io.stat (v2).
fn block_io(id: &str) -> String {
    let v1 = format!(
        "/sys/fs/cgroup/blkio/{}/{id}/blkio.throttle.io_service_bytes",
        monitor::CGROUP_PARENT
    );
    let v2 = format!("/sys/fs/cgroup/{}/{id}/io.stat", monitor::CGROUP_PARENT);
    let (mut read, mut write) = (0u64, 0u64);
    if let Ok(text) = std::fs::read_to_string(v1) {
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            match (f.get(1), f.get(2).and_then(|v| v.parse::<u64>().ok())) {
                (Some(&"Read"), Some(n)) => read += n,
                (Some(&"Write"), Some(n)) => write += n,
                _ => {}
            }
        }
    } else if let Ok(text) = std::fs::read_to_string(v2) {
        for field in text.split_whitespace() {
            if let Some(n) = field
                .strip_prefix("rbytes=")
                .and_then(|v| v.parse::<u64>().ok())
            {
                read += n;
            } else if let Some(n) = field
                .strip_prefix("wbytes=")
                .and_then(|v| v.parse::<u64>().ok())
            {
                write += n;
            }
        }
    }
    format!("{} / {}", bytes(read), bytes(write))
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(str::to_string))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// docker's binary sizes: 1.5MiB, 64MiB, 2GiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{value:.3}{}", UNITS[unit]).replace(".000", "")
    }
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(args: &RenameArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let c = lifecycle::find(&store, &args.container).map_err(engine)?;
    create::rename(&store, &c.record, &args.new_name).map_err(engine)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout", alias = "time")]
    pub timeout: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn restart(args: &RestartArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    each(&args.containers, |name| {
        let c = lifecycle::find(&store, name).map_err(engine)?;
        let timeout = args.timeout.or(c.record.config.stop_timeout).unwrap_or(10);
        lifecycle::stop(&store, &c, Duration::from_secs(timeout)).map_err(engine)?;
        let c = lifecycle::load(&store, &c.record.id).map_err(engine)?;
        c.record.event(store.root(), "restart", &[]);
        monitor::start_detached(&store, &c.record).map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn update(args: &UpdateArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let memory = args
        .memory
        .as_deref()
        .map(crate::spec::units::parse_bytes)
        .transpose()
        .map_err(engine)?;
    let swap = match args.memory_swap.as_deref() {
        None => None,
        Some("-1") => Some(-1),
        Some(text) => Some(crate::spec::units::parse_bytes(text).map_err(engine)? as i64),
    };
    each(&args.containers, |name| {
        let c = lifecycle::find(&store, name).map_err(engine)?;
        lifecycle::update(&store, &c, |cfg| {
            cfg.memory = memory.or(cfg.memory);
            cfg.memory_swap = swap.or(cfg.memory_swap);
            cfg.cpus = args.cpus.or(cfg.cpus);
            cfg.cpu_shares = args.cpu_shares.or(cfg.cpu_shares);
            cfg.pids_limit = args.pids_limit.or(cfg.pids_limit);
        })
        .map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Start again every container whose restart policy says so (after a reboot
    /// or a crash); safe to run any number of times
    Restore,
    /// Show disk usage of images and containers
    Df,
    /// Remove stopped containers and dangling (with -a: all unused) images
    Prune(super::disk::SystemPruneArgs),
    /// Verify the store: blobs, images, containers, leftovers, mounts, cgroups,
    /// leases and firewall rules (exit 1 when something is wrong)
    Check(super::check::CheckArgs),
}

pub fn system(cmd: &SystemCommand, root: &Path) -> Result<i32, CliError> {
    match cmd {
        SystemCommand::Restore => restore(root),
        SystemCommand::Df => super::disk::df(root),
        SystemCommand::Prune(args) => super::disk::system_prune(args, root),
        SystemCommand::Check(args) => super::check::check(args, root),
    }
}

/// Oldest first, so containers come back in the order they were created;
/// a stack's containers in dependency order, each after its dependencies meet
/// their conditions (a `service_healthy` one has become healthy).
fn restore(root: &Path) -> Result<i32, CliError> {
    use crate::planner::project;
    let store = Store::open(root).map_err(engine)?;
    let mut list = lifecycle::list(&store).map_err(engine)?;
    list.reverse();
    list.retain(lifecycle::wants_restore);
    let wanted: Vec<String> = project::restore_order(list)
        .iter()
        .map(|c| c.record.name.clone())
        .collect();
    each(&wanted, |name| {
        let c = lifecycle::find(&store, name).map_err(engine)?;
        if let Some(p) = project::project_of(&c) {
            project::await_dependencies(&store, p, &c, RESTORE_WAIT).map_err(engine)?;
        }
        monitor::start_detached(&store, &c.record).map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

/// How long a restored container waits for its dependencies.
const RESTORE_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove all stopped containers
    Prune(super::disk::ContainerPruneArgs),
    /// List port mappings or a specific mapping for the container
    Port(super::port::PortArgs),
}

pub fn container(cmd: &ContainerCommand, root: &Path) -> Result<i32, CliError> {
    match cmd {
        ContainerCommand::Prune(args) => super::disk::container_prune(args, root),
        ContainerCommand::Port(args) => super::port::port(args, root),
    }
}

fn os_arch() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn version() -> Result<i32, CliError> {
    let v = env!("CARGO_PKG_VERSION");
    let arch = os_arch();
    print(&format!(
        "Client: berth\n Version:           {v}\n API version:       {API_VERSION}\n OS/Arch:           {arch}\n\nServer: berth\n Engine:\n  Version:          {v}\n  API version:      {API_VERSION}\n  OS/Arch:          {arch}\n  Kernel:           {}\n",
        kernel()
    ))?;
    Ok(0)
}

pub fn info(root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let list = lifecycle::list(&store).map_err(engine)?;
    let count = |s: Status| list.iter().filter(|c| c.state.status == s).count();
    let (running, paused) = (count(Status::Running), count(Status::Paused));
    let images = ImageStore::new(&store).list().map(|l| l.len()).unwrap_or(0);
    let cgroup = match crate::runtime::cgroup::detect() {
        // docker's numbers; a hybrid host is 1 (the controllers are on v1).
        Ok(h) => match h.version() {
            crate::runtime::cgroup::Version::V1 => "cgroupfs\nCgroup Version: 1".to_string(),
            crate::runtime::cgroup::Version::V2 => "cgroupfs\nCgroup Version: 2".to_string(),
        },
        Err(e) => format!("none (no usable cgroup hierarchy: {e})"),
    };
    print(&format!(
        "Containers: {}\n Running: {running}\n Paused: {paused}\n Stopped: {}\nImages: {images}\nServer Version: {}\nStorage Driver: overlay\nLogging Driver: json-file\nCgroup Driver: {cgroup}\nSecurity Options:\n seccomp\n  Profile: builtin\n no-new-privileges\nKernel Version: {}\nOperating System: {}\nArchitecture: {}\nCPUs: {}\nBerth Root Dir: {}\n",
        list.len(),
        list.len() - running - paused,
        env!("CARGO_PKG_VERSION"),
        kernel(),
        os_name(),
        std::env::consts::ARCH,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        root.display()
    ))?;
    Ok(0)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}
