//! Relaying a container's pty (`-t`): the terminal goes raw, keystrokes go to the
//! pty, output comes back, the window size follows the terminal's, and signals
//! reach the container. Ends when the container's init exits.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::unistd::Pid;

use super::{MonitorError, reap, sys};

const BUFFER: usize = 16 * 1024;

/// Puts the terminal back as it was, however the relay ends.
struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Copies the host terminal's window size onto the container's pty.
pub fn copy_window_size(master: &OwnedFd) {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a correctly sized winsize.
    unsafe {
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// Relays until the container exits; returns its exit status. `signals` are the
/// (already blocked) signals to forward; SIGCHLD and SIGWINCH are handled here.
pub fn relay(
    master: OwnedFd,
    pid: Pid,
    interactive: bool,
    signals: &SigSet,
) -> Result<i32, MonitorError> {
    let _raw = interactive.then(RawMode::enter);
    copy_window_size(&master);
    let sigfd =
        SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC).map_err(|e| sys("signalfd", e))?;
    let stdin = std::io::stdin();
    let mut stdin_open = interactive;
    let mut master_open = true;
    loop {
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        if master_open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("poll", e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0]
            && let Some(code) = on_signal(&sigfd, &master, pid)?
        {
            drain(&master);
            return Ok(code);
        }
        if master_open && ready.get(1).copied().unwrap_or(false) {
            master_open = copy(master.as_fd(), libc::STDOUT_FILENO);
        }
        let stdin_slot = if master_open { 2 } else { 1 };
        if stdin_open && ready.get(stdin_slot).copied().unwrap_or(false) {
            stdin_open =
                available(stdin.as_raw_fd()) > 0 && copy(stdin.as_fd(), master.as_raw_fd());
        }
    }
}

fn on_signal(sigfd: &SignalFd, master: &OwnedFd, pid: Pid) -> Result<Option<i32>, MonitorError> {
    let Ok(Some(info)) = sigfd.read_signal() else {
        return Ok(None);
    };
    match Signal::try_from(info.ssi_signo as i32) {
        Ok(Signal::SIGCHLD) => reap(pid),
        Ok(Signal::SIGWINCH) => {
            copy_window_size(master);
            Ok(None)
        }
        Ok(sig) => {
            let _ = kill(pid, sig);
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// Bytes waiting on a terminal or pipe. A terminal can poll readable for an
/// end-of-file queued before raw mode, and a read would then block: zero
/// bytes available is treated as the end of input.
fn available(fd: i32) -> libc::c_int {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return 1;
    }
    n
}

/// One read and write; false when the source is done (EOF, or EIO once the
/// pty's last user has gone).
fn copy(from: BorrowedFd<'_>, to: i32) -> bool {
    let mut buf = [0u8; BUFFER];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(Errno::EIO) => false,
        Ok(n) => {
            write_all(to, &buf[..n]);
            true
        }
        Err(Errno::EINTR | Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: write(2) on a valid fd with a live buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// Output the container wrote just before exiting.
fn drain(master: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut buf = [0u8; BUFFER];
    while let Ok(n @ 1..) = nix::unistd::read(master.as_fd(), &mut buf) {
        write_all(libc::STDOUT_FILENO, &buf[..n]);
    }
}
