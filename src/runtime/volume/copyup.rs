//! docker's copy-up: the image's content at a mount's path goes into an empty
//! volume.
//!
//! A forked child mounts the image's layers (read-only, in a private mount
//! namespace), finds the path with `RESOLVE_IN_ROOT` (a symlink in the image
//! stays inside the image) and copies fd-relative: every name is opened from
//! its parent's fd without following symlinks, on both sides, and every file
//! is created with O_EXCL, so neither the image nor the volume can send a read
//! or a write anywhere else. Directories, regular files, symlinks and fifos
//! are copied with owner, mode and times; devices and sockets are not.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, open, openat, openat2, readlinkat};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstat, futimens,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid, fchown, fchownat, fork, symlinkat};

use crate::runtime::container::fstree::{Kind, kind, lstat, names, open_dir};

/// Copies the image's `path` (inside the image given by its layers, lowest
/// first) into the directory `dest`, if `dest` is empty and the image has a
/// directory there. `scratch` is an unused directory to mount the image on.
pub fn copy_image_path(
    layers: &[PathBuf],
    scratch: &Path,
    path: &str,
    dest: &Path,
) -> Result<(), String> {
    let (report_read, report_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: berth is single-threaded here; the child copies and exits.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(report_read);
            let code = match in_child(layers, scratch, path, dest) {
                Ok(()) => 0,
                Err(message) => {
                    let _ = std::fs::File::from(report_write).write_all(message.as_bytes());
                    1
                }
            };
            // SAFETY: leave without running the parent's cleanup.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(report_write);
            let mut message = String::new();
            let _ = std::fs::File::from(report_read).read_to_string(&mut message);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                _ if !message.is_empty() => Err(message),
                other => Err(format!("the copy failed: {other:?}")),
            }
        }
    }
}

fn in_child(layers: &[PathBuf], scratch: &Path, path: &str, dest: &Path) -> Result<(), String> {
    let root = image_root(layers, scratch)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = path.trim_start_matches('/');
    let src = match openat2(&root, if rel.is_empty() { "." } else { rel }, how) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: nothing to copy.
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(format!("opening {path} in the image: {e}")),
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dst = open(dest, flags, Mode::empty()).map_err(|e| format!("{}: {e}", dest.display()))?;
    if !names(dst.as_fd())
        .map_err(|e| format!("{}: {e}", dest.display()))?
        .is_empty()
    {
        return Ok(());
    }
    copy_dir(src.as_fd(), dst.as_fd(), Path::new(path))?;
    let st = fstat(src.as_fd()).map_err(|e| format!("{path}: {e}"))?;
    set_meta(dst.as_fd(), &st).map_err(|e| format!("{}: {e}", dest.display()))
}

/// The image's merged layers, read-only, in a mount namespace of our own.
fn image_root(layers: &[PathBuf], scratch: &Path) -> Result<OwnedFd, String> {
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    match layers {
        [] => Err("the image has no layers".into()),
        // One layer is its own merged view.
        [only] => {
            open(only, dir_flags, Mode::empty()).map_err(|e| format!("{}: {e}", only.display()))
        }
        _ => {
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
            crate::runtime::container::rootfs::make_mounts_private()
                .map_err(|e| format!("making mounts private: {e}"))?;
            let lower: Vec<String> = layers
                .iter()
                .rev()
                .map(|p| p.display().to_string())
                .collect();
            let data = format!("lowerdir={}", lower.join(":"));
            mount(
                Some("overlay"),
                scratch,
                Some("overlay"),
                MsFlags::MS_RDONLY,
                Some(data.as_str()),
            )
            .map_err(|e| format!("mounting the image: {e}"))?;
            open(scratch, dir_flags, Mode::empty())
                .map_err(|e| format!("{}: {e}", scratch.display()))
        }
    }
}

fn copy_dir(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, at: &Path) -> Result<(), String> {
    let fail = |name: &OsStr, e: Errno| format!("{}: {e}", at.join(name).display());
    for name in names(src).map_err(|e| format!("{}: {e}", at.display()))? {
        let name = name.as_os_str();
        let st = lstat(src, name).map_err(|e| fail(name, e))?;
        match kind(&st) {
            Kind::Dir => {
                mkdirat(dst, name, Mode::from_bits_truncate(0o700)).map_err(|e| fail(name, e))?;
                let s = open_dir(src, name).map_err(|e| fail(name, e))?;
                let d = open_dir(dst, name).map_err(|e| fail(name, e))?;
                copy_dir(s.as_fd(), d.as_fd(), &at.join(name))?;
                set_meta(d.as_fd(), &st).map_err(|e| fail(name, e))?;
            }
            Kind::File => copy_file(src, dst, name, &st).map_err(|e| fail(name, e))?,
            Kind::Symlink => copy_symlink(src, dst, name, &st).map_err(|e| fail(name, e))?,
            Kind::Fifo => copy_fifo(dst, name, &st).map_err(|e| fail(name, e))?,
            // Devices and sockets have no place in a volume.
            Kind::Char | Kind::Block | Kind::Socket => {}
        }
    }
    Ok(())
}

fn copy_fifo(dst: BorrowedFd<'_>, name: &OsStr, st: &FileStat) -> Result<(), Errno> {
    mknodat(
        dst,
        name,
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o600),
        0,
    )?;
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    fchownat(
        dst,
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    fchmodat(dst, name, mode, FchmodatFlags::NoFollowSymlink)?;
    let (atime, mtime) = times(st);
    utimensat(dst, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
}

fn copy_file(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &OsStr,
    st: &FileStat,
) -> Result<(), Errno> {
    // O_NONBLOCK: a fifo swapped in for the file cannot block the copy.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let from = openat(src, name, flags, Mode::empty())?;
    if SFlag::from_bits_truncate(fstat(from.as_fd())?.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Ok(());
    }
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let to = openat(dst, name, flags, Mode::from_bits_truncate(0o600))?;
    let (mut from, mut to) = (std::fs::File::from(from), std::fs::File::from(to));
    std::io::copy(&mut from, &mut to)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    set_meta(to.as_fd(), st)
}

fn copy_symlink(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &OsStr,
    st: &FileStat,
) -> Result<(), Errno> {
    let target = readlinkat(src, name)?;
    symlinkat(target.as_os_str(), dst, name)?;
    fchownat(
        dst,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    let (atime, mtime) = times(st);
    utimensat(dst, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
}

/// Owner, then mode (a chown clears setuid bits), then times.
fn set_meta(fd: BorrowedFd<'_>, st: &FileStat) -> Result<(), Errno> {
    fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    fchmod(fd, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    let (atime, mtime) = times(st);
    futimens(fd, &atime, &mtime)
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}
