//! Volumes and a container's mounts.
//!
//! - `local.rs`: named and anonymous volumes of the `local` driver under
//!   `volumes/<name>/`, created and removed under `locks/volumes.lock`.
//! - `spec.rs`: [`MountSpec`], a mount as a container's record keeps it.
//! - `resolve.rs`: at `create`, the flags' mounts, `--volumes-from` and the
//!   image's `VOLUME`s become the record's list, volumes created as needed.
//! - `start.rs`: at each start, the list becomes the init's mount plans;
//!   `copyup.rs` fills an empty volume from the image on the first start.

mod copyup;
mod error;
pub mod local;
pub mod resolve;
pub mod spec;
pub mod start;

pub use error::VolumeError;
pub use local::{Volume, VolumeRequest, Volumes};
pub use spec::{MountKind, MountSpec, Origin};

use crate::runtime::container::record::ContainerRecord;
use crate::runtime::store::Store;

/// After a container is removed (`rm -v`, `run --rm`): its anonymous volumes
/// that no other container uses go too.
pub fn remove_anonymous_of(
    store: &Store,
    rec: &ContainerRecord,
) -> Result<Vec<String>, VolumeError> {
    if !rec
        .config
        .mounts
        .iter()
        .any(|m| m.kind == MountKind::Volume)
    {
        return Ok(Vec::new());
    }
    Volumes::lock(store)?.remove_anonymous(&rec.config.mounts)
}
