//! What removed containers may leave on the host: mounts under the root,
//! cgroups, veths, firewall rules and processes. Tests check it is all gone.

use std::path::{Path, PathBuf};

/// Traces of a root and of the given container ids still on the host.
#[derive(Debug, Default, PartialEq)]
pub struct Residue {
    pub mounts: Vec<String>,
    pub cgroups: Vec<PathBuf>,
    pub links: Vec<String>,
    pub rules: Vec<String>,
    pub processes: Vec<String>,
}

impl Residue {
    pub fn is_empty(&self) -> bool {
        *self == Residue::default()
    }
}

/// What is left of `root` and of the containers `ids` (full ids).
pub fn residue(root: &Path, ids: &[String]) -> Residue {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    Residue {
        mounts: mounts_under(&root),
        cgroups: ids.iter().flat_map(|id| cgroups_of(id)).collect(),
        links: links_of(ids),
        rules: rules_of(ids),
        processes: processes_under(&root),
    }
}

/// Mount points under `root`, from /proc/self/mountinfo.
pub fn mounts_under(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", root.display());
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// The cgroup directories of container `id`, in every hierarchy (v1 and v2).
pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    let mut dirs: Vec<PathBuf> = hierarchies.flatten().map(|e| e.path()).collect();
    dirs.push(PathBuf::from("/sys/fs/cgroup"));
    for dir in dirs {
        let group = dir.join("berth").join(id);
        if group.exists() {
            found.push(group);
        }
    }
    found
}

/// Host links named after the containers (their veths, `vb<id10><n>`).
pub fn links_of(ids: &[String]) -> Vec<String> {
    let Ok(links) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    links
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|l| {
            ids.iter()
                .any(|id| l.starts_with(&format!("vb{}", &id[..id.len().min(10)])))
        })
        .collect()
}

/// `iptables-save` lines tagged with one of the containers.
pub fn rules_of(ids: &[String]) -> Vec<String> {
    let Ok(out) = std::process::Command::new("iptables-save").output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| ids.iter().any(|id| l.contains(&format!("berth:{id}"))))
        .map(str::to_string)
        .collect()
}

/// Processes whose command line names `root` (the root's container monitors).
pub fn processes_under(root: &Path) -> Vec<String> {
    let me = std::process::id().to_string();
    let needle = root.display().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then(|| format!("{pid}: {cmd}"))
        })
        .collect()
}

/// Open file descriptors of process `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
