//! The container's own mounts (volumes, binds, tmpfs), made by the init inside
//! its mount namespace before `pivot_root`.
//!
//! Each target is resolved with `openat2(RESOLVE_IN_ROOT)` (see rootfs.rs), so
//! a symlink in the image, absolute or full of `..`, ends inside the rootfs;
//! a target that resolves to the root itself or into procfs is refused.

use std::os::fd::{AsFd, OwnedFd};

use nix::mount::{MsFlags, mount};
use nix::sys::stat::fstat;
use serde_json::{Value, json};

use super::init::InitError;
use super::rootfs::{dir_in_root, err, fd_path, file_in_root, open_in_root};

/// One mount, fully decided by the parent.
#[derive(Debug, Clone, PartialEq)]
pub struct MountPlan {
    /// Absolute path inside the container.
    pub target: String,
    /// A host path for a bind, else the filesystem's source (`tmpfs`, a device).
    pub source: String,
    /// None: a bind mount.
    pub fstype: Option<String>,
    /// Bind: MS_REC unless non-recursive. Filesystems: their mount flags.
    pub flags: MsFlags,
    /// Filesystem options (`size=64m,mode=1777`).
    pub data: Option<String>,
    pub read_only: bool,
    /// Applied after mounting (MS_SHARED, MS_SLAVE|MS_REC, ...); empty: none.
    pub propagation: MsFlags,
    /// The source is a file: the target is made a file.
    pub file: bool,
}

/// Mounts in order; the caller sorted them parents first.
pub fn mount_all(root: &OwnedFd, mounts: &[MountPlan]) -> Result<(), InitError> {
    mounts.iter().try_for_each(|m| mount_one(root, m))
}

fn mount_one(root: &OwnedFd, m: &MountPlan) -> Result<(), InitError> {
    let rel = m.target.trim_start_matches('/');
    let target = match m.file {
        true => file_in_root(root, rel)?,
        false => dir_in_root(root, rel)?,
    };
    check_target(root, &target, &m.target)?;
    let what = format!("mounting {} on {}", m.source, m.target);
    match &m.fstype {
        None => mount(
            Some(m.source.as_str()),
            fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND | m.flags,
            None::<&str>,
        ),
        Some(fstype) => {
            let ro = if m.read_only {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            };
            mount(
                Some(m.source.as_str()),
                fd_path(&target).as_str(),
                Some(fstype.as_str()),
                m.flags | ro,
                m.data.as_deref(),
            )
        }
    }
    .map_err(|e| err(&what, e))?;
    if m.read_only && m.fstype.is_none() {
        // A bind takes its flags from the source; read-only needs a remount,
        // of the new mount (looked up again: the old fd is beneath it).
        let mounted = open_in_root(root, rel, !m.file)?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(
            None::<&str>,
            fd_path(&mounted).as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| err(&format!("making {} read-only", m.target), e))?;
    }
    if !m.propagation.is_empty() {
        let mounted = open_in_root(root, rel, !m.file)?;
        mount(
            None::<&str>,
            fd_path(&mounted).as_str(),
            None::<&str>,
            m.propagation,
            None::<&str>,
        )
        .map_err(|e| err(&format!("setting the propagation of {}", m.target), e))?;
    }
    Ok(())
}

/// A symlink may lead a target anywhere inside the rootfs, but not onto the
/// root itself (which would hide the whole image) nor into /proc.
fn check_target(root: &OwnedFd, target: &OwnedFd, name: &str) -> Result<(), InitError> {
    let (r, t) = (
        fstat(root.as_fd()).map_err(|e| err("stat of the rootfs", e))?,
        fstat(target.as_fd()).map_err(|e| err(&format!("stat of {name}"), e))?,
    );
    if (r.st_dev, r.st_ino) == (t.st_dev, t.st_ino) {
        return Err(InitError::engine(format!(
            "mount destination {name} resolves to the container's root"
        )));
    }
    let fs = nix::sys::statfs::fstatfs(target).map_err(|e| err(&format!("statfs {name}"), e))?;
    if fs.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(InitError::engine(format!(
            "mount destination {name} resolves into /proc"
        )));
    }
    Ok(())
}

/// The mount as an OCI runtime spec entry.
pub fn oci_mount(m: &MountPlan) -> Value {
    let mut options: Vec<String> = Vec::new();
    match &m.fstype {
        None => {
            let bind = if m.flags.contains(MsFlags::MS_REC) {
                "rbind"
            } else {
                "bind"
            };
            options.push(bind.into());
        }
        Some(_) => {
            for (flag, word) in FLAG_WORDS {
                if m.flags.contains(*flag) {
                    options.push((*word).into());
                }
            }
        }
    }
    options.push(if m.read_only { "ro" } else { "rw" }.into());
    if let Some(word) = propagation_word(m.propagation) {
        options.push(word.into());
    }
    if let Some(data) = &m.data {
        options.extend(data.split(',').map(String::from));
    }
    json!({
        "destination": m.target,
        "type": m.fstype.as_deref().unwrap_or("bind"),
        "source": m.source,
        "options": options,
    })
}

const FLAG_WORDS: &[(MsFlags, &str)] = &[
    (MsFlags::MS_NOSUID, "nosuid"),
    (MsFlags::MS_NODEV, "nodev"),
    (MsFlags::MS_NOEXEC, "noexec"),
    (MsFlags::MS_SYNCHRONOUS, "sync"),
    (MsFlags::MS_DIRSYNC, "dirsync"),
    (MsFlags::MS_NOATIME, "noatime"),
    (MsFlags::MS_NODIRATIME, "nodiratime"),
    (MsFlags::MS_RELATIME, "relatime"),
    (MsFlags::MS_STRICTATIME, "strictatime"),
];

/// The mount flag a word of mount options stands for, and whether it sets
/// (true) or clears it; None for a word that is not a flag.
pub fn flag_word(word: &str) -> Option<(MsFlags, bool)> {
    Some(match word {
        "ro" => (MsFlags::MS_RDONLY, true),
        "rw" => (MsFlags::MS_RDONLY, false),
        "nosuid" => (MsFlags::MS_NOSUID, true),
        "suid" => (MsFlags::MS_NOSUID, false),
        "nodev" => (MsFlags::MS_NODEV, true),
        "dev" => (MsFlags::MS_NODEV, false),
        "noexec" => (MsFlags::MS_NOEXEC, true),
        "exec" => (MsFlags::MS_NOEXEC, false),
        "sync" => (MsFlags::MS_SYNCHRONOUS, true),
        "async" => (MsFlags::MS_SYNCHRONOUS, false),
        "dirsync" => (MsFlags::MS_DIRSYNC, true),
        "noatime" => (MsFlags::MS_NOATIME, true),
        "atime" => (MsFlags::MS_NOATIME, false),
        "nodiratime" => (MsFlags::MS_NODIRATIME, true),
        "diratime" => (MsFlags::MS_NODIRATIME, false),
        "relatime" => (MsFlags::MS_RELATIME, true),
        "norelatime" => (MsFlags::MS_RELATIME, false),
        "strictatime" => (MsFlags::MS_STRICTATIME, true),
        "nostrictatime" => (MsFlags::MS_STRICTATIME, false),
        _ => return None,
    })
}

/// docker's propagation modes.
pub fn propagation_flags(mode: &str) -> Option<MsFlags> {
    Some(match mode {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn propagation_word(flags: MsFlags) -> Option<&'static str> {
    [
        "shared", "rshared", "slave", "rslave", "private", "rprivate",
    ]
    .into_iter()
    .find(|w| !flags.is_empty() && propagation_flags(w) == Some(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_oci_form() {
        assert_eq!(flag_word("exec"), Some((MsFlags::MS_NOEXEC, false)));
        assert_eq!(flag_word("size=1m"), None);
        assert_eq!(
            propagation_flags("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        let tmpfs = MountPlan {
            target: "/run".into(),
            source: "tmpfs".into(),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("size=65536k".into()),
            read_only: false,
            propagation: MsFlags::empty(),
            file: false,
        };
        assert_eq!(
            oci_mount(&tmpfs),
            json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "rw", "size=65536k"]})
        );
        let bind = MountPlan {
            fstype: None,
            source: "/srv".into(),
            flags: MsFlags::MS_REC,
            data: None,
            read_only: true,
            propagation: MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            ..tmpfs
        };
        assert_eq!(
            oci_mount(&bind)["options"],
            json!(["rbind", "ro", "rprivate"])
        );
    }
}
