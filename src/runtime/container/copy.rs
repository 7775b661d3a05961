//! `cp`: files in and out of a container as a tar stream.
//!
//! The container side always runs in a forked child whose root *is* the
//! container's root: it joins the running container's mount namespace (setns
//! also moves its root there), or, for a stopped container, mounts the overlay in
//! a private mount namespace and chroots into it. Every path the container can
//! influence is therefore resolved by the kernel inside that root, so no symlink
//! swapped in by the container (CVE-2018-15664) can reach a host file. Nothing is
//! loaded from the container (CVE-2019-14271): the child runs berth's code only.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

use super::ContainerError;
use super::lifecycle::Container;
use super::record;
use crate::runtime::store::Store;

fn err(message: impl Into<String>) -> ContainerError {
    ContainerError::State {
        message: message.into(),
    }
}

/// Writes a tar of the container's `src` (a file or a directory, named by its
/// last component) to `out`.
pub fn copy_out(
    store: &Store,
    c: &Container,
    src: &str,
    out: &mut dyn Write,
) -> Result<(), ContainerError> {
    let src = src.to_string();
    run_inside(
        store,
        c,
        move |pipe| {
            let path = Path::new(&src);
            let name = path
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            let meta = std::fs::symlink_metadata(path)
                .map_err(|e| format!("Could not find the file {src} in container: {e}"))?;
            let mut builder = tar::Builder::new(std::fs::File::from(pipe));
            builder.follow_symlinks(false);
            let result = if meta.is_dir() {
                builder.append_dir_all(&name, path)
            } else {
                builder.append_path_with_name(path, &name)
            };
            result
                .and_then(|()| builder.finish())
                .map_err(|e| format!("archiving {src}: {e}"))
        },
        Direction::Out(out),
    )
}

/// Unpacks the tar read from `input` at the container's `dest`: into it when it
/// is a directory, else as `dest` itself.
pub fn copy_in(
    store: &Store,
    c: &Container,
    dest: &str,
    input: &mut dyn Read,
) -> Result<(), ContainerError> {
    let dest = dest.to_string();
    run_inside(
        store,
        c,
        move |pipe| unpack_to(std::fs::File::from(pipe), Path::new(&dest)),
        Direction::In(input),
    )
}

/// Unpacks a tar (whose single top entry is the copied file or directory) at
/// `dest`, the way `docker cp` names things. Safe against hostile archives: the
/// tar crate refuses `..`, absolute paths and links out of the directory.
pub fn unpack_to(reader: impl Read, dest: &Path) -> Result<(), String> {
    if dest.is_dir() {
        return unpack_in(reader, dest);
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!("{}: no such directory", parent.display()));
    }
    let staging = parent.join(format!(
        ".berth-cp-{}",
        crate::runtime::store::unique_suffix()
    ));
    std::fs::create_dir(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let result = unpack_in(reader, &staging).and_then(|()| {
        let top = single_entry(&staging)?;
        std::fs::rename(&top, dest).map_err(|e| format!("{}: {e}", dest.display()))
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn unpack_in(reader: impl Read, dir: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    archive
        .unpack(dir)
        .map_err(|e| format!("extracting into {}: {}", dir.display(), with_causes(&e)))
}

/// An error and its causes: tar's errors name the entry and keep the OS error
/// (a full disk, a quota) as their source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn single_entry(dir: &Path) -> Result<PathBuf, String> {
    let mut entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten();
    match (entries.next(), entries.next()) {
        (Some(one), None) => Ok(one.path()),
        _ => {
            Err("the archive must hold exactly one file or directory to copy to a new name".into())
        }
    }
}

pub(super) enum Direction<'a> {
    Out(&'a mut dyn Write),
    In(&'a mut dyn Read),
}

/// Forks a child that enters the container's root and runs `work` with its end
/// of a pipe, while this process pumps the other end.
pub(super) fn run_inside(
    store: &Store,
    c: &Container,
    work: impl FnOnce(OwnedFd) -> Result<(), String>,
    direction: Direction<'_>,
) -> Result<(), ContainerError> {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err(e.to_string()))?;
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err(e.to_string()))?;
    let ns = match c.is_running() {
        true => Some(
            std::fs::File::open(format!("/proc/{}/ns/mnt", c.state.pid))
                .map_err(|e| err(format!("the container's mount namespace: {e}")))?,
        ),
        false => None,
    };
    let dir = record::container_dir(store.root(), &c.record.id);
    // A stopped container's volumes and binds are mounted too, so a copy
    // lands where the container will see it.
    let mounts = match ns {
        Some(_) => Vec::new(),
        None => {
            use crate::runtime::volume::start::{Purpose, plans};
            plans(store, &c.record, Purpose::Copy).map_err(|e| err(e.to_string()))?
        }
    };
    // SAFETY: the CLI is single-threaded; the child only enters, copies and exits.
    match unsafe { fork() }.map_err(|e| err(e.to_string()))? {
        ForkResult::Child => {
            drop(report_read);
            let (mine, theirs) = match direction {
                Direction::Out(_) => (write_end, read_end),
                Direction::In(_) => (read_end, write_end),
            };
            drop(theirs);
            let result = enter(ns, c, &dir, &mounts).and_then(|()| work(mine));
            let code = match result {
                Ok(()) => 0,
                Err(message) => {
                    let mut report = std::fs::File::from(report_write);
                    let _ = report.write_all(message.as_bytes());
                    1
                }
            };
            // SAFETY: leave without running the parent's cleanup.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(report_write);
            let pumped = match direction {
                Direction::Out(out) => {
                    drop(write_end);
                    std::io::copy(&mut std::fs::File::from(read_end), out).map(|_| ())
                }
                Direction::In(input) => {
                    drop(read_end);
                    let mut pipe = std::fs::File::from(write_end);
                    std::io::copy(input, &mut pipe).map(|_| ())
                }
            };
            let status = waitpid(child, None).map_err(|e| err(e.to_string()))?;
            let mut message = String::new();
            let _ = std::fs::File::from(report_read).read_to_string(&mut message);
            match status {
                WaitStatus::Exited(_, 0) => pumped.map_err(|e| err(format!("copying: {e}"))),
                _ if !message.is_empty() => Err(err(message)),
                other => Err(err(format!("the copy failed: {other:?}"))),
            }
        }
    }
}

/// Makes the container's root this process's root.
fn enter(
    ns: Option<std::fs::File>,
    c: &Container,
    dir: &Path,
    mounts: &[super::mounts::MountPlan],
) -> Result<(), String> {
    if let Some(ns) = ns {
        // setns into a mount namespace also moves the root and cwd there.
        return setns(&ns, CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("entering the container: {e}"));
    }
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
    super::rootfs::make_mounts_private().map_err(|e| format!("making mounts private: {e}"))?;
    let data = super::rootfs::overlay_options(
        &c.record.config.layers,
        &dir.join("upper"),
        &dir.join("work"),
        false,
    );
    let rootfs = dir.join("rootfs");
    mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| format!("mounting the container's filesystem: {e}"))?;
    let root = nix::fcntl::open(
        &rootfs,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("opening the container's filesystem: {e}"))?;
    super::mounts::mount_all(&root, mounts).map_err(|e| e.message)?;
    nix::unistd::chroot(&rootfs).map_err(|e| format!("chroot: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir: {e}"))
}
