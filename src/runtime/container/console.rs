//! `-t`: the container's terminal comes from its own devpts instance (so `tty`
//! inside names a device that exists there). The init opens it and hands the
//! master side to the monitor over a unix socket (SCM_RIGHTS).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{OFlag, open};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::stat::Mode;

use super::init::InitError;

/// The size of the terminal on stdin, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ into a zeroed winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0)
            .then_some((ws.ws_row, ws.ws_col))
    }
}

/// (monitor's end, container's end).
pub fn socket_pair() -> Result<(OwnedFd, OwnedFd), InitError> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| InitError::engine(format!("creating the console socket: {}", e.desc())))
}

fn engine(what: &str, e: nix::errno::Errno) -> InitError {
    InitError::engine(format!("{what}: {}", e.desc()))
}

/// In the container, after pivot_root: a new pty whose slave becomes stdio and
/// the controlling terminal of a new session; the master goes to the monitor.
pub fn setup(socket: &OwnedFd, size: Option<(u16, u16)>) -> Result<(), InitError> {
    let master = open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| engine("opening /dev/ptmx", e))?;
    let mut unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: ioctls on a pty master with correctly typed out-pointers.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) != 0
            || libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) != 0
        {
            return Err(engine("unlocking the pty", nix::errno::Errno::last()));
        }
    }
    if let Some((rows, cols)) = size {
        // Set before the command starts, so its first look at the size is right.
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let slave_path = format!("/dev/pts/{number}");
    let slave = open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| engine(&format!("opening {slave_path}"), e))?;
    nix::unistd::setsid().map_err(|e| engine("setsid", e))?;
    // SAFETY: make the slave our controlling terminal, then our stdio.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(engine("TIOCSCTTY", nix::errno::Errno::last()));
        }
        for target in 0..3 {
            libc::dup2(slave.as_raw_fd(), target);
        }
    }
    send_fd(socket, master.as_raw_fd())
}

fn send_fd(socket: &OwnedFd, fd: RawFd) -> Result<(), InitError> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"m")];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| engine("sending the pty to the monitor", e))?;
    Ok(())
}

/// In the monitor: the pty master, or None if the container failed before
/// sending it (its report then says why).
pub fn receive_master(socket: &OwnedFd) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just gave us this fd; nothing else owns it.
            return fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    None
}
