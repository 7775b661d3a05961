//! docker's masked and read-only paths under `/proc` and `/sys`.
//!
//! Both functions run INSIDE the container's mount namespace after
//! `pivot_root`, so paths are absolute in the container, and before the
//! container's own code runs. Every target is opened with `O_PATH` and no
//! symlink following, checked to be the path asked for, and the mount is
//! made on `/proc/self/fd/N` rather than on the path string: nothing can
//! swap the path for a symlink between the check and the mount
//! (CVE-2021-30465, the technique runc adopted). That needs the container's
//! `/proc` mounted, which docker's defaults require anyway.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat2, readlink};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, fstat, major, minor};
use nix::sys::statvfs::{FsFlags, fstatvfs};

use super::SecurityError;

/// Hidden from containers: a directory gets an empty read-only tmpfs over
/// it, a file gets `/dev/null` (docker's `oci.DefaultSpec` list).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Visible but read-only to containers.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The container's null device, used to mask files.
const DEV_NULL: &str = "/dev/null";

/// Masks every existing [`MASKED_PATHS`] entry; missing ones are skipped.
///
/// Requires the container's `/dev` to be the fresh tmpfs the runtime made,
/// with a real `/dev/null` node (char 1:3): the image's own `/dev/null`
/// could be anything, so anything else is refused with
/// [`SecurityError::NotDevNull`].
pub fn mask_paths() -> Result<(), SecurityError> {
    mask(MASKED_PATHS.iter().map(Path::new), Path::new(DEV_NULL))
}

/// Makes every existing [`READONLY_PATHS`] entry a read-only bind mount of
/// itself, keeping its nosuid/nodev/noexec/atime flags. Missing ones are
/// skipped.
pub fn readonly_paths() -> Result<(), SecurityError> {
    make_readonly(READONLY_PATHS.iter().map(Path::new))
}

/// [`mask_paths`] over any list and null device (tests use temp paths).
pub(crate) fn mask<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    dev_null: &Path,
) -> Result<(), SecurityError> {
    let null = open_dev_null(dev_null)?;
    for path in paths {
        let Some(target) = open_existing(path)? else {
            continue;
        };
        if file_type(&target, path)? == SFlag::S_IFDIR {
            mount_empty_tmpfs(&target, path)?;
        } else {
            bind(&null, &target, MsFlags::empty(), path)?;
        }
    }
    Ok(())
}

/// [`readonly_paths`] over any list (tests use temp paths).
pub(crate) fn make_readonly<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
) -> Result<(), SecurityError> {
    for path in paths {
        let Some(under) = open_existing(path)? else {
            continue;
        };
        bind(&under, &under, MsFlags::MS_REC, path)?;
        // `under` still refers to the mount below the new bind mount, so a
        // remount through it fails (EINVAL: not a mount root) or, if the
        // path already was a mount point, changes the hidden mount instead.
        // Reopen to reach the bind mount itself.
        drop(under);
        let top = open_existing(path)?.ok_or_else(|| path_error("reopen", path, Errno::ENOENT))?;
        remount_readonly(&top, path)?;
    }
    Ok(())
}

fn path_error(op: &'static str, path: &Path, errno: Errno) -> SecurityError {
    SecurityError::Path {
        op,
        path: path.to_path_buf(),
        errno,
    }
}

/// The magic link through which mounts reach exactly the opened file.
fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` as an `O_PATH` handle, refusing a symlink anywhere in it;
/// `None` when it does not exist.
fn open_existing(path: &Path) -> Result<Option<OwnedFd>, SecurityError> {
    let fd = match open_no_symlinks(path) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(errno) => return Err(path_error("open", path, errno)),
    };
    check_resolved(&fd, path)?;
    // O_PATH|O_NOFOLLOW on a trailing symlink opens the link itself.
    if file_type(&fd, path)? == SFlag::S_IFLNK {
        return Err(path_error("open", path, Errno::ELOOP));
    }
    Ok(Some(fd))
}

fn open_no_symlinks(path: &Path) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(AT_FDCWD, path, how) {
        // Before Linux 5.6: O_NOFOLLOW guards the last component and
        // check_resolved catches a symlink earlier in the path.
        Err(Errno::ENOSYS) => open(path, flags, Mode::empty()),
        other => other,
    }
}

/// Verifies the kernel's name for the opened file is exactly `path`.
fn check_resolved(fd: &OwnedFd, path: &Path) -> Result<(), SecurityError> {
    let actual = readlink(&fd_path(fd)).map_err(|e| path_error("resolve", path, e))?;
    if Path::new(&actual) == path {
        Ok(())
    } else {
        Err(SecurityError::PathMismatch {
            path: path.to_path_buf(),
            actual: actual.into(),
        })
    }
}

/// The `S_IFMT` bits of the opened file.
fn file_type(fd: &OwnedFd, path: &Path) -> Result<SFlag, SecurityError> {
    let st = fstat(fd.as_fd()).map_err(|e| path_error("stat", path, e))?;
    Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
}

fn open_dev_null(path: &Path) -> Result<OwnedFd, SecurityError> {
    let fd = open_existing(path)?.ok_or_else(|| path_error("open", path, Errno::ENOENT))?;
    let st = fstat(fd.as_fd()).map_err(|e| path_error("stat", path, e))?;
    let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if is_char && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 {
        Ok(fd)
    } else {
        Err(SecurityError::NotDevNull {
            path: path.to_path_buf(),
        })
    }
}

fn mount_empty_tmpfs(target: &OwnedFd, path: &Path) -> Result<(), SecurityError> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        &fd_path(target),
        Some("tmpfs"),
        flags,
        None::<&str>,
    )
    .map_err(|e| path_error("mount tmpfs over", path, e))
}

fn bind(
    source: &OwnedFd,
    target: &OwnedFd,
    extra: MsFlags,
    path: &Path,
) -> Result<(), SecurityError> {
    mount(
        Some(&fd_path(source)),
        &fd_path(target),
        None::<&str>,
        MsFlags::MS_BIND | extra,
        None::<&str>,
    )
    .map_err(|e| path_error("bind mount over", path, e))
}

fn remount_readonly(top: &OwnedFd, path: &Path) -> Result<(), SecurityError> {
    let flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(top, path)?;
    mount(
        None::<&str>,
        &fd_path(top),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| path_error("remount read-only", path, e))
}

/// The mount flags a bind remount must repeat: omitting one clears it, and
/// the kernel refuses to clear flags locked by a user namespace.
fn kept_flags(fd: &OwnedFd, path: &Path) -> Result<MsFlags, SecurityError> {
    let have = fstatvfs(fd.as_fd())
        .map_err(|e| path_error("statvfs", path, e))?
        .flags();
    let pairs = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st, _)| have.contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::security::testutil::{in_child, is_root};
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::statvfs::statvfs;
    use std::fs;
    use std::io::ErrorKind;

    fn is_erofs(res: std::io::Result<impl Sized>) -> bool {
        matches!(res, Err(e) if e.raw_os_error() == Some(libc::EROFS))
    }

    /// A private mount namespace with a nosuid,nodev,noexec tmpfs at `root`
    /// holding the fixture files. Child-only.
    fn fixture(root: &Path) -> bool {
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        let nsd = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        unshare(CloneFlags::CLONE_NEWNS).is_ok()
            && mount(None::<&str>, "/", None::<&str>, private, None::<&str>).is_ok()
            && mount(Some("tmpfs"), root, Some("tmpfs"), nsd, None::<&str>).is_ok()
            && fs::create_dir_all(root.join("mdir/sub")).is_ok()
            && fs::write(root.join("mdir/secret"), "s").is_ok()
            && fs::write(root.join("mfile"), "secret").is_ok()
            && fs::create_dir(root.join("rodir")).is_ok()
            && fs::write(root.join("rofile"), "data").is_ok()
            && std::os::unix::fs::symlink(root.join("mfile"), root.join("link")).is_ok()
    }

    fn check_masked(root: &Path) -> i32 {
        let paths = [root.join("mdir"), root.join("mfile"), root.join("missing")];
        if mask(paths.iter().map(PathBuf::as_path), Path::new("/dev/null")).is_err() {
            return 2;
        }
        if fs::read_to_string(root.join("mfile")).ok().as_deref() != Some("") {
            return 3;
        }
        if fs::read_dir(root.join("mdir")).map(|d| d.count()).ok() != Some(0) {
            return 4;
        }
        if !is_erofs(fs::write(root.join("mdir/new"), "x")) {
            return 5;
        }
        0
    }

    fn check_readonly(root: &Path) -> i32 {
        let paths = [
            root.join("rodir"),
            root.join("rofile"),
            root.join("missing"),
        ];
        if make_readonly(paths.iter().map(PathBuf::as_path)).is_err() {
            return 6;
        }
        if !is_erofs(fs::write(root.join("rodir/new"), "x")) {
            return 7;
        }
        if !is_erofs(fs::OpenOptions::new().write(true).open(root.join("rofile"))) {
            return 8;
        }
        if fs::read_to_string(root.join("rofile")).ok().as_deref() != Some("data") {
            return 9;
        }
        let want = FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC;
        match statvfs(&root.join("rodir")) {
            Ok(st) if st.flags().contains(want) => {}
            _ => return 10,
        }
        // The parent mount must stay writable (the reopen matters).
        if fs::write(root.join("still-writable"), "x").is_err() {
            return 11;
        }
        0
    }

    fn check_refusals(root: &Path) -> i32 {
        let link = root.join("link");
        match mask([link.as_path()], Path::new("/dev/null")) {
            Err(SecurityError::Path {
                errno: Errno::ELOOP,
                ..
            }) => {}
            _ => return 12,
        }
        let dotted = root.join("rodir/../mfile");
        if !matches!(
            mask([dotted.as_path()], Path::new("/dev/null")),
            Err(SecurityError::PathMismatch { .. })
        ) {
            return 13;
        }
        if !matches!(
            mask(std::iter::empty(), &root.join("rofile")),
            Err(SecurityError::NotDevNull { .. })
        ) {
            return 14;
        }
        0
    }

    #[test]
    fn masks_and_readonly_in_private_namespace() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let code = in_child(|| {
            if !fixture(&root) {
                return 1;
            }
            [check_masked, check_readonly, check_refusals]
                .iter()
                .map(|check| check(&root))
                .find(|code| *code != 0)
                .unwrap_or(0)
        });
        assert_eq!(code, 0, "child failed at step {code}");
        // The child's mounts died with its namespace.
        let left = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 0, "child mounts leaked into the test's namespace");
    }

    #[test]
    fn missing_dev_null_is_an_error() {
        let err = mask(std::iter::empty(), Path::new("/nonexistent/null")).unwrap_err();
        assert!(matches!(
            err,
            SecurityError::Path {
                errno: Errno::ENOENT,
                ..
            }
        ));
        assert!(err.to_string().contains("/nonexistent/null"), "{err}");
    }

    #[test]
    fn missing_paths_are_skipped() {
        let missing = Path::new("/nonexistent/berth-test");
        assert!(mask([missing], Path::new("/dev/null")).is_ok());
        assert!(make_readonly([missing]).is_ok());
        assert_eq!(
            fs::metadata(missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn lists_match_docker() {
        assert_eq!(MASKED_PATHS.len(), 12);
        assert_eq!(READONLY_PATHS.len(), 5);
        assert!(MASKED_PATHS.contains(&"/proc/kcore"));
        assert!(READONLY_PATHS.contains(&"/proc/sysrq-trigger"));
    }
}
