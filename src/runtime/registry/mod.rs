//! Talking to OCI distribution registries: pull, push, login, search.
//!
//! ```text
//! config.rs       registries.toml: mirrors, insecure (http) registries
//! credentials.rs  saved logins (docker's config.json shape)
//! challenge.rs    WWW-Authenticate parsing
//! client.rs       one repository on one endpoint: manifests, blobs, uploads, tokens
//! manifest.rs     OCI/docker manifests and indexes, platform choice
//! pull.rs         registry -> content store + snapshots (streamed, resumable)
//! push.rs         content store -> registry
//! search.rs       Docker Hub v1 search and the v2 catalog
//! progress.rs     what pulls and pushes report; the CLI renders it
//! ```

pub mod challenge;
pub mod client;
pub mod config;
pub mod credentials;
mod error;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod search;

pub use config::RegistriesConfig;
pub use error::RegistryError;
pub use progress::{LayerStatus, Progress};
pub use pull::{PullError, PullStatus, Pulled, pull};
pub use push::{PushError, Pushed, push};

/// Checks `credentials` against registry `domain` (`/v2/` with the token
/// dance), as `login` does before saving them.
pub fn check_login(
    registries: &RegistriesConfig,
    domain: &str,
    credentials: credentials::Credentials,
) -> Result<(), RegistryError> {
    let endpoint = registries.endpoint(domain);
    client::Client::with_scopes(client::agent(), endpoint, "", Vec::new(), Some(credentials)).ping()
}
