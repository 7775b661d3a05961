//! Persistent network namespaces: a namespace bind-mounted on a file (as
//! `ip netns` does) outlives the process that made it, so berth configures it
//! from the host before the container exists and the container's init joins it
//! with `setns`.
//!
//! Everything here runs on the calling thread and switches that thread's
//! namespace only for a moment, always switching back, so no helper thread is
//! needed (the monitor must stay single-threaded until it clones).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use super::error::NetworkError;

/// This thread's current network namespace.
fn current() -> Result<File, NetworkError> {
    let path = Path::new("/proc/thread-self/ns/net");
    File::open(path).map_err(|e| NetworkError::io(path, e))
}

/// Switching back must work: a thread left in a container's namespace would
/// do the rest of its work in the wrong place.
fn restore(original: &File) -> Result<(), NetworkError> {
    setns(original.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetworkError::sys("returning to the host network namespace", e))
}

/// Creates a new network namespace pinned at `path` (an empty file is made
/// first) and returns an fd on it.
pub fn create(path: &Path) -> Result<OwnedFd, NetworkError> {
    remove(path)?;
    File::create(path).map_err(|e| NetworkError::io(path, e))?;
    let original = current()?;
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetworkError::sys("creating a network namespace", e))?;
    let pinned = mount(
        Some("/proc/thread-self/ns/net"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    );
    restore(&original)?;
    if let Err(e) = pinned {
        let _ = std::fs::remove_file(path);
        return Err(NetworkError::sys(
            format!("pinning the network namespace at {}", path.display()),
            e,
        ));
    }
    open(path)
}

pub fn open(path: &Path) -> Result<OwnedFd, NetworkError> {
    File::open(path)
        .map(OwnedFd::from)
        .map_err(|e| NetworkError::io(path, e))
}

/// Runs `work` with this thread inside the namespace `ns`.
pub fn enter<T>(
    ns: &impl AsFd,
    work: impl FnOnce() -> Result<T, NetworkError>,
) -> Result<T, NetworkError> {
    let original = current()?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetworkError::sys("entering the container's network namespace", e))?;
    let result = work();
    restore(&original)?;
    result
}

/// Unpins the namespace at `path` and removes the file; the namespace itself
/// goes when its last process does. Missing is fine.
pub fn remove(path: &Path) -> Result<(), NetworkError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => {
            return Err(NetworkError::sys(
                format!("unmounting {}", path.display()),
                e,
            ));
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetworkError::io(path, e)),
    }
}
