//! Creating, finding and removing container records.
//!
//! Names are claimed with an O_EXCL file under `containers/names/`, so two
//! concurrent creates can never get the same name, without a global lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ContainerError;
use super::leftovers::{self, lock_dir, lock_name};
use super::names::{generate_name, new_id, valid_name};
use super::record::{self, CONFIG_FILE, ContainerRecord, ContainerState, RunConfig, STATE_FILE};
use crate::runtime::store::{Store, TransientLock, write_atomic};

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
/// The directory is built in `tmp/` and renamed into place, so a crash leaves
/// no half-made container, only a dead writer's temp that gc reclaims.
pub fn create(store: &Store, req: CreateRequest) -> Result<ContainerRecord, ContainerError> {
    let id = new_id().map_err(|e| ContainerError::io(Path::new("/dev/urandom"), e))?;
    leftovers::sweep(store);
    let (name, _claim) = claim_name(store, &id, req.name.as_deref())?;
    let record = ContainerRecord {
        id: id.clone(),
        name: name.clone(),
        created: now_rfc3339(),
        image: req.image,
        image_id: req.image_id,
        config: req.config,
    };
    let tmp = leftovers::tmp_dir(store);
    let dir = record::container_dir(store.root(), &id);
    let built = std::fs::create_dir(&tmp)
        .map_err(|e| ContainerError::io(&tmp, e))
        .and_then(|()| write_dirs(&tmp, &record))
        .and_then(|()| std::fs::rename(&tmp, &dir).map_err(|e| ContainerError::io(&dir, e)));
    match built {
        Ok(()) => {
            record.event(store.root(), "create", &[]);
            Ok(record)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            let _ = std::fs::remove_file(names_dir(store).join(&name));
            Err(e)
        }
    }
}

/// The state is written before the record: a directory with a record is whole.
fn write_dirs(dir: &Path, record: &ContainerRecord) -> Result<(), ContainerError> {
    for sub in ["upper", "work", "rootfs"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| ContainerError::io(&path, e))?;
    }
    let config = serde_json::to_vec_pretty(record).map_err(|e| ContainerError::Corrupt {
        path: dir.join(CONFIG_FILE),
        message: e.to_string(),
    })?;
    write_state(dir, &ContainerState::default())?;
    write_atomic(&dir.join(CONFIG_FILE), &config).map_err(store_err)
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

/// A claimed name and its lock, held until the record naming it is in place.
type Claim = (String, TransientLock);

fn claim_name(store: &Store, id: &str, wanted: Option<&str>) -> Result<Claim, ContainerError> {
    let dir = names_dir(store);
    std::fs::create_dir_all(&dir).map_err(|e| ContainerError::io(&dir, e))?;
    if let Some(name) = wanted {
        let name = name.trim_start_matches('/');
        if !valid_name(name) {
            return Err(ContainerError::InvalidName {
                name: name.to_string(),
            });
        }
        return match claim(store, name, id)? {
            Some(lock) => Ok((name.to_string(), lock)),
            None => Err(ContainerError::NameInUse {
                name: name.to_string(),
                id: read_name(store, name).unwrap_or_default(),
            }),
        };
    }
    for attempt in 0..NAME_ATTEMPTS {
        let name = generate_name(id, attempt);
        if let Some(lock) = claim(store, &name, id)? {
            return Ok((name, lock));
        }
    }
    Err(ContainerError::NameInUse {
        name: generate_name(id, 0),
        id: String::new(),
    })
}

/// Claims `name` for `id` under the name's lock, taking over a stale claim (one
/// a crashed create, remove or rename left). None: the name is in use.
fn claim(store: &Store, name: &str, id: &str) -> Result<Option<TransientLock>, ContainerError> {
    let lock = lock_name(store, name)?;
    let dir = names_dir(store);
    if try_claim(&dir, name, id)? {
        return Ok(Some(lock));
    }
    match read_name(store, name) {
        Some(owner) if leftovers::claim_is_live(store, name, &owner) => return Ok(None),
        _ => {
            let path = dir.join(name);
            std::fs::remove_file(&path).map_err(|e| ContainerError::io(&path, e))?;
        }
    }
    Ok(try_claim(&dir, name, id)?.then_some(lock))
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

/// Every claimed name.
pub fn claimed_names(store: &Store) -> Vec<String> {
    std::fs::read_dir(names_dir(store))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Drops `name`'s claim when no record of that name backs it (a rename or
/// remove killed half-way left it); true when it went.
pub fn drop_stale_claim(store: &Store, name: &str) -> bool {
    let Ok(_lock) = lock_name(store, name) else {
        return false;
    };
    match read_name(store, name) {
        Some(owner) if !leftovers::claim_is_live(store, name, &owner) => {
            std::fs::remove_file(names_dir(store).join(name)).is_ok()
        }
        _ => false,
    }
}

/// Drops `name`'s claim if it is still `id`'s.
fn release_name(store: &Store, name: &str, id: &str) {
    let Ok(_lock) = lock_name(store, name) else {
        return;
    };
    if read_name(store, name).as_deref() == Some(id) {
        let _ = std::fs::remove_file(names_dir(store).join(name));
    }
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
    let Some(claimed) = claim(store, new_name, &record.id)? else {
        return Err(ContainerError::NameInUse {
            name: new_name.to_string(),
            id: read_name(store, new_name).unwrap_or_default(),
        });
    };
    let dir = record::container_dir(store.root(), &record.id);
    let mut updated = record::read_record(&dir)?;
    updated.name = new_name.to_string();
    let bytes =
        serde_json::to_vec_pretty(&updated).map_err(|e| ContainerError::Store(e.to_string()))?;
    if let Err(e) = write_atomic(&dir.join(CONFIG_FILE), &bytes) {
        let _ = std::fs::remove_file(names_dir(store).join(new_name));
        return Err(store_err(e));
    }
    drop(claimed);
    release_name(store, &record.name, &record.id);
    updated.event(
        store.root(),
        "rename",
        &[("oldName", format!("/{}", record.name))],
    );
    Ok(())
}

/// Removes the container's directory and releases its name. The caller makes sure
/// it is not running. The directory is first renamed out of the listing, so a
/// crash half-way through the deletion leaves no half-removed container.
pub fn remove(store: &Store, record: &ContainerRecord) -> Result<(), ContainerError> {
    let dir = record::container_dir(store.root(), &record.id);
    let gone = leftovers::rm_dir(store, &record.id);
    let removing = lock_dir(&dir)?;
    std::fs::rename(&dir, &gone).map_err(|e| ContainerError::io(&dir, e))?;
    std::fs::remove_dir_all(&gone).map_err(|e| ContainerError::io(&gone, e))?;
    drop(removing);
    release_name(store, &record.name, &record.id);
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

    #[test]
    fn a_claim_without_its_record_is_dropped() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, store) = store()?;
        std::fs::create_dir_all(names_dir(&store))?;
        std::fs::write(
            names_dir(&store).join("0123456789ab_p-web-1"),
            "0123456789abcdef",
        )?;
        assert_eq!(
            claimed_names(&store),
            vec!["0123456789ab_p-web-1".to_string()]
        );
        assert!(drop_stale_claim(&store, "0123456789ab_p-web-1"));
        assert!(claimed_names(&store).is_empty());
        assert!(!drop_stale_claim(&store, "0123456789ab_p-web-1"));
        Ok(())
    }

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
