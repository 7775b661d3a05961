//! Containers: create/start (namespaces, rootfs, security), and their records on
//! disk.

pub mod build;
pub mod commit;
pub mod console;
pub mod copy;
pub mod create;
pub mod diff;
pub mod etc_files;
pub mod exec;
pub mod export;
pub(crate) mod fstree;
pub mod init;
pub mod lifecycle;
pub mod mounts;
pub mod names;
pub mod oci;
pub mod record;
pub mod rootfs;
pub mod spawn;
pub mod staging;
pub mod user;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: corrupt container record: {message}", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Store(String),
    #[error("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName { name: String },
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("No such container: {name}")]
    NotFound { name: String },
    #[error("multiple containers match the prefix {prefix:?}: use more characters of the id")]
    Ambiguous { prefix: String },
    #[error("container {name} is not running")]
    NotRunning { name: String },
    #[error(
        "cannot remove container {id}: container is running: stop the container before removing or force remove"
    )]
    RemoveRunning { id: String },
    #[error("invalid signal: {signal}")]
    InvalidSignal { signal: String },
    #[error("{message}")]
    State { message: String },
}

impl ContainerError {
    pub fn io(path: &Path, source: std::io::Error) -> ContainerError {
        ContainerError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
