//! Volumes of the `local` driver: `volumes/<name>/_data` holds the data and
//! `volumes/<name>/volume.json` the metadata.
//!
//! A volume is built under a temp name and renamed into place, and renamed
//! away before it is deleted, so no half-made or half-deleted volume is ever
//! listed. Creating and removing take `locks/volumes.lock`; so does `create` of
//! a container with mounts until its record names them, so a prune can never
//! take a volume a container is about to use.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::VolumeError;
use super::spec::{MountKind, MountSpec};
use crate::runtime::container::record;
use crate::runtime::store::{LockGuard, Store, fsync_dir, unique_suffix, write_atomic};

pub const DATA_DIR: &str = "_data";
pub const DRIVER: &str = "local";
/// The label docker (23 and later) puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
const META_FILE: &str = "volume.json";
const LOCK: &str = "volumes";
/// Temp names of volumes being made or removed start with this.
const HIDDEN: char = '.';
/// The options the local driver understands: a filesystem to mount.
const LOCAL_OPTIONS: [&str; 3] = ["type", "device", "o"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// RFC 3339, seconds, as docker prints it.
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
}

impl Volume {
    pub fn mountpoint(&self, store: &Store) -> PathBuf {
        data_dir(store, &self.name)
    }

    /// The labels as docker shows them: anonymous volumes carry its marker.
    pub fn shown_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        if self.anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        labels
    }
}

/// What `volume create` (or a mount naming a missing volume) asks for.
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    /// None: an anonymous volume with a random 64-hex name.
    pub name: Option<String>,
    /// Empty means `local`.
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

pub fn data_dir(store: &Store, name: &str) -> PathBuf {
    store.volumes_dir().join(name).join(DATA_DIR)
}

/// docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so at least two characters.
pub fn validate_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(VolumeError::InvalidName { name: name.into() });
    }
    if name.len() < 2 {
        return Err(VolumeError::NameTooShort { name: name.into() });
    }
    Ok(())
}

fn meta_path(store: &Store, name: &str) -> PathBuf {
    store.volumes_dir().join(name).join(META_FILE)
}

/// The volume called `name`.
pub fn get(store: &Store, name: &str) -> Result<Volume, VolumeError> {
    let not_found = || VolumeError::NotFound { name: name.into() };
    validate_name(name).map_err(|_| not_found())?;
    let path = meta_path(store, name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(VolumeError::io(&path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| VolumeError::Corrupt {
        path,
        message: e.to_string(),
    })
}

/// Every volume, by name.
pub fn list(store: &Store) -> Result<Vec<Volume>, VolumeError> {
    let dir = store.volumes_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(VolumeError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| VolumeError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match get(store, &name) {
            Ok(v) => out.push(v),
            Err(VolumeError::NotFound { .. }) => {}
            Err(e) => tracing::warn!("skipping volume {name}: {e}"),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The containers (ids) that reference each volume, running or not. Read from
/// every record, even one whose state is missing (a create in progress).
pub fn users(store: &Store) -> Result<BTreeMap<String, Vec<String>>, VolumeError> {
    let dir = store.containers_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(VolumeError::io(&dir, e)),
    };
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in entries.flatten() {
        let Ok(rec) = record::read_record(&entry.path()) else {
            continue;
        };
        for m in volume_mounts(&rec.config.mounts) {
            let ids = out.entry(m.source.clone()).or_default();
            if !ids.contains(&rec.id) {
                ids.push(rec.id.clone());
            }
        }
    }
    Ok(out)
}

fn volume_mounts(mounts: &[MountSpec]) -> impl Iterator<Item = &MountSpec> {
    mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && !m.source.is_empty())
}

/// Bytes of the volume's data (regular files, each inode once).
pub fn size(store: &Store, volume: &Volume) -> u64 {
    crate::runtime::image::snapshot::disk_usage(&volume.mountpoint(store))
}

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub names: Vec<String>,
    pub reclaimed: u64,
}

/// The right to create and remove volumes, held until dropped.
pub struct Volumes<'a> {
    store: &'a Store,
    _lock: LockGuard,
}

impl<'a> Volumes<'a> {
    pub fn lock(store: &'a Store) -> Result<Volumes<'a>, VolumeError> {
        Ok(Volumes {
            store,
            _lock: store.lock(LOCK)?,
        })
    }

    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// Creates the volume; an existing one of that name is returned as it is
    /// (docker's `volume create` is idempotent).
    pub fn create(&self, req: &VolumeRequest) -> Result<Volume, VolumeError> {
        let name = match &req.name {
            Some(name) => name.clone(),
            None => crate::runtime::container::names::new_id()
                .map_err(|e| VolumeError::io("/dev/urandom", e))?,
        };
        validate_name(&name)?;
        let driver = if req.driver.is_empty() {
            DRIVER
        } else {
            &req.driver
        };
        if driver != DRIVER {
            return Err(VolumeError::UnknownDriver {
                name,
                driver: driver.into(),
            });
        }
        check_options(&name, &req.options)?;
        match get(self.store, &name) {
            Ok(existing) if existing.driver != driver => {
                return Err(VolumeError::DriverConflict { name });
            }
            Ok(existing) => return Ok(existing),
            Err(VolumeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let volume = Volume {
            name: name.clone(),
            driver: driver.into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: req.labels.clone(),
            options: req.options.clone(),
            anonymous: req.name.is_none(),
        };
        self.write_new(&volume)?;
        event(self.store.root(), &name, "create");
        Ok(volume)
    }

    /// Builds the volume under a temp name, then renames it into place.
    fn write_new(&self, volume: &Volume) -> Result<(), VolumeError> {
        let dir = self.store.volumes_dir();
        let tmp = dir.join(format!("{HIDDEN}tmp-{}", unique_suffix()));
        let result = build(&tmp, volume).and_then(|()| {
            let dest = dir.join(&volume.name);
            std::fs::rename(&tmp, &dest).map_err(|e| VolumeError::io(&dest, e))?;
            Ok(fsync_dir(&dir)?)
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// docker's `volume rm`: refused while any container references the
    /// volume; `force` only quiets a missing one.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let volume = match get(self.store, name) {
            Ok(v) => v,
            Err(VolumeError::NotFound { .. }) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        if let Some(ids) = users(self.store)?.remove(&volume.name) {
            return Err(VolumeError::InUse {
                name: volume.name,
                containers: ids,
            });
        }
        self.delete(&volume.name)
    }

    fn delete(&self, name: &str) -> Result<(), VolumeError> {
        let dir = self.store.volumes_dir();
        let from = dir.join(name);
        let doomed = dir.join(format!("{HIDDEN}rm-{name}-{}", unique_suffix()));
        std::fs::rename(&from, &doomed).map_err(|e| VolumeError::io(&from, e))?;
        fsync_dir(&dir)?;
        std::fs::remove_dir_all(&doomed).map_err(|e| VolumeError::io(&doomed, e))?;
        event(self.store.root(), name, "destroy");
        Ok(())
    }

    /// Removes the unused volumes: anonymous ones only unless `all`, and only
    /// those `wanted` accepts (the `--filter`s).
    pub fn prune(
        &self,
        all: bool,
        wanted: impl Fn(&Volume) -> bool,
    ) -> Result<Pruned, VolumeError> {
        self.sweep_leftovers();
        let used = users(self.store)?;
        let mut pruned = Pruned::default();
        for volume in list(self.store)? {
            if used.contains_key(&volume.name) || !(all || volume.anonymous) || !wanted(&volume) {
                continue;
            }
            let bytes = size(self.store, &volume);
            self.delete(&volume.name)?;
            pruned.reclaimed += bytes;
            pruned.names.push(volume.name);
        }
        Ok(pruned)
    }

    /// The anonymous volumes among `mounts` that no container uses any more
    /// (`rm -v`, `run --rm`); named volumes always stay.
    pub fn remove_anonymous(&self, mounts: &[MountSpec]) -> Result<Vec<String>, VolumeError> {
        let used = users(self.store)?;
        let mut removed = Vec::new();
        for m in volume_mounts(mounts) {
            if used.contains_key(&m.source) || removed.contains(&m.source) {
                continue;
            }
            match get(self.store, &m.source) {
                Ok(v) if v.anonymous => {
                    self.delete(&v.name)?;
                    removed.push(v.name);
                }
                Ok(_) | Err(VolumeError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Temp directories of creates and removals that were interrupted; no one
    /// else is making or removing a volume while we hold the lock.
    fn sweep_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.store.volumes_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(HIDDEN) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn build(tmp: &Path, volume: &Volume) -> Result<(), VolumeError> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.mode(0o700);
    dirs.create(tmp).map_err(|e| VolumeError::io(tmp, e))?;
    // The data directory is what containers see; docker makes it 0755.
    let data = tmp.join(DATA_DIR);
    dirs.mode(0o755);
    dirs.create(&data).map_err(|e| VolumeError::io(&data, e))?;
    let bytes = serde_json::to_vec_pretty(volume).map_err(|e| VolumeError::Corrupt {
        path: tmp.join(META_FILE),
        message: e.to_string(),
    })?;
    write_atomic(&tmp.join(META_FILE), &bytes)?;
    Ok(fsync_dir(tmp)?)
}

/// The local driver mounts a filesystem when given `type` and `device`
/// (with mount options in `o`); nothing else is accepted.
fn check_options(name: &str, options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    if let Some(key) = options
        .keys()
        .find(|k| !LOCAL_OPTIONS.contains(&k.as_str()))
    {
        return Err(VolumeError::InvalidOption {
            name: name.into(),
            option: key.clone(),
        });
    }
    if options.is_empty() {
        return Ok(());
    }
    for required in ["type", "device"] {
        if !options.contains_key(required) {
            return Err(VolumeError::MissingOption {
                name: name.into(),
                option: required.into(),
            });
        }
    }
    Ok(())
}

fn event(root: &Path, name: &str, action: &str) {
    use crate::runtime::events::{Actor, Event, record};
    let now = chrono::Utc::now();
    let event = Event {
        status: action.into(),
        id: name.into(),
        from: String::new(),
        kind: "volume".into(),
        action: action.into(),
        actor: Actor {
            id: name.into(),
            attributes: [("driver".to_string(), DRIVER.to_string())].into(),
        },
        scope: "local".into(),
        time: now.timestamp(),
        time_nano: now.timestamp_nanos_opt().unwrap_or(0),
    };
    record(root, &event);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        (dir, store)
    }

    fn named(name: &str) -> VolumeRequest {
        VolumeRequest {
            name: Some(name.into()),
            ..VolumeRequest::default()
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("a1_b.c-d").is_ok());
        assert!(matches!(
            validate_name("a"),
            Err(VolumeError::NameTooShort { .. })
        ));
        for bad in ["", "-x", ".x", "a/b", "../x", "a b", "_ab"] {
            assert!(
                matches!(validate_name(bad), Err(VolumeError::InvalidName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn create_is_idempotent_and_atomic() {
        let (_dir, store) = store();
        let vols = Volumes::lock(&store).unwrap();
        let mut req = named("data");
        req.labels.insert("k".into(), "v".into());
        let v = vols.create(&req).unwrap();
        assert!(v.mountpoint(&store).is_dir());
        assert_eq!(vols.create(&named("data")).unwrap(), v);
        let anon = vols.create(&VolumeRequest::default()).unwrap();
        assert_eq!(anon.name.len(), 64);
        assert!(anon.anonymous);
        assert_eq!(
            anon.shown_labels().get(ANONYMOUS_LABEL).map(String::as_str),
            Some("")
        );
        let names: Vec<String> = list(&store).unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        // Only the two volume directories, no temp leftovers.
        assert_eq!(std::fs::read_dir(store.volumes_dir()).unwrap().count(), 2);
    }

    #[test]
    fn options_and_drivers_are_checked() {
        let (_dir, store) = store();
        let vols = Volumes::lock(&store).unwrap();
        let mut req = named("x1");
        req.driver = "nfs".into();
        assert!(matches!(
            vols.create(&req),
            Err(VolumeError::UnknownDriver { .. })
        ));
        let mut req = named("x1");
        req.options.insert("bogus".into(), "1".into());
        assert!(matches!(
            vols.create(&req),
            Err(VolumeError::InvalidOption { .. })
        ));
        let mut req = named("x1");
        req.options.insert("type".into(), "tmpfs".into());
        assert!(matches!(
            vols.create(&req),
            Err(VolumeError::MissingOption { .. })
        ));
        req.options.insert("device".into(), "tmpfs".into());
        assert!(vols.create(&req).is_ok());
    }

    #[test]
    fn remove_and_prune() {
        let (_dir, store) = store();
        let vols = Volumes::lock(&store).unwrap();
        vols.create(&named("keep")).unwrap();
        let anon = vols.create(&VolumeRequest::default()).unwrap();
        std::fs::write(anon.mountpoint(&store).join("f"), b"12345").unwrap();
        assert!(matches!(
            vols.remove("nope", false),
            Err(VolumeError::NotFound { .. })
        ));
        assert!(vols.remove("nope", true).is_ok());
        let pruned = vols.prune(false, |_| true).unwrap();
        assert_eq!(pruned.names, vec![anon.name]);
        assert_eq!(pruned.reclaimed, 5);
        assert_eq!(vols.prune(false, |_| true).unwrap().names.len(), 0);
        assert_eq!(vols.prune(true, |_| true).unwrap().names, vec!["keep"]);
        assert!(list(&store).unwrap().is_empty());
    }

    #[test]
    fn concurrent_creates_make_one_volume_per_name() {
        let (_dir, store) = store();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let vols = Volumes::lock(&store).unwrap();
                    vols.create(&named("same")).unwrap();
                    vols.create(&VolumeRequest::default()).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all = list(&store).unwrap();
        assert_eq!(all.len(), 9);
        assert_eq!(all.iter().filter(|v| v.name == "same").count(), 1);
    }

    #[test]
    fn interrupted_creates_and_removals_are_never_listed() {
        let (_dir, store) = store();
        let vols = Volumes::lock(&store).unwrap();
        let half = Volume {
            name: "half".into(),
            ..Volume::default()
        };
        for leftover in [".tmp-1-2-3", ".rm-old-1-2-3"] {
            build(&store.volumes_dir().join(leftover), &half).unwrap();
        }
        assert!(list(&store).unwrap().is_empty());
        assert!(matches!(
            get(&store, ".tmp-1-2-3"),
            Err(VolumeError::NotFound { .. })
        ));
        assert!(vols.prune(true, |_| true).unwrap().names.is_empty());
        assert_eq!(std::fs::read_dir(store.volumes_dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_referenced_volume_is_in_use() {
        let (_dir, store) = store();
        let vols = Volumes::lock(&store).unwrap();
        vols.create(&named("data")).unwrap();
        let dir = record::container_dir(store.root(), "c1");
        std::fs::create_dir_all(&dir).unwrap();
        let mut rec = record::ContainerRecord {
            id: "c1".into(),
            ..Default::default()
        };
        rec.config.mounts.push(MountSpec {
            kind: MountKind::Volume,
            source: "data".into(),
            target: "/d".into(),
            ..MountSpec::default()
        });
        std::fs::write(
            dir.join(record::CONFIG_FILE),
            serde_json::to_vec(&rec).unwrap(),
        )
        .unwrap();
        let err = vols.remove("data", true).unwrap_err();
        assert_eq!(err.to_string(), "remove data: volume is in use - [c1]");
        assert!(vols.prune(true, |_| true).unwrap().names.is_empty());
        assert!(
            vols.remove_anonymous(&rec.config.mounts)
                .unwrap()
                .is_empty()
        );
        std::fs::remove_dir_all(&dir).unwrap();
        vols.remove("data", false).unwrap();
    }
}
