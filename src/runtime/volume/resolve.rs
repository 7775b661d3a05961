//! `create`'s side of mounts: the flags' mounts, the mounts of
//! `--volumes-from` containers and the image's `VOLUME`s become one list, with
//! every volume it names existing (created if need be) and every bind source
//! checked.

use std::collections::BTreeSet;
use std::path::Path;

use super::error::VolumeError;
use super::local::{VolumeRequest, Volumes};
use super::spec::{MountKind, MountSpec, Origin, clean_path};
use crate::runtime::container::{ContainerError, create, record};

/// The final mounts, and the anonymous volumes made for them (to remove
/// again if the container cannot be created after all).
#[derive(Debug, Default)]
pub struct Resolved {
    pub mounts: Vec<MountSpec>,
    pub created: Vec<String>,
}

/// docker's precedence: the flags' mounts win over `--volumes-from`, and an
/// image volume is only made where nothing else is mounted.
pub fn resolve(
    vols: &Volumes<'_>,
    requested: Vec<MountSpec>,
    volumes_from: &[String],
) -> Result<Resolved, VolumeError> {
    for m in &requested {
        check_target(&m.target)?;
    }
    let (image, user): (Vec<MountSpec>, Vec<MountSpec>) = requested
        .into_iter()
        .map(|mut m| {
            m.target = clean_path(&m.target);
            m
        })
        .partition(|m| m.origin == Origin::Image);
    let mut taken = BTreeSet::new();
    for m in &user {
        if !taken.insert(m.target.clone()) {
            return Err(VolumeError::Mount(format!(
                "Duplicate mount point: {}",
                m.target
            )));
        }
    }
    let mut mounts = Vec::new();
    for m in inherited(vols, volumes_from)? {
        if taken.insert(m.target.clone()) {
            mounts.push(m);
        }
    }
    mounts.extend(user);
    for m in image {
        if taken.insert(m.target.clone()) {
            mounts.push(m);
        }
    }
    let mut resolved = Resolved::default();
    for m in &mut mounts {
        if let Err(e) = prepare_source(vols, m, &mut resolved.created) {
            let _ = vols.remove_anonymous(&anonymous_specs(&resolved.created));
            return Err(e);
        }
    }
    resolved.mounts = mounts;
    Ok(resolved)
}

/// Specs naming `names`, for [`Volumes::remove_anonymous`].
pub fn anonymous_specs(names: &[String]) -> Vec<MountSpec> {
    names
        .iter()
        .map(|name| MountSpec {
            kind: MountKind::Volume,
            source: name.clone(),
            ..MountSpec::default()
        })
        .collect()
}

/// Mount destinations docker (runc) refuses.
pub fn check_target(target: &str) -> Result<(), VolumeError> {
    let clean = clean_path(target);
    if !target.starts_with('/') {
        return Err(VolumeError::Mount(format!(
            "invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    if clean == "/" {
        return Err(VolumeError::Mount(
            "invalid specification: destination can't be '/'".into(),
        ));
    }
    if clean == "/proc" || clean.starts_with("/proc/") {
        return Err(VolumeError::Mount(format!(
            "invalid mount destination {clean}: mounts over /proc are not allowed"
        )));
    }
    Ok(())
}

/// The mounts `--volumes-from NAME[:ro|rw]` takes over (tmpfs mounts are each
/// container's own and are not shared).
fn inherited(vols: &Volumes<'_>, volumes_from: &[String]) -> Result<Vec<MountSpec>, VolumeError> {
    let mut out = Vec::new();
    for entry in volumes_from {
        let (name, mode) = match entry.split_once(':') {
            Some((name, mode)) => (name, Some(mode)),
            None => (entry.as_str(), None),
        };
        let read_only = match mode {
            None => None,
            Some("ro") => Some(true),
            Some("rw") => Some(false),
            Some(other) => return Err(VolumeError::Mount(format!("invalid mode: {other}"))),
        };
        let store = vols.store();
        let id = create::resolve(store, name).map_err(|e| match e {
            ContainerError::NotFound { name } => VolumeError::NoSuchContainer { name },
            other => other.into(),
        })?;
        let source = record::read_record(&record::container_dir(store.root(), &id))?;
        for m in source.config.mounts {
            if m.kind == MountKind::Tmpfs {
                continue;
            }
            out.push(MountSpec {
                read_only: read_only.unwrap_or(m.read_only),
                origin: Origin::VolumesFrom,
                ..m
            });
        }
    }
    Ok(out)
}

/// Makes sure the mount's source exists: volumes are created (anonymous ones
/// get their name here), a `-v` bind's missing host directory is made.
fn prepare_source(
    vols: &Volumes<'_>,
    m: &mut MountSpec,
    created: &mut Vec<String>,
) -> Result<(), VolumeError> {
    match m.kind {
        MountKind::Tmpfs => Ok(()),
        MountKind::Bind => bind_source(m),
        MountKind::Volume if m.origin == Origin::VolumesFrom => {
            super::local::get(vols.store(), &m.source).map(|_| ())
        }
        MountKind::Volume => {
            let request = VolumeRequest {
                name: (!m.source.is_empty()).then(|| m.source.clone()),
                driver: String::new(),
                labels: m.volume_labels.clone(),
                options: m.volume_options.clone(),
            };
            let volume = vols.create(&request)?;
            if m.source.is_empty() {
                m.anonymous = true;
                m.source = volume.name.clone();
                created.push(volume.name);
            }
            Ok(())
        }
    }
}

fn bind_source(m: &MountSpec) -> Result<(), VolumeError> {
    let path = Path::new(&m.source);
    if !path.is_absolute() {
        return Err(VolumeError::Mount(format!(
            "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
            m.source
        )));
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && m.create_host_path => {
            std::fs::create_dir_all(path).map_err(|e| VolumeError::io(path, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(VolumeError::Mount(format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            m.source
        ))),
        Err(e) => Err(VolumeError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::Store;

    fn spec(kind: MountKind, source: &str, target: &str, origin: Origin) -> MountSpec {
        MountSpec {
            kind,
            source: source.into(),
            target: target.into(),
            origin,
            ..MountSpec::default()
        }
    }

    #[test]
    fn flags_win_and_image_volumes_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        let vols = Volumes::lock(&store).unwrap();
        let host = dir.path().join("host");
        let requested = vec![
            spec(MountKind::Volume, "data", "/data/", Origin::Volume),
            spec(MountKind::Volume, "", "/cache", Origin::Volume),
            spec(MountKind::Bind, host.to_str().unwrap(), "/h", Origin::Mount),
            spec(MountKind::Volume, "", "/data", Origin::Image),
            spec(MountKind::Volume, "", "/logs", Origin::Image),
        ];
        let err = resolve(&vols, requested.clone(), &[]).unwrap_err();
        assert!(
            err.to_string().contains("bind source path does not exist"),
            "{err}"
        );
        assert!(
            super::super::local::list(&store).unwrap().len() <= 1,
            "anonymous volumes are rolled back"
        );
        std::fs::create_dir(&host).unwrap();
        let resolved = resolve(&vols, requested, &[]).unwrap();
        let targets: Vec<&str> = resolved.mounts.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, ["/data", "/cache", "/h", "/logs"]);
        assert_eq!(resolved.created.len(), 2);
        assert!(resolved.mounts[1].anonymous);
        assert_eq!(resolved.mounts[0].source, "data");
    }

    #[test]
    fn duplicates_and_bad_targets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        let vols = Volumes::lock(&store).unwrap();
        let twice = vec![
            spec(MountKind::Tmpfs, "", "/t", Origin::Tmpfs),
            spec(MountKind::Volume, "", "/t/", Origin::Volume),
        ];
        let err = resolve(&vols, twice, &[]).unwrap_err();
        assert_eq!(err.to_string(), "Duplicate mount point: /t");
        for bad in ["/", "/proc/sys", "/x/../proc"] {
            let m = vec![spec(MountKind::Tmpfs, "", bad, Origin::Tmpfs)];
            assert!(resolve(&vols, m, &[]).is_err(), "{bad}");
        }
        let err = resolve(&vols, Vec::new(), &["nope".into()]).unwrap_err();
        assert_eq!(err.to_string(), "No such container: nope");
    }
}
