//! The container's root filesystem, built inside its own mount namespace (so no
//! mount is ever visible on the host, and all of them vanish with the container).
//!
//! Every mount target inside the rootfs is opened with `openat2(RESOLVE_IN_ROOT)`
//! and mounted through `/proc/self/fd/N`: a symlink in the image can never send a
//! mount outside the rootfs (CVE-2021-30465).

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, open, openat, openat2, readlinkat};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstatat, makedev, mkdirat, mknodat};
use nix::unistd::{UnlinkatFlags, fchdir, pivot_root, symlinkat, unlinkat};

use super::init::InitError;

/// What to mount where, decided by the parent before the container is cloned.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    pub rootfs: PathBuf,
    /// Image layers, lowest first.
    pub layers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Host files bind-mounted over container paths (`/etc/hosts`, ...).
    pub files: Vec<(PathBuf, String)>,
    pub own_netns: bool,
    pub privileged: bool,
    /// The upper dir is thrown away after the container (`--rm`): skip overlay's
    /// syncs, which otherwise flush the whole host filesystem at unmount.
    pub volatile: bool,
    /// Volumes, binds and tmpfs mounts, parents first.
    pub mounts: Vec<super::mounts::MountPlan>,
}

pub(super) fn err(what: &str, errno: Errno) -> InitError {
    InitError::engine(format!("{what}: {}", errno.desc()))
}

pub(super) fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// In a new mount namespace: nothing mounted from now on propagates to the host.
pub fn make_mounts_private() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// Mounts everything and pivots into the new root. Runs in the container's
/// mount namespace, as root, before any privilege is dropped.
pub fn prepare(plan: &RootfsPlan) -> Result<(), InitError> {
    make_mounts_private().map_err(|e| err("making mounts private", e))?;
    mount_overlay(plan)?;
    let root = open(
        &plan.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening the rootfs", e))?;
    mount_proc(&root)?;
    mount_dev(&root, plan.privileged)?;
    mount_sys(&root, plan.own_netns, plan.privileged)?;
    for (source, dest) in &plan.files {
        bind_file(&root, source, dest)?;
    }
    super::mounts::mount_all(&root, &plan.mounts)?;
    pivot(&root)
}

/// The overlay mount options of a container: its image layers (given lowest
/// first; overlay wants the top first) under its upper dir.
pub fn overlay_options(layers: &[PathBuf], upper: &Path, work: &Path, volatile: bool) -> String {
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if volatile {
        data.push_str(",volatile");
    }
    data
}

fn mount_overlay(plan: &RootfsPlan) -> Result<(), InitError> {
    if plan.layers.is_empty() {
        return Err(InitError::engine("the image has no layers".into()));
    }
    let data = overlay_options(&plan.layers, &plan.upper, &plan.work, plan.volatile);
    mount(
        Some("overlay"),
        &plan.rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| match e {
        Errno::ENODEV => InitError::engine(
            "overlay filesystem is unavailable: load the kernel module with `modprobe overlay`"
                .into(),
        ),
        other => err("mounting the overlay rootfs", other),
    })
}

/// Symlinks followed while resolving one path, as the kernel's limit.
const MAX_LINKS: u32 = 40;

/// Opens `path` (relative to the rootfs) as an O_PATH directory, creating missing
/// components. Symlinks are followed as the container would see them (an
/// absolute target starts again at the rootfs, `..` stops there), so a
/// dangling one gets its target made inside the rootfs, never outside.
pub(super) fn dir_in_root(root: &OwnedFd, path: &str) -> Result<OwnedFd, InitError> {
    let mut pending: VecDeque<String> = path_parts(path).into();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    let mut fd = open_in_root(root, ".", true)?;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            done.pop();
            fd = open_in_root(root, &joined(&done), true)?;
            continue;
        }
        match fstatat(&fd, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(err(&format!("resolving /{path}"), Errno::ELOOP));
                }
                let target = readlinkat(&fd, name.as_str())
                    .map_err(|e| err(&format!("reading the symlink /{path}"), e))?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    done.clear();
                }
                for part in path_parts(&target).into_iter().rev() {
                    pending.push_front(part);
                }
                fd = open_in_root(root, &joined(&done), true)?;
                continue;
            }
            Ok(_) => {}
            Err(Errno::ENOENT) => {
                match mkdirat(&fd, name.as_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(err(&format!("creating /{}/{name}", joined(&done)), e)),
                }
            }
            Err(e) => return Err(err(&format!("resolving /{path}"), e)),
        }
        done.push(name);
        fd = open_in_root(root, &joined(&done), true)?;
    }
    Ok(fd)
}

fn path_parts(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(String::from)
        .collect()
}

fn joined(parts: &[String]) -> String {
    match parts.is_empty() {
        true => ".".into(),
        false => parts.join("/"),
    }
}

pub(super) fn open_in_root(root: &OwnedFd, path: &str, dir: bool) -> Result<OwnedFd, InitError> {
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if dir {
        flags |= OFlag::O_DIRECTORY;
    }
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, path, how).map_err(|e| err(&format!("opening /{path} in the rootfs"), e))
}

/// Opens (creating if needed) a regular file inside the rootfs as a mount target.
/// The parent is resolved inside the rootfs; the last component is never
/// followed: a symlink there (which could point anywhere) is replaced by an
/// empty file in the container's upper layer.
pub(super) fn file_in_root(root: &OwnedFd, path: &str) -> Result<OwnedFd, InitError> {
    let parent_path = Path::new(path)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| InitError::engine(format!("invalid mount destination /{path}")))?;
    let parent = dir_in_root(root, &parent_path)?;
    let parent = open(
        fd_path(&parent).as_str(),
        OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(&format!("opening /{parent_path}"), e))?;
    match fstatat(&parent, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
            unlinkat(&parent, name.as_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(|e| err(&format!("replacing the symlink /{path}"), e))?;
        }
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR => {
            return Err(InitError::engine(format!(
                "cannot mount a file over the directory /{path}"
            )));
        }
        _ => {}
    }
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    drop(
        openat(
            &parent,
            name.as_str(),
            flags,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|e| err(&format!("creating /{path}"), e))?,
    );
    openat(
        &parent,
        name.as_str(),
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(&format!("opening /{path}"), e))
}

fn mount_fs(
    target: &OwnedFd,
    source: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), InitError> {
    mount(
        Some(source),
        fd_path(target).as_str(),
        Some(fstype),
        flags,
        data,
    )
    .map_err(|e| err(&format!("mounting {fstype}"), e))
}

fn mount_proc(root: &OwnedFd) -> Result<(), InitError> {
    let target = dir_in_root(root, "proc")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs(&target, "proc", "proc", flags, None)
}

/// A fresh tmpfs /dev with only the devices docker gives a container. The image's
/// own /dev (which might hold a symlink to a host path) is hidden underneath.
fn mount_dev(root: &OwnedFd, privileged: bool) -> Result<(), InitError> {
    let target = dir_in_root(root, "dev")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount_fs(
        &target,
        "tmpfs",
        "tmpfs",
        flags,
        Some("mode=755,size=65536k"),
    )?;
    let dev = dir_in_root(root, "dev")?;
    let dev = open(
        fd_path(&dev).as_str(),
        OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening /dev", e))?;
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        make_device(&dev, name, major, minor)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        symlinkat(target, &dev, link).map_err(|e| err(&format!("linking /dev/{link}"), e))?;
    }
    let nosuid_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let pts = dir_in_root(root, "dev/pts")?;
    mount_fs(
        &pts,
        "devpts",
        "devpts",
        nosuid_noexec,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dir_in_root(root, "dev/shm")?;
    mount_fs(
        &shm,
        "shm",
        "tmpfs",
        nosuid_noexec | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )?;
    let mqueue = dir_in_root(root, "dev/mqueue")?;
    mount_fs(
        &mqueue,
        "mqueue",
        "mqueue",
        nosuid_noexec | MsFlags::MS_NODEV,
        None,
    )?;
    if privileged {
        // Host devices last: the ones berth made (null, ptmx, ...) win.
        copy_host_devices(&dev, Path::new("/dev"), 0)?;
    }
    Ok(())
}

/// `--privileged` sees the host's devices, as in docker: every character and
/// block device under the host's /dev (two levels deep) is recreated.
fn copy_host_devices(dest: &OwnedFd, host_dir: &Path, depth: u32) -> Result<(), InitError> {
    let Ok(entries) = std::fs::read_dir(host_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name();
        let kind =
            SFlag::from_bits_truncate(std::os::unix::fs::MetadataExt::mode(&meta)) & SFlag::S_IFMT;
        if kind == SFlag::S_IFDIR
            && depth == 0
            && !matches!(name.to_str(), Some("pts" | "shm" | "mqueue"))
        {
            let _ = mkdirat(dest, name.as_os_str(), Mode::from_bits_truncate(0o755));
            let Ok(sub) = nix::fcntl::openat(
                dest,
                name.as_os_str(),
                OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                Mode::empty(),
            ) else {
                continue;
            };
            copy_host_devices(&sub, &entry.path(), depth + 1)?;
        } else if kind == SFlag::S_IFCHR || kind == SFlag::S_IFBLK {
            let mode =
                Mode::from_bits_truncate(std::os::unix::fs::MetadataExt::mode(&meta) & 0o7777);
            let rdev = std::os::unix::fs::MetadataExt::rdev(&meta);
            // Devices berth already made (null, zero, ...) stay as they are.
            match mknodat(dest, name.as_os_str(), kind, mode, rdev) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => {
                    return Err(err(
                        &format!("creating device {}", entry.path().display()),
                        e,
                    ));
                }
            }
        }
    }
    Ok(())
}

fn make_device(dev: &OwnedFd, name: &str, major: u64, minor: u64) -> Result<(), InitError> {
    let mode = Mode::from_bits_truncate(0o666);
    mknodat(dev, name, SFlag::S_IFCHR, mode, makedev(major, minor))
        .map_err(|e| err(&format!("creating /dev/{name}"), e))?;
    // mknod honours the umask; the modes must be exactly docker's.
    fchmodat(dev, name, mode, FchmodatFlags::NoFollowSymlink)
        .map_err(|e| err(&format!("setting the mode of /dev/{name}"), e))
}

/// sysfs belongs to a network namespace: a container with its own gets a fresh
/// one; one on the host network sees the host's. Read-only unless privileged.
fn mount_sys(root: &OwnedFd, own_netns: bool, privileged: bool) -> Result<(), InitError> {
    let target = dir_in_root(root, "sys")?;
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !privileged {
        flags |= MsFlags::MS_RDONLY;
    }
    if own_netns {
        return mount_fs(&target, "sysfs", "sysfs", flags, None);
    }
    mount(
        Some("/sys"),
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| err("binding /sys", e))?;
    let target = dir_in_root(root, "sys")?;
    mount(
        None::<&str>,
        fd_path(&target).as_str(),
        None::<&str>,
        flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
        None::<&str>,
    )
    .map_err(|e| err("making /sys read-only", e))
}

fn bind_file(root: &OwnedFd, source: &Path, dest: &str) -> Result<(), InitError> {
    let target = file_in_root(root, dest.trim_start_matches('/'))?;
    mount(
        Some(source),
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| err(&format!("binding {dest}"), e))
}

/// `pivot_root(".", ".")` then detaching the old root: no directory for the old
/// root is needed inside the image, and nothing of the host stays reachable.
fn pivot(root: &OwnedFd) -> Result<(), InitError> {
    let dir = open(
        fd_path(root).as_str(),
        OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening the rootfs", e))?;
    fchdir(dir.as_fd()).map_err(|e| err("entering the rootfs", e))?;
    pivot_root(".", ".").map_err(|e| err("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| err("detaching the old root", e))?;
    nix::unistd::chdir("/").map_err(|e| err("chdir /", e))
}

/// `--read-only`: the root mount itself becomes read-only (after everything that
/// writes into it is done).
pub fn make_root_readonly() -> Result<(), InitError> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|e| err("making / read-only", e))
}
