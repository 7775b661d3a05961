//! A real `docker-registry` on a free loopback port (optionally behind
//! htpasswd), and a TCP proxy in front of it that can stall or cut
//! connections, for interop and fault tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::net::free_port;

pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn which(tool: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{tool} is not installed; .ci/run installs it (apt-get install docker-registry apache2-utils skopeo)"
    );
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// With `auth`, the registry requires these credentials (htpasswd, bcrypt).
    pub fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = auth {
            let out = Command::new(which("htpasswd"))
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let child = Command::new(which("docker-registry"))
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start on port {}", self.port);
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does to a connection once it has sent `limit` bytes back.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Stop forwarding (hold the connection open) after `limit` bytes.
    Stall { limit: u64 },
    /// Close the first `times` connections that reach `limit` bytes.
    Cut { limit: u64, times: usize },
}

pub struct Proxy {
    pub port: u16,
    /// Bytes sent from the registry to clients, over all connections.
    pub delivered: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let delivered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(match fault {
            Fault::Cut { times, .. } => times,
            _ => 0,
        }));
        let (d, s) = (delivered.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (d, cuts) = (d.clone(), cuts.clone());
                std::thread::spawn(move || relay(client, server, fault, d, cuts));
            }
        });
        Proxy {
            port,
            delivered,
            stop,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    fault: Fault,
    delivered: Arc<AtomicU64>,
    cuts: Arc<AtomicUsize>,
) {
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut server, mut client) = (server, client);
    let mut sent = 0u64;
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n as u64;
        match fault {
            Fault::Stall { limit } if sent + n > limit => {
                n = limit.saturating_sub(sent);
                let _ = client.write_all(&buf[..n as usize]);
                delivered.fetch_add(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(600));
                return;
            }
            Fault::Cut { limit, .. } if sent + n > limit && take_cut(&cuts) => {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            _ => {}
        }
        if client.write_all(&buf[..n as usize]).is_err() {
            break;
        }
        sent += n;
        delivered.fetch_add(n, Ordering::Relaxed);
    }
    let _ = client.shutdown(Shutdown::Write);
}

fn take_cut(cuts: &AtomicUsize) -> bool {
    cuts.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1))
        .is_ok()
}
