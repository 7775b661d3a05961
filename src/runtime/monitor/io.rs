//! The monitor's loop while a container runs: its output goes to the json-file log
//! (and to the terminal when attached), keystrokes go to its pty with `-t`, the
//! window size follows the terminal's, and signals reach the container. It ends
//! when the container's init exits, after draining what it wrote last.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::unistd::Pid;

use super::attach::Hub;
use super::health::{Checker, Health};
use super::logfile::{LogWriter, Stream};
use super::{MonitorError, reap, sys};

const BUFFER: usize = 32 * 1024;

/// Where the container's stdio is, from the monitor's side.
pub struct Io {
    /// The stdout pipe, or the pty master with `-t`.
    pub stdout: Option<OwnedFd>,
    /// The stderr pipe (none with `-t`: the pty carries both).
    pub stderr: Option<OwnedFd>,
    /// `stdout` is a pty master: keystrokes and window sizes go to it.
    pub pty: bool,
    /// Copy the output to the monitor's own stdout/stderr (`run`, `start -a`).
    pub attach: bool,
    /// Forward the monitor's stdin into the pty (`-it`).
    pub stdin: bool,
    /// Where attached clients' input goes: the container's stdin pipe (`-i`
    /// without `-t`); with a pty, the master.
    pub stdin_sink: Option<OwnedFd>,
}

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
fn copy_window_size(master: BorrowedFd<'_>) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a zeroed, correctly sized winsize.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// Relays until the container exits; returns its exit status. `signals` are the
/// (already blocked) signals to watch: SIGCHLD and SIGWINCH are handled here,
/// the others are forwarded to the container.
/// The health checker, and what to do when its results change.
pub type HealthHook<'a> = (&'a mut Checker, &'a dyn Fn(&Health));

pub fn relay(
    io: Io,
    mut log: Option<&mut LogWriter>,
    mut health: Option<HealthHook<'_>>,
    mut hub: Option<&mut Hub>,
    pid: Pid,
    signals: &SigSet,
) -> Result<i32, MonitorError> {
    let _raw = (io.pty && io.stdin).then(RawMode::enter);
    if let (true, Some(master)) = (io.pty, &io.stdout) {
        copy_window_size(master.as_fd());
    }
    let sigfd =
        SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC).map_err(|e| sys("signalfd", e))?;
    let stdin = std::io::stdin();
    let mut open = [io.stdout.is_some(), io.stderr.is_some(), io.pty && io.stdin];
    loop {
        let sources: [Option<BorrowedFd<'_>>; 3] = [
            io.stdout.as_ref().map(|f| f.as_fd()).filter(|_| open[0]),
            io.stderr.as_ref().map(|f| f.as_fd()).filter(|_| open[1]),
            Some(stdin.as_fd()).filter(|_| open[2]),
        ];
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        let slots: Vec<usize> = (0..3).filter(|i| sources[*i].is_some()).collect();
        for i in &slots {
            if let Some(fd) = sources[*i] {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
        }
        // Then the attach socket and its clients.
        let hub_start = fds.len();
        if let Some(h) = hub.as_deref() {
            fds.push(PollFd::new(h.listener(), PollFlags::POLLIN));
            for client in h.clients() {
                fds.push(PollFd::new(client, PollFlags::POLLIN));
            }
        }
        let timeout = match &health {
            Some((checker, _)) => {
                let ms = checker.wait().as_millis().min(60_000) as i32 + 1;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::NONE)
            }
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("poll", e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if let Some(h) = hub.as_deref_mut() {
            serve_clients(h, &ready[hub_start..], &io);
        }
        if let Some((checker, hook)) = health.as_mut()
            && checker.tick()
        {
            hook(&checker.health);
        }
        for (n, i) in slots.iter().enumerate() {
            if !ready[n + 1] {
                continue;
            }
            open[*i] = match *i {
                0 => pump(
                    io.stdout.as_ref(),
                    Stream::Stdout,
                    log.as_deref_mut(),
                    hub.as_deref_mut(),
                    io.attach,
                ),
                1 => pump(
                    io.stderr.as_ref(),
                    Stream::Stderr,
                    log.as_deref_mut(),
                    hub.as_deref_mut(),
                    io.attach,
                ),
                _ => forward_stdin(&stdin, io.stdout.as_ref()),
            };
        }
        if ready[0]
            && let Some(code) = on_signal(&sigfd, &io, pid, health.as_mut())?
        {
            drain(&io, log.as_deref_mut());
            if let Some(log) = log {
                let _ = log.flush_partial();
            }
            return Ok(code);
        }
    }
}

fn on_signal(
    sigfd: &SignalFd,
    io: &Io,
    pid: Pid,
    health: Option<&mut HealthHook<'_>>,
) -> Result<Option<i32>, MonitorError> {
    let Ok(Some(info)) = sigfd.read_signal() else {
        return Ok(None);
    };
    match Signal::try_from(info.ssi_signo as i32) {
        Ok(Signal::SIGCHLD) => {
            if let Some((checker, hook)) = health
                && checker.reap()
            {
                hook(&checker.health);
            }
            reap(pid)
        }
        Ok(Signal::SIGWINCH) => {
            if let (true, Some(master)) = (io.pty, &io.stdout) {
                copy_window_size(master.as_fd());
            }
            Ok(None)
        }
        Ok(sig) => {
            let _ = kill(pid, sig);
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// One read from a container stream into the log (and the terminal); false once
/// it is done (EOF, or EIO from a pty whose last user has gone).
/// New clients, and what attached clients type (to the container's stdin).
fn serve_clients(hub: &mut Hub, ready: &[bool], io: &Io) {
    if ready.first().copied().unwrap_or(false) {
        hub.accept();
    }
    // Backwards, so a client dropped on the way keeps the others' indexes.
    for index in (0..ready.len().saturating_sub(1)).rev() {
        if !ready[index + 1] {
            continue;
        }
        if let Some(input) = hub.read(index).filter(|i| !i.is_empty()) {
            let sink = io
                .stdin_sink
                .as_ref()
                .or(if io.pty { io.stdout.as_ref() } else { None });
            if let Some(sink) = sink {
                write_all(sink.as_raw_fd(), &input);
            }
        }
    }
}

fn pump(
    fd: Option<&OwnedFd>,
    stream: Stream,
    log: Option<&mut LogWriter>,
    hub: Option<&mut Hub>,
    attach: bool,
) -> bool {
    let Some(fd) = fd else { return false };
    let mut buf = [0u8; BUFFER];
    match nix::unistd::read(fd.as_fd(), &mut buf) {
        Ok(0) | Err(Errno::EIO) => false,
        Ok(n) => {
            // A full disk must not stop the container: its output is then lost,
            // not blocked.
            if let Some(log) = log {
                let _ = log.write(stream, &buf[..n]);
            }
            if let Some(hub) = hub {
                hub.broadcast(stream, &buf[..n]);
            }
            if attach {
                let target = match stream {
                    Stream::Stdout => libc::STDOUT_FILENO,
                    Stream::Stderr => libc::STDERR_FILENO,
                };
                write_all(target, &buf[..n]);
            }
            true
        }
        Err(Errno::EINTR | Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// Bytes waiting on a terminal or pipe. A terminal can poll readable for an
/// end-of-file queued before raw mode, and a read would then block: zero bytes
/// available is treated as the end of input.
fn available(fd: i32) -> libc::c_int {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return 1;
    }
    n
}

fn forward_stdin(stdin: &std::io::Stdin, master: Option<&OwnedFd>) -> bool {
    let Some(master) = master else { return false };
    if available(stdin.as_raw_fd()) == 0 {
        return false;
    }
    let mut buf = [0u8; BUFFER];
    match nix::unistd::read(stdin.as_fd(), &mut buf) {
        Ok(0) => false,
        Ok(n) => {
            write_all(master.as_raw_fd(), &buf[..n]);
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

/// What the container wrote just before exiting: its processes are gone, so the
/// pipes end (or the pty reports EIO) once read dry.
fn drain(io: &Io, mut log: Option<&mut LogWriter>) {
    for (fd, stream) in [(&io.stdout, Stream::Stdout), (&io.stderr, Stream::Stderr)] {
        let Some(fd) = fd else { continue };
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        let mut buf = [0u8; BUFFER];
        while let Ok(n @ 1..) = nix::unistd::read(fd.as_fd(), &mut buf) {
            if let Some(log) = log.as_deref_mut() {
                let _ = log.write(stream, &buf[..n]);
            }
            if io.attach {
                let target = match stream {
                    Stream::Stdout => libc::STDOUT_FILENO,
                    Stream::Stderr => libc::STDERR_FILENO,
                };
                write_all(target, &buf[..n]);
            }
        }
    }
}
