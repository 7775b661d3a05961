//! Errors of volumes and mounts, worded like docker's daemon where users and
//! scripts know the wording.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName { name: String },
    #[error(
        "create {name}: volume name is too short, names should be at least two alphanumeric characters"
    )]
    NameTooShort { name: String },
    #[error("get {name}: no such volume")]
    NotFound { name: String },
    #[error("remove {name}: volume is in use - [{}]", .containers.join(", "))]
    InUse {
        name: String,
        containers: Vec<String>,
    },
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    UnknownDriver { name: String, driver: String },
    #[error("create {name}: volume already exists, but uses a different driver")]
    DriverConflict { name: String },
    #[error("create {name}: invalid option: {option:?}")]
    InvalidOption { name: String, option: String },
    #[error("create {name}: missing required option: {option:?}")]
    MissingOption { name: String, option: String },
    /// A mount that cannot be made as asked (docker's "invalid mount config").
    #[error("{0}")]
    Mount(String),
    #[error("No such container: {name}")]
    NoSuchContainer { name: String },
    #[error("copying the image's {path} into volume {name}: {message}")]
    CopyUp {
        name: String,
        path: String,
        message: String,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: corrupt volume metadata: {message}", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] crate::runtime::store::StoreError),
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
}

impl VolumeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> VolumeError {
        VolumeError::Io {
            path: path.into(),
            source,
        }
    }
}
