//! Manifests, indexes and image configs as a registry or an archive could
//! serve them.

use crate::runtime::image::Digest;
use crate::runtime::image::config::{diff_ids, healthcheck, parse_config};
use crate::runtime::registry::manifest::{
    self, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Parsed,
};

/// Every Content-Type a registry may send, and none (the document decides).
const CONTENT_TYPES: [&str; 6] = [
    "",
    "application/json",
    OCI_INDEX,
    DOCKER_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Parses `data` as a manifest or index under each content type, and as an
/// image config carried on to a container's configuration.
pub fn image_json(data: &[u8]) {
    for content_type in CONTENT_TYPES {
        if let Ok(parsed) = manifest::parse(data, content_type, "fuzz") {
            walk(&parsed);
        }
    }
    let id = Digest::of_bytes(data);
    let _ = healthcheck(data);
    if let Ok(config) = parse_config(&id, data) {
        let _ = diff_ids(&id, &config);
        crate::cli::fuzz_flags::image_config(config, healthcheck(data));
    }
}

/// What a pull does next with a parsed document: pick the platform, read the
/// digests.
fn walk(parsed: &Parsed) {
    match parsed {
        Parsed::Index(index) => {
            let _ = manifest::select(index, &manifest::host_platform());
            for d in &index.manifests {
                let _ = d.digest();
                if let Some(p) = &d.platform {
                    let _ = manifest::platform_string(p);
                }
            }
        }
        Parsed::Manifest(m) => {
            let _ = m.config.digest();
            for layer in &m.layers {
                let _ = layer.digest();
            }
        }
    }
}
