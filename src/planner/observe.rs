//! Reads the observed state of one project from the runtime's records.

use std::path::Path;

use super::PlannerError;
use super::observed::{ContainerStatus, LABEL_PROJECT, Observed, from_labels};
use crate::runtime::container::record::{self, ContainerState, Status};
use crate::spec::model::Project;

fn containers(root: &Path, project: &str) -> Result<Observed, PlannerError> {
    let containers = record::list(root).map_err(|e| PlannerError::Observe {
        message: e.to_string(),
    })?;
    let mut observed = Observed::default();
    for (rec, state) in containers {
        if rec.config.labels.get(LABEL_PROJECT).map(String::as_str) != Some(project) {
            continue;
        }
        let image_id = Some(rec.image_id.clone()).filter(|s| !s.is_empty());
        if let Some(c) = from_labels(
            &rec.id,
            &rec.name,
            &rec.config.labels,
            status(&state),
            image_id,
        ) {
            observed.containers.push(c);
        }
    }
    observed.images = images(root);
    Ok(observed)
}

/// The state a plan of `project` depends on, and nothing else: its own
/// containers, networks and volumes (by label), the networks and volumes it
/// names (external ones included), and the images its services use. An
/// unrelated `network create` or `pull` does not make a saved plan stale.
pub fn observe_project(root: &Path, project: &Project) -> Result<Observed, PlannerError> {
    let mut observed = containers(root, &project.name)?;
    let store = crate::runtime::store::Store::open_readonly(root);
    let owned = |labels: &std::collections::BTreeMap<String, String>| {
        labels.get(LABEL_PROJECT).map(String::as_str) == Some(project.name.as_str())
    };
    observed.networks = crate::runtime::network::store::list(&store)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| owned(&n.labels) || project.networks.values().any(|d| d.name == n.name))
        .map(|n| n.name)
        .collect();
    observed.volumes = crate::runtime::volume::local::list(&store)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| owned(&v.labels) || project.volumes.values().any(|d| d.name == v.name))
        .map(|v| v.name)
        .collect();
    let used: std::collections::BTreeSet<&str> = project
        .services
        .values()
        .filter_map(|s| s.image.as_deref())
        .collect();
    observed
        .images
        .retain(|name, _| used.contains(name.as_str()));
    Ok(observed)
}

/// Every local tag, under each name a stack file may use for it
/// (`busybox`, `busybox:latest`, `docker.io/library/busybox:latest`).
fn images(root: &Path) -> std::collections::BTreeMap<String, String> {
    let store = crate::runtime::store::Store::open_readonly(root);
    let mut out = std::collections::BTreeMap::new();
    for image in crate::runtime::image::ImageStore::new(&store)
        .list()
        .unwrap_or_default()
    {
        for tag in &image.tags {
            let Ok(reference) = crate::runtime::image::Reference::parse(tag) else {
                continue;
            };
            let familiar = reference.familiar();
            if let Some(short) = familiar.strip_suffix(":latest") {
                out.insert(short.to_string(), image.id.to_string());
            }
            out.insert(familiar, image.id.to_string());
            out.insert(tag.clone(), image.id.to_string());
        }
    }
    out
}

fn status(state: &ContainerState) -> ContainerStatus {
    match state.status {
        Status::Created => ContainerStatus::Created,
        Status::Running => ContainerStatus::Running,
        Status::Paused => ContainerStatus::Paused,
        Status::Restarting => ContainerStatus::Restarting,
        Status::Exited if state.stopped_by_user => ContainerStatus::Stopped {
            code: state.exit_code,
        },
        Status::Removing | Status::Exited | Status::Dead => ContainerStatus::Exited {
            code: state.exit_code,
        },
    }
}
