//! `attach` on the monitor's side: a unix socket in the container's directory.
//! Each client gets the live output, in docker's multiplexed framing (an 8-byte
//! header: stream, three zero bytes, big-endian length) or raw with a tty, and
//! what it sends goes to the container's stdin.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::logfile::Stream;

pub const SOCKET: &str = "attach.sock";

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// A short name for the socket, through an fd of its directory: unix socket
/// paths are limited to 108 bytes, and container directories can be deeper.
/// The fd must stay open while the name is used.
pub fn short_path(dir: &Path) -> std::io::Result<(std::fs::File, PathBuf)> {
    use std::os::fd::AsRawFd;
    let fd = std::fs::File::open(dir)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", fd.as_raw_fd()));
    Ok((fd, path))
}

/// Connects to a container's attach socket.
pub fn connect(dir: &Path) -> std::io::Result<UnixStream> {
    let (_dir, path) = short_path(dir)?;
    UnixStream::connect(path)
}

pub struct Hub {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<UnixStream>,
    raw: bool,
}

impl Hub {
    /// Listens in `dir`; `raw` (a tty) sends output unframed.
    pub fn bind(dir: &Path, raw: bool) -> std::io::Result<Hub> {
        let path = socket_path(dir);
        let _ = std::fs::remove_file(&path);
        let (_dir, short) = short_path(dir)?;
        let listener = UnixListener::bind(&short)?;
        listener.set_nonblocking(true)?;
        Ok(Hub {
            listener,
            path,
            clients: Vec::new(),
            raw,
        })
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    pub fn clients(&self) -> Vec<BorrowedFd<'_>> {
        self.clients.iter().map(|c| c.as_fd()).collect()
    }

    pub fn accept(&mut self) {
        while let Ok((client, _)) = self.listener.accept() {
            // Writes must never block the monitor: a slow client loses output.
            if client.set_nonblocking(true).is_ok() {
                self.clients.push(client);
            }
        }
    }

    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        let mut frame = Vec::with_capacity(data.len() + 8);
        if !self.raw {
            frame.push(match stream {
                Stream::Stdout => 1,
                Stream::Stderr => 2,
            });
            frame.extend_from_slice(&[0, 0, 0]);
            frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        }
        frame.extend_from_slice(data);
        self.clients.retain_mut(|c| c.write_all(&frame).is_ok());
    }

    /// Input from client `index`; None when it has gone (it is dropped).
    pub fn read(&mut self, index: usize) -> Option<Vec<u8>> {
        let client = self.clients.get_mut(index)?;
        let mut buf = vec![0u8; 4096];
        match client.read(&mut buf) {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                Some(buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Some(Vec::new()),
            _ => {
                self.clients.remove(index);
                None
            }
        }
    }

    /// The container has exited: every client sees its stream end.
    pub fn close_clients(&mut self) {
        self.clients.clear();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
