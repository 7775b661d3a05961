//! A container on disk: `containers/<id>/config.json` (what was asked for, written
//! once at create) and `containers/<id>/state.json` (what is happening, rewritten
//! atomically on every change).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ContainerError;

pub const CONFIG_FILE: &str = "config.json";
pub const STATE_FILE: &str = "state.json";

/// Everything `create` decided; never changes afterwards (except by `rename`/`update`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds, as docker prints it.
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub config: RunConfig,
}

/// The process and its isolation, fully resolved against the image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RunConfig {
    /// argv: entrypoint + command.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    /// `uid[:gid]` or names, as given; resolved inside the rootfs at start.
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub labels: BTreeMap<String, String>,
    pub init: bool,
    pub network_mode: String,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: bool,
    pub read_only: bool,
    pub memory: Option<u64>,
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub auto_remove: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub restart_policy: String,
    /// json-file rotation (`--log-opt max-size=`, `max-file=`).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    #[serde(default)]
    pub log_max_files: Option<u32>,
    /// Run by the monitor; None when the container has no health check.
    #[serde(default)]
    pub healthcheck: Option<crate::runtime::monitor::health::HealthConfig>,
    /// Lowest layer first: the image's snapshot directories.
    pub layers: Vec<PathBuf>,
    /// `-p`: the ports to publish (`HostConfig.PortBindings`).
    #[serde(default)]
    pub ports: Vec<crate::runtime::network::ports::PortBinding>,
    /// `-P`: also publish every exposed port on a random host port.
    #[serde(default)]
    pub publish_all: bool,
    /// The image's, `--expose`'s and the published ports (`Config.ExposedPorts`).
    #[serde(default)]
    pub exposed_ports: Vec<crate::runtime::network::ports::ContainerPort>,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<crate::runtime::volume::MountSpec>,
    /// `--volumes-from` as given (the mounts it brought are in `mounts`).
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `--network-alias`: extra names on the container's network.
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// `--ip`: the IPv4 address asked for on the container's network.
    #[serde(default)]
    pub ip: Option<String>,
    /// `--add-host NAME:IP` entries for /etc/hosts.
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// `--dns`: nameservers replacing the host's in resolv.conf.
    #[serde(default)]
    pub dns: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerState {
    pub status: Status,
    pub pid: i32,
    /// The init's start time (/proc/PID/stat), so a reused pid is not mistaken
    /// for the container.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// Stopped by `stop`/`kill`: restart policies leave it stopped.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// The monitor supervising the container (alive while it waits to restart).
    #[serde(default)]
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start: Option<u64>,
    pub exit_code: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub oom_killed: bool,
    pub restart_count: u32,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::runtime::monitor::health::Health>,
    /// The host ports published while the container runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<crate::runtime::network::ports::PublishedPort>,
}

impl ContainerRecord {
    /// Records `action` in the event log.
    pub fn event(&self, root: &Path, action: &str, extra: &[(&str, String)]) {
        let event =
            crate::runtime::events::container(&self.id, &self.name, &self.image, action, extra);
        crate::runtime::events::record(root, &event);
    }
}

pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ContainerError> {
    let bytes = std::fs::read(path).map_err(|e| ContainerError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ContainerError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub fn read_record(dir: &Path) -> Result<ContainerRecord, ContainerError> {
    read_json(&dir.join(CONFIG_FILE))
}

pub fn read_state(dir: &Path) -> Result<ContainerState, ContainerError> {
    read_json(&dir.join(STATE_FILE))
}

/// Every container under `root`, with its state. A directory without a complete
/// config (a create that died half-way) is skipped here and cleaned up by `rm`/prune.
pub fn list(root: &Path) -> Result<Vec<(ContainerRecord, ContainerState)>, ContainerError> {
    let dir = root.join("containers");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ContainerError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ContainerError::io(&dir, e))?;
        // `.tmp-*` and `.rm-*` are containers being made or removed (leftovers.rs).
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let (Ok(record), Ok(state)) = (read_record(&path), read_state(&path)) else {
            continue;
        };
        out.push((record, state));
    }
    out.sort_by(|a, b| b.0.created.cmp(&a.0.created));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_root_lists_nothing() -> Result<(), ContainerError> {
        let dir = tempfile::tempdir().map_err(|e| ContainerError::io(Path::new("tmp"), e))?;
        assert!(list(&dir.path().join("nope"))?.is_empty());
        Ok(())
    }

    #[test]
    fn incomplete_containers_are_skipped() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let c = container_dir(dir.path(), "abc");
        std::fs::create_dir_all(&c)?;
        std::fs::write(
            c.join(CONFIG_FILE),
            serde_json::to_vec(&ContainerRecord::default())?,
        )?;
        assert!(list(dir.path())?.is_empty());
        std::fs::write(
            c.join(STATE_FILE),
            serde_json::to_vec(&ContainerState::default())?,
        )?;
        assert_eq!(list(dir.path())?.len(), 1);
        Ok(())
    }
}
