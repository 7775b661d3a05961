//! Saved registry logins, in docker's `config.json` shape:
//! `{"auths": {"<server>": {"auth": base64("user:password")}}}`.
//!
//! berth's own file is `$BERTH_CONFIG/config.json` (default
//! `~/.berth/config.json`), written 0600. Lookups fall back to docker's
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), so an
//! existing `docker login` keeps working; berth never writes docker's file.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::error::RegistryError;
use crate::runtime::store;

/// The key docker uses for Docker Hub.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", STANDARD.encode(raw))
    }
}

/// The key a registry domain is saved under: docker's for Hub, host[:port]
/// otherwise (a scheme or path the user typed is dropped).
pub fn server_key(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

pub fn berth_config_path() -> PathBuf {
    config_dir("BERTH_CONFIG", ".berth").join("config.json")
}

fn docker_config_path() -> PathBuf {
    config_dir("DOCKER_CONFIG", ".docker").join("config.json")
}

fn config_dir(env: &str, home_sub: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(home_sub)
}

/// The saved login for registry `domain`, from berth's file, then docker's.
pub fn lookup(domain: &str) -> Result<Option<Credentials>, RegistryError> {
    let key = server_key(domain);
    for path in [berth_config_path(), docker_config_path()] {
        let doc = read(&path)?;
        if let Some(c) = find(&doc, &key, &path)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Saves a login in berth's file.
pub fn store(domain: &str, credentials: &Credentials) -> Result<PathBuf, RegistryError> {
    let path = berth_config_path();
    let mut doc = read(&path)?;
    let auths = auths_mut(&mut doc, &path)?;
    let raw = format!("{}:{}", credentials.username, credentials.password);
    let mut entry = Map::new();
    entry.insert("auth".into(), Value::String(STANDARD.encode(raw)));
    auths.insert(server_key(domain), Value::Object(entry));
    write(&path, &doc)?;
    Ok(path)
}

/// Removes a saved login; false when there was none.
pub fn remove(domain: &str) -> Result<bool, RegistryError> {
    let path = berth_config_path();
    let mut doc = read(&path)?;
    let removed = auths_mut(&mut doc, &path)?
        .remove(&server_key(domain))
        .is_some();
    if removed {
        write(&path, &doc)?;
    }
    Ok(removed)
}

fn read(path: &Path) -> Result<Value, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Object(Map::new())),
        Err(e) => return Err(RegistryError::io("read", path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn write(path: &Path, doc: &Value) -> Result<(), RegistryError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RegistryError::io("create", dir, e))?;
    }
    let bytes = serde_json::to_vec_pretty(doc).map_err(|e| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    store::write_atomic_mode(path, &bytes, 0o600).map_err(|e| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn auths_mut<'d>(
    doc: &'d mut Value,
    path: &Path,
) -> Result<&'d mut Map<String, Value>, RegistryError> {
    let bad = |reason: &str| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let top = doc
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object"))?;
    top.entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| bad("\"auths\" is not an object"))
}

fn find(doc: &Value, key: &str, path: &Path) -> Result<Option<Credentials>, RegistryError> {
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    // docker also matches entries saved with a scheme (`https://host`).
    let entry = auths
        .iter()
        .find(|(k, _)| k.as_str() == key || server_key(k) == key)
        .map(|(_, v)| v);
    let Some(entry) = entry else { return Ok(None) };
    let bad = |reason: &str| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: format!("auths.{key}: {reason}"),
    };
    if let (Some(u), Some(p)) = (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        return Ok(Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    let Some(encoded) = entry.get("auth").and_then(Value::as_str) else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad("\"auth\" is not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("\"auth\" is not user:password"))?;
    Ok(Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_has_one_key() {
        for s in [
            "docker.io",
            "index.docker.io",
            "https://index.docker.io/v1/",
            "",
        ] {
            assert_eq!(server_key(s), DOCKER_HUB_KEY, "{s}");
        }
        assert_eq!(server_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn reads_docker_shapes() {
        let doc: Value = serde_json::json!({"auths": {
            "https://reg.lan:5000": {"auth": STANDARD.encode("bob:s3:cret")},
            "other": {"username": "u", "password": "p"}
        }});
        let p = Path::new("config.json");
        let c = find(&doc, "reg.lan:5000", p).unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("bob", "s3:cret")
        );
        assert_eq!(find(&doc, "other", p).unwrap().unwrap().password, "p");
        assert!(find(&doc, "missing", p).unwrap().is_none());
        let bad: Value = serde_json::json!({"auths": {"x": {"auth": "!!"}}});
        assert!(
            find(&bad, "x", p)
                .unwrap_err()
                .to_string()
                .contains("auths.x")
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(
            c.basic_header(),
            format!("Basic {}", STANDARD.encode("u:secret"))
        );
    }
}
