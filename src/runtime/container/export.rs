//! `export`: the container's whole filesystem as one flat tar (image layers
//! merged with its changes, whiteouts applied).
//!
//! The tree is read by a child in the container's root (copy.rs's
//! machinery: the running container's mount namespace, or a private overlay
//! mount for a stopped one). There it clones the root mount alone
//! (`open_tree` without `AT_RECURSIVE`), so `/proc`, `/sys`, `/dev` and the
//! bind-mounted `/etc` files show as the directories and placeholders
//! beneath them, never their contents. Every name is opened fd-relative
//! without following symlinks.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use super::ContainerError;
use super::copy::{self, Direction};
use super::diff::join;
use super::fstree::{self, Kind, TarOut};
use super::lifecycle::Container;
use crate::runtime::store::Store;

/// `OPEN_TREE_CLONE` from linux/mount.h (not in every libc target).
const OPEN_TREE_CLONE: libc::c_uint = 1;

/// Writes the tar of the container's filesystem to `out`.
pub fn export(store: &Store, c: &Container, out: &mut dyn Write) -> Result<(), ContainerError> {
    copy::run_inside(
        store,
        c,
        |pipe| write_root(File::from(pipe)),
        Direction::Out(out),
    )
}

/// Runs in the child, inside the container's root.
fn write_root(out: File) -> Result<(), String> {
    let root =
        clone_root_mount().map_err(|e| format!("cloning the container's root mount: {e}"))?;
    let mut tar = TarOut::new(BufWriter::with_capacity(1 << 16, out));
    walk(&mut tar, root.as_fd(), b"")?;
    let mut buffered = tar
        .finish()
        .map_err(|e| format!("writing the archive: {e}"))?;
    buffered
        .flush()
        .map_err(|e| format!("writing the archive: {e}"))
}

/// A detached copy of the mount at `/`, without the mounts below it.
fn clone_root_mount() -> std::io::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: the path is NUL-terminated; on success the kernel returns a new
    // descriptor that nothing else owns.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c"/".as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(std::io::Error::other)?;
    // SAFETY: `fd` was just returned by open_tree and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn walk<W: Write>(tar: &mut TarOut<W>, dir: BorrowedFd<'_>, prefix: &[u8]) -> Result<(), String> {
    let shown = |path: &[u8]| format!("/{}", String::from_utf8_lossy(path));
    let names = fstree::names(dir).map_err(|e| format!("listing {}: {e}", shown(prefix)))?;
    for name in names {
        let path = join(prefix, name.as_bytes());
        let fail = |e: std::io::Error| format!("archiving {}: {e}", shown(&path));
        let st = match fstree::lstat(dir, &name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(fail(e.into())),
        };
        if fstree::kind(&st) != Kind::Dir {
            tar.node(dir, OsStr::from_bytes(name.as_bytes()), &path, &st)
                .map_err(fail)?;
            continue;
        }
        let sub = match fstree::open_dir(dir, &name) {
            Ok(fd) => fd,
            // Removed or replaced by the running container since the listing.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
            Err(e) => return Err(fail(e.into())),
        };
        tar.dir(sub.as_fd(), &path).map_err(fail)?;
        walk(tar, sub.as_fd(), &path)?;
    }
    Ok(())
}
