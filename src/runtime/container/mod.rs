//! Containers: config -> OCI runtime spec, create/start (namespaces, rootfs,
//! security), and their records on disk.

pub mod record;

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
}

impl ContainerError {
    pub fn io(path: &Path, source: std::io::Error) -> ContainerError {
        ContainerError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
