//! Errors of talking to registries, worded for the user who typed the name.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("unauthorized: authentication required for {host}{}", hint(.host))]
    Unauthorized { host: String },
    #[error(
        "pull access denied for {repository}, repository does not exist or may require 'berth login'"
    )]
    Denied { repository: String },
    #[error("manifest for {reference} not found: manifest unknown")]
    ManifestUnknown { reference: String },
    #[error("blob {digest} not found in {repository}")]
    BlobUnknown { repository: String, digest: String },
    #[error("{url}: unexpected status {status}{}", body_hint(.body))]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{what} from {url} is invalid: {reason}")]
    Invalid {
        what: &'static str,
        url: String,
        reason: String,
    },
    #[error("no matching manifest for {platform} in the manifest list entries of {reference}")]
    NoPlatform { reference: String, platform: String },
    #[error("unsupported manifest media type {media_type} for {reference}{}", schema1_hint(.media_type))]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    #[error("registry config {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error("credentials file {}: {reason}", path.display())]
    Credentials { path: PathBuf, reason: String },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn hint(host: &str) -> String {
    format!("; run 'berth login {host}'")
}

fn body_hint(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        let short: String = body.chars().take(300).collect();
        format!(": {short}")
    }
}

fn schema1_hint(media_type: &str) -> &'static str {
    if media_type.contains("v1+") || media_type.contains("prettyjws") {
        " (docker schema 1 images are deprecated and not supported; re-push the image with a current client)"
    } else {
        ""
    }
}

impl RegistryError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> RegistryError {
        RegistryError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
