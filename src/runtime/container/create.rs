//! Creating, finding and removing container records.
//!
//! Names are claimed with an O_EXCL file under `containers/names/`, so two
//! concurrent creates can never get the same name, without a global lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ContainerError;
use super::names::{generate_name, new_id, valid_name};
use super::record::{self, CONFIG_FILE, ContainerRecord, ContainerState, RunConfig, STATE_FILE};
use super::staging;
use crate::runtime::store::{Store, write_atomic};

const NAMES_DIR: &str = "names";
/// Tries for a free generated name before giving up.
const NAME_ATTEMPTS: u32 = 100;

pub struct CreateRequest {
    pub name: Option<String>,
    pub image: String,
    pub image_id: String,
    pub config: RunConfig,
}

fn names_dir(store: &Store) -> PathBuf {
    store.containers_dir().join(NAMES_DIR)
}

/// Creates the container's directory and records; on any failure nothing is left.
pub fn create(store: &Store, req: CreateRequest) -> Result<ContainerRecord, ContainerError> {
    let id = new_id().map_err(|e| ContainerError::io(Path::new("/dev/urandom"), e))?;
    staging::sweep_dead(store);
    // Before the claim: a claim with neither a directory nor a live staging
    // one is then known to be left over (see `staging`).
    let staged = staging::staging_dir(store, &id);
    std::fs::create_dir(&staged).map_err(|e| ContainerError::io(&staged, e))?;
    let name = match claim_name(store, &id, req.name.as_deref()) {
        Ok(name) => name,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
    };
    let record = ContainerRecord {
        id: id.clone(),
        name: name.clone(),
        created: now_rfc3339(),
        image: req.image,
        image_id: req.image_id,
        config: req.config,
    };
    let dir = record::container_dir(store.root(), &id);
    match write_dirs(&staged, &record).and_then(|()| staging::publish(&staged, &dir)) {
        Ok(()) => {
            record.event(store.root(), "create", &[]);
            Ok(record)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            release_name(store, &name);
            Err(e)
        }
    }
}

fn write_dirs(dir: &Path, record: &ContainerRecord) -> Result<(), ContainerError> {
    for sub in ["upper", "work", "rootfs"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| ContainerError::io(&path, e))?;
    }
    let config = serde_json::to_vec_pretty(record).map_err(|e| ContainerError::Corrupt {
        path: dir.join(CONFIG_FILE),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join(CONFIG_FILE), &config).map_err(store_err)?;
    write_state(dir, &ContainerState::default())
}

pub fn store_err(e: crate::runtime::store::StoreError) -> ContainerError {
    ContainerError::Store(e.to_string())
}

/// State changes are renamed into place (atomic against a crash of berth) but not
/// fsynced: after a power loss no container is running anyway, and the next
/// command reconciles the state with reality.
pub fn write_state(dir: &Path, state: &ContainerState) -> Result<(), ContainerError> {
    let path = dir.join(STATE_FILE);
    let bytes = serde_json::to_vec(state).map_err(|e| ContainerError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let tmp = dir.join(format!(
        ".{STATE_FILE}.tmp-{}",
        crate::runtime::store::unique_suffix()
    ));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ContainerError::io(&path, e)
        })
}

fn claim_name(store: &Store, id: &str, wanted: Option<&str>) -> Result<String, ContainerError> {
    let dir = names_dir(store);
    std::fs::create_dir_all(&dir).map_err(|e| ContainerError::io(&dir, e))?;
    if let Some(name) = wanted {
        let name = name.trim_start_matches('/');
        if !valid_name(name) {
            return Err(ContainerError::InvalidName {
                name: name.to_string(),
            });
        }
        return match try_claim(&dir, name, id) {
            Ok(true) => Ok(name.to_string()),
            Ok(false) if take_over_stale(store, &dir, name, id)? => Ok(name.to_string()),
            Ok(false) => Err(ContainerError::NameInUse {
                name: name.to_string(),
                id: read_name(store, name).unwrap_or_default(),
            }),
            Err(e) => Err(e),
        };
    }
    for attempt in 0..NAME_ATTEMPTS {
        let name = generate_name(id, attempt);
        if try_claim(&dir, &name, id)? {
            return Ok(name);
        }
    }
    Err(ContainerError::NameInUse {
        name: generate_name(id, 0),
        id: String::new(),
    })
}

/// Claims `name` when its current claim is left over by a create, rm or
/// rename that died; under the `names` lock, so two takers cannot both win.
fn take_over_stale(
    store: &Store,
    dir: &Path,
    name: &str,
    id: &str,
) -> Result<bool, ContainerError> {
    let _lock = store.lock("names").map_err(store_err)?;
    if let Some(owner) = read_name(store, name) {
        if !staging::claim_is_stale(store, name, owner.trim()) {
            return Ok(false);
        }
        release_name(store, name);
    }
    try_claim(dir, name, id)
}

fn try_claim(dir: &Path, name: &str, id: &str) -> Result<bool, ContainerError> {
    let path = dir.join(name);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => {
            f.write_all(id.as_bytes())
                .map_err(|e| ContainerError::io(&path, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(ContainerError::io(&path, e)),
    }
}

fn read_name(store: &Store, name: &str) -> Option<String> {
    std::fs::read_to_string(names_dir(store).join(name)).ok()
}

fn release_name(store: &Store, name: &str) {
    let _ = std::fs::remove_file(names_dir(store).join(name));
}

/// Finds a container by name, full id or unique id prefix, as docker does.
pub fn resolve(store: &Store, wanted: &str) -> Result<String, ContainerError> {
    let wanted = wanted.trim_start_matches('/');
    if let Some(id) = read_name(store, wanted)
        && record::container_dir(store.root(), &id).is_dir()
    {
        return Ok(id);
    }
    let dir = store.containers_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(_) => {
            return Err(ContainerError::NotFound {
                name: wanted.to_string(),
            });
        }
    };
    let is_hex = !wanted.is_empty() && wanted.chars().all(|c| c.is_ascii_hexdigit());
    let mut found: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        if is_hex && id.len() == 64 && id.starts_with(wanted) {
            found.push(id);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ContainerError::NotFound {
            name: wanted.to_string(),
        }),
        _ => Err(ContainerError::Ambiguous {
            prefix: wanted.to_string(),
        }),
    }
}

/// docker rename: claims the new name first, so a clash changes nothing.
pub fn rename(
    store: &Store,
    record: &ContainerRecord,
    new_name: &str,
) -> Result<(), ContainerError> {
    let new_name = new_name.trim_start_matches('/');
    if !valid_name(new_name) {
        return Err(ContainerError::InvalidName {
            name: new_name.to_string(),
        });
    }
    if !try_claim(&names_dir(store), new_name, &record.id)? {
        return Err(ContainerError::NameInUse {
            name: new_name.to_string(),
            id: read_name(store, new_name).unwrap_or_default(),
        });
    }
    let dir = record::container_dir(store.root(), &record.id);
    let mut updated = record::read_record(&dir)?;
    updated.name = new_name.to_string();
    let bytes =
        serde_json::to_vec_pretty(&updated).map_err(|e| ContainerError::Store(e.to_string()))?;
    if let Err(e) = write_atomic(&dir.join(CONFIG_FILE), &bytes) {
        release_name(store, new_name);
        return Err(store_err(e));
    }
    release_name(store, &record.name);
    updated.event(
        store.root(),
        "rename",
        &[("oldName", format!("/{}", record.name))],
    );
    Ok(())
}

/// Removes the container's directory and releases its name. The caller makes sure
/// it is not running.
pub fn remove(store: &Store, record: &ContainerRecord) -> Result<(), ContainerError> {
    let dir = record::container_dir(store.root(), &record.id);
    staging::sweep_dead(store);
    // One rename takes the container away whole; a crash during the tree
    // removal leaves a tombstone the next create or rm sweeps.
    let tomb = staging::tombstone(store, &record.id);
    std::fs::rename(&dir, &tomb).map_err(|e| ContainerError::io(&dir, e))?;
    if read_name(store, &record.name).as_deref() == Some(record.id.as_str()) {
        release_name(store, &record.name);
    }
    std::fs::remove_dir_all(&tomb).map_err(|e| ContainerError::io(&tomb, e))?;
    record.event(store.root(), "destroy", &[]);
    Ok(())
}

/// RFC 3339 with nanoseconds in UTC, as docker prints times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Result<(tempfile::TempDir, Store), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path().join("root"))?;
        Ok((dir, store))
    }

    fn request(name: Option<&str>) -> CreateRequest {
        CreateRequest {
            name: name.map(String::from),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            config: RunConfig::default(),
        }
    }

    #[test]
    fn names_are_unique_and_resolvable() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, store) = store()?;
        let a = create(&store, request(Some("web")))?;
        assert!(matches!(
            create(&store, request(Some("web"))),
            Err(ContainerError::NameInUse { .. })
        ));
        let b = create(&store, request(None))?;
        assert_ne!(a.name, b.name);
        assert_eq!(resolve(&store, "web")?, a.id);
        assert_eq!(resolve(&store, &a.id[..12])?, a.id);
        assert_eq!(resolve(&store, &b.name)?, b.id);
        assert!(matches!(
            resolve(&store, "nope"),
            Err(ContainerError::NotFound { .. })
        ));
        remove(&store, &a)?;
        assert!(resolve(&store, "web").is_err());
        create(&store, request(Some("web")))?;
        Ok(())
    }

    #[test]
    fn bad_names_are_refused_and_leave_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, store) = store()?;
        assert!(matches!(
            create(&store, request(Some("-bad"))),
            Err(ContainerError::InvalidName { .. })
        ));
        let entries: Vec<_> = std::fs::read_dir(store.containers_dir())?
            .flatten()
            .filter(|e| e.file_name() != NAMES_DIR)
            .collect();
        assert!(entries.is_empty());
        Ok(())
    }
}
