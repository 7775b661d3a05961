//! Finding the cgroup hierarchies from /proc/self/mountinfo.
//!
//! mountinfo (rather than assuming /sys/fs/cgroup) finds co-mounted v1
//! controllers such as `cpu,cpuacct`, hybrid hosts (v1 controllers plus an
//! empty cgroup2 at /sys/fs/cgroup/unified) and unusual mount points.

use std::path::PathBuf;

use super::v1::{Controller, Mounts};

/// The fields of one mountinfo line this module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MountEntry {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub super_options: String,
}

/// What the mount table says about cgroups.
#[derive(Debug, Default)]
pub(super) struct CgroupMounts {
    /// v1 controller -> mount point (first mount wins).
    pub v1: Mounts,
    /// The cgroup2 mount, preferring /sys/fs/cgroup when there are several.
    pub unified: Option<PathBuf>,
}

/// Parses mountinfo (see proc(5)): `id parent dev root mountpoint opts
/// [optional...] - fstype source superopts`. Malformed lines are skipped:
/// nothing in them could be a cgroup mount we can use.
pub(super) fn parse(content: &str) -> Vec<MountEntry> {
    content.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let mount_point = fields.get(4)?;
    let fstype = fields.get(sep + 1)?;
    let super_options = fields.get(sep + 3).copied().unwrap_or("");
    Some(MountEntry {
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype: (*fstype).to_string(),
        super_options: super_options.to_string(),
    })
}

/// Undoes mountinfo's octal escapes (`\040` for space, `\011`, `\012`,
/// `\134`) in paths.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(b) = octal_escape(&bytes[i..]) {
            out.push(b);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal_escape(b: &[u8]) -> Option<u8> {
    let [b'\\', d @ ..] = b.get(..4)? else {
        return None;
    };
    d.iter().try_fold(0u8, |acc, &c| match c {
        b'0'..=b'7' => acc.checked_mul(8)?.checked_add(c - b'0'),
        _ => None,
    })
}

/// Sorts the cgroup mounts out of the mount table.
pub(super) fn cgroup_mounts(entries: &[MountEntry]) -> CgroupMounts {
    let mut found = CgroupMounts::default();
    for entry in entries {
        match entry.fstype.as_str() {
            "cgroup" => add_v1(&mut found.v1, entry),
            "cgroup2" => add_unified(&mut found.unified, entry),
            _ => {}
        }
    }
    found
}

fn add_v1(mounts: &mut Mounts, entry: &MountEntry) {
    // Named hierarchies (name=systemd) carry no controller and are skipped
    // because `from_name` does not know them.
    for option in entry.super_options.split(',') {
        if let Some(controller) = Controller::from_name(option) {
            mounts.insert_if_absent(controller, entry.mount_point.clone());
        }
    }
}

fn add_unified(unified: &mut Option<PathBuf>, entry: &MountEntry) {
    let preferred = entry.mount_point.as_os_str() == "/sys/fs/cgroup";
    if unified.is_none() || preferred {
        *unified = Some(entry.mount_point.clone());
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::Path;

    /// This machine's layout: v1 controllers, cpu and cpuacct mounted apart,
    /// an empty cgroup2 at /sys/fs/cgroup/unified.
    pub(crate) const HYBRID: &str = "\
22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd distro on v1 with co-mounted controllers and optional
    /// fields (shared:N) before the separator.
    pub(crate) const COMOUNTED: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid shared:16 - cgroup cgroup rw,pids
";

    /// A pure v2 host.
    pub(crate) const PURE_V2: &str = "\
24 18 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
27 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
99 27 0:24 / /tmp/other\\040cg rw - cgroup2 cgroup2 rw
";

    fn path(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn hybrid_finds_every_controller_and_unified() {
        let m = cgroup_mounts(&parse(HYBRID));
        assert_eq!(
            m.v1.get(Controller::Memory),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            m.v1.get(Controller::Cpu),
            Some(Path::new("/sys/fs/cgroup/cpu"))
        );
        assert_eq!(
            m.v1.get(Controller::Cpuacct),
            Some(Path::new("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(
            m.v1.get(Controller::Freezer),
            Some(Path::new("/sys/fs/cgroup/freezer"))
        );
        assert!(Controller::ALL.iter().all(|c| m.v1.get(*c).is_some()));
        assert_eq!(m.unified, path("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn comounted_controllers_share_a_mount() {
        let m = cgroup_mounts(&parse(COMOUNTED));
        let both = Some(Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m.v1.get(Controller::Cpu), both);
        assert_eq!(m.v1.get(Controller::Cpuacct), both);
        assert_eq!(m.v1.get(Controller::Freezer), None);
        assert_eq!(m.unified, path("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn pure_v2_prefers_sys_fs_cgroup() {
        let m = cgroup_mounts(&parse(PURE_V2));
        assert!(m.v1.is_empty());
        assert_eq!(m.unified, path("/sys/fs/cgroup"));
    }

    #[test]
    fn mount_points_are_unescaped() {
        let entries = parse(PURE_V2);
        assert_eq!(entries[2].mount_point, PathBuf::from("/tmp/other cg"));
        assert_eq!(unescape(r"a\134b\011c"), "a\\b\tc");
        // Not an escape: left alone.
        assert_eq!(unescape(r"a\9b"), r"a\9b");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(parse("garbage\n1 2 3\n").is_empty());
    }
}
