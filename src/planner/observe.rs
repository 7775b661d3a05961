//! Reads the observed state of one project from the runtime's records.

use std::path::Path;

use super::PlannerError;
use super::observed::{ContainerStatus, LABEL_PROJECT, Observed, from_labels};
use crate::runtime::container::record::{self, ContainerState, Status};

pub fn observe(root: &Path, project: &str) -> Result<Observed, PlannerError> {
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
    let store = crate::runtime::store::Store::open_readonly(root);
    // Networks and volumes by name: the plan creates the missing ones.
    observed.networks = crate::runtime::network::store::list(&store)
        .map(|nets| nets.into_iter().map(|n| n.name).collect())
        .unwrap_or_default();
    observed.volumes = crate::runtime::volume::local::list(&store)
        .map(|vols| vols.into_iter().map(|v| v.name).collect())
        .unwrap_or_default();
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
