//! The event log: one JSON object per line in `<root>/events.log`, in docker's
//! event format, appended by whichever berth process made the change (the
//! monitor for start/die/oom/health, the verbs for the rest). Small O_APPEND
//! writes keep concurrent writers from interleaving. Bounded: past 1 MiB the log
//! moves to `events.log.1`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FILE: &str = "events.log";
const MAX_SIZE: u64 = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub status: String,
    pub id: String,
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

pub fn log_path(root: &Path) -> PathBuf {
    root.join(FILE)
}

/// A container event; `extra` adds attributes such as `exitCode`.
pub fn container(
    id: &str,
    name: &str,
    image: &str,
    action: &str,
    extra: &[(&str, String)],
) -> Event {
    let now = chrono::Utc::now();
    let mut attributes: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    attributes.insert("name".into(), name.into());
    attributes.insert("image".into(), image.into());
    Event {
        status: action.into(),
        id: id.into(),
        from: image.into(),
        kind: "container".into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes,
        },
        scope: "local".into(),
        time: now.timestamp(),
        time_nano: now.timestamp_nanos_opt().unwrap_or(0),
    }
}

/// Appends an event. Losing one (a full disk) must not fail the operation that
/// caused it, so errors are only logged.
pub fn record(root: &Path, event: &Event) {
    if let Err(e) = append(root, event) {
        tracing::warn!("cannot record the {} event: {e}", event.action);
    }
}

fn append(root: &Path, event: &Event) -> std::io::Result<()> {
    let path = log_path(root);
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > MAX_SIZE {
        let _ = std::fs::rename(&path, root.join(format!("{FILE}.1")));
    }
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    file.write_all(&line)
}

/// Every recorded event, oldest first.
pub fn read_all(root: &Path) -> Vec<Event> {
    [root.join(format!("{FILE}.1")), log_path(root)]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<Event>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        record(
            dir.path(),
            &container("abc", "web", "busybox", "start", &[]),
        );
        record(
            dir.path(),
            &container("abc", "web", "busybox", "die", &[("exitCode", "3".into())]),
        );
        let all = read_all(dir.path());
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].action, "die");
        assert_eq!(
            all[1].actor.attributes.get("exitCode").map(String::as_str),
            Some("3")
        );
        assert_eq!(
            all[0].actor.attributes.get("name").map(String::as_str),
            Some("web")
        );
        Ok(())
    }
}
