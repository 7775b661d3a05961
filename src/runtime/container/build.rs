//! The flag-independent half of `create`: combining an image's defaults with
//! what the caller asked for, and turning a finished [`RunConfig`] into a
//! container record with its volumes and network checked. `berth run`/`create`
//! and the stack executor both go through here.

use super::ContainerError;
use super::create::{self, CreateRequest};
use super::record::{ContainerRecord, RunConfig};
use crate::runtime::image::{Image, ImageError};
use crate::runtime::network::NetworkError;
use crate::runtime::store::{Store, StoreError};
use crate::runtime::volume::VolumeError;
use crate::runtime::volume::Volumes;
use crate::runtime::volume::resolve::{anonymous_specs, resolve};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no command specified")]
    NoCommand,
}

/// docker's and compose's rule for argv: a given entrypoint replaces the
/// image's and drops its CMD; a given command replaces CMD.
pub fn args(
    image: &Image,
    entrypoint: Option<Vec<String>>,
    command: Option<Vec<String>>,
) -> Result<Vec<String>, BuildError> {
    let img = image.config.config().clone().unwrap_or_default();
    let (entrypoint, cmd) = match entrypoint {
        Some(e) => (e, None),
        None => (
            img.entrypoint().clone().unwrap_or_default(),
            img.cmd().clone(),
        ),
    };
    let cmd = command.or(cmd).unwrap_or_default();
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(BuildError::NoCommand);
    }
    Ok(args)
}

/// The image's environment with `overrides` (KEY, VALUE) replacing or adding.
pub fn env(image: &Image, overrides: &[(String, String)]) -> Vec<String> {
    let img = image.config.config().clone().unwrap_or_default();
    let mut env: Vec<String> = img.env().clone().unwrap_or_default();
    for (key, value) in overrides {
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(format!("{key}={value}"));
    }
    env
}

/// Creates the record for `config`: the image's layers held against gc, the
/// network checked, volumes resolved (created as needed) under the volumes lock.
/// On failure, anonymous volumes made for it are removed again.
pub fn create_container(
    store: &Store,
    name: Option<String>,
    image_ref: &str,
    image: &Image,
    mut config: RunConfig,
) -> Result<ContainerRecord, BuildError> {
    // Until the record names the image's layers, gc must not take them.
    let _content = store.lock_shared("content")?;
    image.check_layers()?;
    crate::runtime::network::check_config(store, &config)?;
    // Until the record names its volumes, no prune may take them.
    let volumes = match config.mounts.is_empty() && config.volumes_from.is_empty() {
        true => None,
        false => Some(Volumes::lock(store)?),
    };
    let created = match &volumes {
        Some(vols) => {
            let requested = std::mem::take(&mut config.mounts);
            let resolved = resolve(vols, requested, &config.volumes_from)?;
            config.mounts = resolved.mounts;
            resolved.created
        }
        None => Vec::new(),
    };
    let request = CreateRequest {
        name,
        image: image_ref.to_string(),
        image_id: image.id.to_string(),
        config,
    };
    let result = create::create(store, request);
    if let (Err(_), Some(vols)) = (&result, &volumes) {
        let _ = vols.remove_anonymous(&anonymous_specs(&created));
    }
    Ok(result?)
}
