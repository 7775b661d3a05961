//! The start side of mounts: each recorded mount becomes a [`MountPlan`] for
//! the init, and on a container's first start an empty volume first gets the
//! image's content at its path (docker's copy-up).

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::copyup;
use super::error::VolumeError;
use super::local::{self, Volume};
use super::spec::{MountKind, MountSpec, depth};
use crate::runtime::container::mounts::{MountPlan, flag_word, propagation_flags};
use crate::runtime::container::record::{self, ContainerRecord};
use crate::runtime::store::Store;

/// docker's defaults for every tmpfs mount.
const TMPFS_DEFAULTS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// What the plans are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A start; `first` is the container's first one (copy-up happens then).
    Start { first: bool },
    /// `cp` into a stopped container: its binds and volumes, no tmpfs.
    Copy,
}

/// The container's mounts in mounting order (parents first).
pub fn plans(
    store: &Store,
    rec: &ContainerRecord,
    purpose: Purpose,
) -> Result<Vec<MountPlan>, VolumeError> {
    let mut specs: Vec<&MountSpec> = rec.config.mounts.iter().collect();
    specs.sort_by_key(|m| depth(&m.target));
    let mut out = Vec::new();
    for m in specs {
        let plan = match m.kind {
            MountKind::Tmpfs if purpose == Purpose::Copy => continue,
            MountKind::Tmpfs => tmpfs_plan(m),
            MountKind::Bind => bind_plan(m)?,
            MountKind::Volume => {
                let volume = local::get(store, &m.source)?;
                if purpose == (Purpose::Start { first: true }) && !m.nocopy {
                    copy_up(store, rec, &volume, &m.target)?;
                }
                volume_plan(store, m, &volume)?
            }
        };
        out.push(plan);
    }
    Ok(out)
}

fn tmpfs_plan(m: &MountSpec) -> MountPlan {
    let (flags, data) = fs_options(TMPFS_DEFAULTS, &m.options);
    MountPlan {
        target: m.target.clone(),
        source: "tmpfs".into(),
        fstype: Some("tmpfs".into()),
        read_only: m.read_only || flags.contains(MsFlags::MS_RDONLY),
        flags: flags - MsFlags::MS_RDONLY,
        data,
        propagation: MsFlags::empty(),
        file: false,
    }
}

/// Flags and filesystem data from a list of mount options.
fn fs_options(mut flags: MsFlags, options: &[String]) -> (MsFlags, Option<String>) {
    let mut data = Vec::new();
    for option in options {
        match flag_word(option) {
            Some((flag, true)) => flags |= flag,
            Some((flag, false)) => flags -= flag,
            None => data.push(option.as_str()),
        }
    }
    let data = (!data.is_empty()).then(|| data.join(","));
    (flags, data)
}

fn bind_plan(m: &MountSpec) -> Result<MountPlan, VolumeError> {
    let path = Path::new(&m.source);
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        // A `-v` host directory removed since create is made again, as docker does.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && m.create_host_path => {
            std::fs::create_dir_all(path).map_err(|e| VolumeError::io(path, e))?;
            std::fs::metadata(path).map_err(|e| VolumeError::io(path, e))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VolumeError::Mount(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
        Err(e) => return Err(VolumeError::io(path, e)),
    };
    Ok(MountPlan {
        target: m.target.clone(),
        source: m.source.clone(),
        fstype: None,
        flags: if m.non_recursive {
            MsFlags::empty()
        } else {
            MsFlags::MS_REC
        },
        data: None,
        read_only: m.read_only,
        propagation: propagation_flags(&m.propagation).unwrap_or(MsFlags::empty()),
        file: !meta.is_dir(),
    })
}

/// A plain volume is its data directory bound in; one with driver options
/// (`type`, `device`, `o`) mounts that filesystem instead.
fn volume_plan(store: &Store, m: &MountSpec, v: &Volume) -> Result<MountPlan, VolumeError> {
    let base = MountPlan {
        target: m.target.clone(),
        source: v.mountpoint(store).display().to_string(),
        fstype: None,
        flags: MsFlags::MS_REC,
        data: None,
        read_only: m.read_only,
        propagation: MsFlags::empty(),
        file: false,
    };
    let (Some(fstype), Some(device)) = (v.options.get("type"), v.options.get("device")) else {
        return Ok(base);
    };
    let options: Vec<String> = v
        .options
        .get("o")
        .map(|o| o.split(',').map(String::from).collect())
        .unwrap_or_default();
    if options.iter().any(|o| o == "bind" || o == "rbind") {
        let rec = options.iter().any(|o| o == "rbind");
        let rest: Vec<String> = options
            .into_iter()
            .filter(|o| o != "bind" && o != "rbind")
            .collect();
        let (flags, _) = fs_options(MsFlags::empty(), &rest);
        return Ok(MountPlan {
            source: device.clone(),
            flags: if rec {
                MsFlags::MS_REC
            } else {
                MsFlags::empty()
            },
            read_only: m.read_only || flags.contains(MsFlags::MS_RDONLY),
            file: !Path::new(device).is_dir(),
            ..base
        });
    }
    let (flags, data) = fs_options(MsFlags::empty(), &options);
    Ok(MountPlan {
        source: device.clone(),
        fstype: Some(fstype.clone()),
        flags: flags - MsFlags::MS_RDONLY,
        data,
        read_only: m.read_only || flags.contains(MsFlags::MS_RDONLY),
        ..base
    })
}

/// Copies the image's content at `target` into the volume if the volume is
/// still empty. Volumes backed by another filesystem are not touched.
fn copy_up(
    store: &Store,
    rec: &ContainerRecord,
    volume: &Volume,
    target: &str,
) -> Result<(), VolumeError> {
    if !volume.options.is_empty() {
        return Ok(());
    }
    // Two containers starting on one new volume must not both copy.
    let _lock = store.lock(&format!("volume-{}", volume.name))?;
    let data = volume.mountpoint(store);
    let scratch: PathBuf = record::container_dir(store.root(), &rec.id).join("rootfs");
    copyup::copy_image_path(&rec.config.layers, &scratch, target, &data).map_err(|message| {
        VolumeError::CopyUp {
            name: volume.name.clone(),
            path: target.into(),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_become_flags_and_data() {
        let m = MountSpec {
            kind: MountKind::Tmpfs,
            target: "/run".into(),
            options: vec!["size=64m".into(), "exec".into(), "mode=1777".into()],
            ..MountSpec::default()
        };
        let plan = tmpfs_plan(&m);
        assert_eq!(plan.flags, MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert_eq!(plan.data.as_deref(), Some("size=64m,mode=1777"));
        assert!(!plan.read_only);
        let ro = MountSpec {
            options: vec!["ro".into()],
            ..m
        };
        let plan = tmpfs_plan(&ro);
        assert!(plan.read_only);
        assert!(!plan.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(plan.data, None);
    }

    #[test]
    fn binds_need_their_source_unless_made_by_v() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("a/b");
        let mut m = MountSpec {
            kind: MountKind::Bind,
            source: missing.display().to_string(),
            target: "/x".into(),
            propagation: "rslave".into(),
            ..MountSpec::default()
        };
        assert!(bind_plan(&m).is_err());
        m.create_host_path = true;
        let plan = bind_plan(&m).unwrap();
        assert!(missing.is_dir());
        assert_eq!(plan.flags, MsFlags::MS_REC);
        assert_eq!(plan.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        m.source = dir.path().join("f").display().to_string();
        m.non_recursive = true;
        let plan = bind_plan(&m).unwrap();
        assert!(plan.file);
        assert_eq!(plan.flags, MsFlags::empty());
    }
}
