//! A container's mounts as `create` resolved them, kept in its record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Which flag asked for a mount: `inspect` shows each in its own place
/// (`HostConfig.Binds`, `HostConfig.Mounts`, `HostConfig.Tmpfs`, `Config.Volumes`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `--mount`
    #[default]
    Mount,
    /// `-v`
    Volume,
    /// `--tmpfs`
    Tmpfs,
    /// The image's `VOLUME`s.
    Image,
    /// `--volumes-from`
    VolumesFrom,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MountSpec {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Host path (bind), volume name (volume; empty until an anonymous one is
    /// created), nothing (tmpfs).
    #[serde(default)]
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub origin: Origin,
    /// A volume berth created for this container (no name was given).
    #[serde(default)]
    pub anonymous: bool,
    /// The `-v` spec or the `--tmpfs` options as given.
    #[serde(default)]
    pub raw: String,
    /// docker's `Mode` column: the `-v` options (`z` for a named volume).
    #[serde(default)]
    pub mode: String,
    /// Bind propagation (`rprivate` unless asked otherwise).
    #[serde(default)]
    pub propagation: String,
    /// No copy of the image's content into an empty volume.
    #[serde(default)]
    pub nocopy: bool,
    /// `-v` creates a missing host directory; `--mount` refuses it.
    #[serde(default)]
    pub create_host_path: bool,
    /// `bind-nonrecursive`: submounts of the source are not carried along.
    #[serde(default)]
    pub non_recursive: bool,
    /// tmpfs options (`size=`, `mode=`, `noexec`, ...).
    #[serde(default)]
    pub options: Vec<String>,
    /// `--mount volume-label=`: set when the volume is created here.
    #[serde(default)]
    pub volume_labels: BTreeMap<String, String>,
    /// `--mount volume-opt=`: driver options when the volume is created here.
    #[serde(default)]
    pub volume_options: BTreeMap<String, String>,
}

/// The normal form of a container path: absolute, no `.`, `..` or doubled
/// slashes (`..` stops at `/`), no trailing slash.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// How many directories deep a container path is; parents mount first.
pub fn depth(path: &str) -> usize {
    clean_path(path)
        .split('/')
        .filter(|p| !p.is_empty())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(clean_path("/a//b/./c/"), "/a/b/c");
        assert_eq!(clean_path("/a/../../b"), "/b");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(depth("/"), 0);
        assert_eq!(depth("/a/b/"), 2);
    }
}
