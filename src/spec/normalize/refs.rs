//! Every name a service refers to must exist, and service dependencies must not loop.

use std::collections::BTreeMap;

use super::service_pos;
use crate::spec::error::{Pos, SpecError};
use crate::spec::model::{Project, Service, VolumeKind};
use crate::spec::yaml::Map;

pub fn check(
    project: &mut Project,
    top: &Map,
    disabled: &BTreeMap<String, Service>,
) -> Result<(), SpecError> {
    drop_optional_dependencies(project, disabled);
    for (name, svc) in &project.services {
        let at = service_pos(top, name).cloned();
        check_dependencies(project, name, svc, disabled, &at)?;
        check_resources(project, name, svc, &at)?;
    }
    if let Some(cycle) = find_cycle(project) {
        let at = cycle.first().and_then(|s| service_pos(top, s)).cloned();
        return Err(SpecError::Cycle { at, cycle });
    }
    Ok(())
}

/// `required: false` dependencies on services that are absent are ignored.
fn drop_optional_dependencies(project: &mut Project, disabled: &BTreeMap<String, Service>) {
    let present: Vec<String> = project.services.keys().cloned().collect();
    for svc in project.services.values_mut() {
        svc.depends_on
            .retain(|dep, d| d.required || (present.contains(dep) && !disabled.contains_key(dep)));
    }
}

fn err(at: &Option<Pos>, path: String, message: String) -> SpecError {
    SpecError::Invalid {
        at: at.clone(),
        path,
        message,
    }
}

fn check_dependencies(
    project: &Project,
    name: &str,
    svc: &Service,
    disabled: &BTreeMap<String, Service>,
    at: &Option<Pos>,
) -> Result<(), SpecError> {
    let path = |key: &str| format!("services.{name}.{key}");
    for dep in svc.depends_on.keys() {
        if disabled.contains_key(dep) {
            return Err(err(
                at,
                path("depends_on"),
                format!(
                    "service {dep:?} is needed by {name:?} but not enabled by the active profiles"
                ),
            ));
        }
        if !project.services.contains_key(dep) {
            return Err(err(
                at,
                path("depends_on"),
                format!("depends on undefined service {dep:?}"),
            ));
        }
    }
    for (key, target) in implicit_targets(svc) {
        if !project.services.contains_key(&target) {
            return Err(err(
                at,
                path(key),
                format!("refers to undefined service {target:?}"),
            ));
        }
    }
    Ok(())
}

fn check_resources(
    project: &Project,
    name: &str,
    svc: &Service,
    at: &Option<Pos>,
) -> Result<(), SpecError> {
    let path = |key: &str| format!("services.{name}.{key}");
    for net in svc.networks.keys() {
        if !project.networks.contains_key(net) {
            return Err(err(
                at,
                path("networks"),
                format!("refers to undefined network {net:?}"),
            ));
        }
    }
    for vol in &svc.volumes {
        if let (VolumeKind::Volume, Some(source)) = (vol.kind, &vol.source)
            && !project.volumes.contains_key(source)
        {
            return Err(err(
                at,
                path("volumes"),
                format!("refers to undefined volume {source:?}"),
            ));
        }
    }
    for (key, refs, defined) in [
        ("secrets", &svc.secrets, &project.secrets),
        ("configs", &svc.configs, &project.configs),
    ] {
        if let Some(r) = refs.iter().find(|r| !defined.contains_key(&r.source)) {
            let kind = key.trim_end_matches('s');
            return Err(err(
                at,
                path(key),
                format!("refers to undefined {kind} {:?}", r.source),
            ));
        }
    }
    if svc.replicas() > 1 && svc.extra.contains_key("container_name") {
        return Err(err(
            at,
            path("container_name"),
            format!(
                "a fixed container_name cannot be used with {} replicas",
                svc.replicas()
            ),
        ));
    }
    Ok(())
}

/// Services a service needs besides `depends_on`: links, volumes_from and
/// `service:` network, ipc and pid modes.
pub fn implicit_targets(svc: &Service) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for link in &svc.links {
        let target = link.split(':').next().unwrap_or(link);
        out.push(("links", target.to_string()));
    }
    for from in &svc.volumes_from {
        if !from.starts_with("container:") {
            let target = from.split(':').next().unwrap_or(from);
            out.push(("volumes_from", target.to_string()));
        }
    }
    for (key, mode) in [
        ("network_mode", &svc.network_mode),
        ("ipc", &svc.ipc),
        ("pid", &svc.pid),
    ] {
        if let Some(target) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
            out.push((key, target.to_string()));
        }
    }
    out
}

fn edges(svc: &Service) -> Vec<String> {
    let mut out: Vec<String> = svc.depends_on.keys().cloned().collect();
    out.extend(implicit_targets(svc).into_iter().map(|(_, t)| t));
    out.sort();
    out.dedup();
    out
}

/// Depth-first search in name order; returns the first cycle as `a -> b -> a`.
fn find_cycle(project: &Project) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let names: Vec<&String> = project.services.keys().collect();
    let mut marks: BTreeMap<&str, Mark> = names.iter().map(|n| (n.as_str(), Mark::New)).collect();
    for start in names {
        if marks.get(start.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Iterative DFS: (service, its edges, next edge index).
        let mut stack: Vec<(String, Vec<String>, usize)> = Vec::new();
        let first = project.services.get(start).map(edges).unwrap_or_default();
        stack.push((start.clone(), first, 0));
        marks.insert(start.as_str(), Mark::Active);
        while let Some((node, next_edges, i)) = stack.last_mut() {
            if *i >= next_edges.len() {
                if let Some(k) = project
                    .services
                    .get_key_value(node.as_str())
                    .map(|(k, _)| k)
                {
                    marks.insert(k.as_str(), Mark::Done);
                }
                stack.pop();
                continue;
            }
            let next = next_edges[*i].clone();
            *i += 1;
            let Some((key, svc)) = project.services.get_key_value(next.as_str()) else {
                continue;
            };
            match marks.get(key.as_str()) {
                Some(Mark::Active) => {
                    let begin = stack.iter().position(|(n, _, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[begin..].iter().map(|(n, _, _)| n.clone()).collect();
                    cycle.push(next);
                    return Some(cycle);
                }
                Some(Mark::New) => {
                    marks.insert(key.as_str(), Mark::Active);
                    stack.push((next, edges(svc), 0));
                }
                _ => {}
            }
        }
    }
    None
}
