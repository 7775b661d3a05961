//! From the merged, validated tree to the normalized [`Project`]: short syntaxes
//! expanded, defaults filled, profiles applied, references checked.

pub mod ports;
mod read;
mod refs;
pub mod service;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::Path;

use read::At;

use super::error::SpecError;
use super::load::Env;
use super::model::{Extra, Network, Project, Service, Volume};
use super::yaml::{Map, Node};

pub fn project(
    root: Node,
    name: &str,
    dir: &Path,
    env: &Env,
    profiles: &[String],
) -> Result<Project, SpecError> {
    let top = match root.value {
        super::yaml::Value::Map(m) => m,
        _ => Map::default(),
    };
    let mut services = BTreeMap::new();
    let mut disabled = BTreeMap::new();
    if let Some(node) = top.get("services") {
        for (svc_name, svc_node, _) in At::new(node, "services").entries()? {
            let svc = service::service(svc_name, svc_node, env)?;
            if is_enabled(&svc, profiles) {
                services.insert(svc_name.to_string(), svc);
            } else {
                disabled.insert(svc_name.to_string(), svc);
            }
        }
    }
    let mut project = Project {
        name: name.to_string(),
        working_dir: dir.to_path_buf(),
        services,
        networks: networks(&top, name)?,
        volumes: volumes(&top, name)?,
        secrets: resources(&top, "secrets", name)?,
        configs: resources(&top, "configs", name)?,
        extra: extensions(&top),
    };
    add_default_network(&mut project);
    refs::check(&mut project, &top, &disabled)?;
    Ok(project)
}

/// A service with no profiles is always on; `*` turns every profile on.
fn is_enabled(svc: &Service, active: &[String]) -> bool {
    svc.profiles.is_empty()
        || active.iter().any(|p| p == "*")
        || svc.profiles.iter().any(|p| active.contains(p))
}

fn section<'a>(top: &'a Map, key: &str) -> Vec<(String, &'a Node)> {
    top.get(key)
        .and_then(Node::as_map)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v)).collect())
        .unwrap_or_default()
}

/// `external: true` names the resource by its key (or `name`); others are prefixed
/// with the project name unless `name` is set.
fn real_name(key: &str, node: &Node, project: &str) -> (String, bool, Extra) {
    let json = node.to_json();
    let mut extra: Extra = json
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let explicit = extra
        .remove("name")
        .and_then(|v| v.as_str().map(String::from));
    let external = match extra.remove("external") {
        Some(serde_json::Value::Bool(b)) => b,
        // Legacy `external: {name: x}`.
        Some(serde_json::Value::Object(o)) => {
            if let Some(n) = o.get("name").and_then(|v| v.as_str()) {
                return (n.to_string(), true, extra);
            }
            true
        }
        _ => false,
    };
    let name = match (explicit, external) {
        (Some(n), _) => n,
        (None, true) => key.to_string(),
        (None, false) => format!("{project}_{key}"),
    };
    (name, external, extra)
}

fn labels_of(
    extra: &mut Extra,
    at: &Node,
    path: &str,
) -> Result<BTreeMap<String, String>, SpecError> {
    if extra.remove("labels").is_none() {
        return Ok(BTreeMap::new());
    }
    let labels = at.as_map().and_then(|m| m.get("labels"));
    match labels {
        Some(node) => {
            let path = format!("{path}.labels");
            Ok(At::new(node, &path)
                .list_or_dict()?
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect())
        }
        None => Ok(BTreeMap::new()),
    }
}

fn networks(top: &Map, project: &str) -> Result<BTreeMap<String, Network>, SpecError> {
    let mut out = BTreeMap::new();
    for (key, node) in section(top, "networks") {
        let (name, external, mut extra) = real_name(&key, node, project);
        let labels = labels_of(&mut extra, node, &format!("networks.{key}"))?;
        let driver = extra
            .remove("driver")
            .and_then(|v| v.as_str().map(String::from));
        let internal = extra
            .remove("internal")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        out.insert(
            key,
            Network {
                name,
                external,
                driver,
                internal,
                labels,
                extra,
            },
        );
    }
    Ok(out)
}

fn volumes(top: &Map, project: &str) -> Result<BTreeMap<String, Volume>, SpecError> {
    let mut out = BTreeMap::new();
    for (key, node) in section(top, "volumes") {
        let (name, external, mut extra) = real_name(&key, node, project);
        let labels = labels_of(&mut extra, node, &format!("volumes.{key}"))?;
        let driver = extra
            .remove("driver")
            .and_then(|v| v.as_str().map(String::from));
        out.insert(
            key,
            Volume {
                name,
                external,
                driver,
                labels,
                extra,
            },
        );
    }
    Ok(out)
}

fn resources(top: &Map, key: &str, project: &str) -> Result<BTreeMap<String, Extra>, SpecError> {
    let mut out = BTreeMap::new();
    for (name, node) in section(top, key) {
        let (real, external, mut extra) = real_name(&name, node, project);
        extra.insert("name".into(), real.into());
        if external {
            extra.insert("external".into(), true.into());
        }
        out.insert(name, extra);
    }
    Ok(out)
}

fn extensions(top: &Map) -> Extra {
    top.iter()
        .filter(|(k, _)| k.starts_with("x-") || k.as_str() == "models")
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect()
}

/// A service that names no network (and has no network_mode) joins `default`,
/// which exists as `<project>_default` unless the file defines it.
fn add_default_network(project: &mut Project) {
    let mut needs_default = false;
    for svc in project.services.values_mut() {
        if svc.networks.is_empty() && svc.network_mode.is_none() {
            svc.networks.insert("default".into(), None);
        }
        needs_default |= svc.networks.contains_key("default");
    }
    if needs_default && !project.networks.contains_key("default") {
        project.networks.insert(
            "default".into(),
            Network {
                name: format!("{}_default", project.name),
                external: false,
                driver: None,
                internal: false,
                labels: BTreeMap::new(),
                extra: Extra::new(),
            },
        );
    }
}

/// The position of `services.<name>` in the file, for errors about a whole service.
fn service_pos<'a>(top: &'a Map, name: &str) -> Option<&'a super::error::Pos> {
    top.get("services")
        .and_then(Node::as_map)
        .and_then(|m| m.key_pos(name))
}
