//! `berth down`: takes a project apart from its labels alone, so it needs no
//! stack file. Containers stop in reverse dependency order (read from the
//! depends_on label), each level in parallel; then the project's networks go,
//! and with `volumes` its named and anonymous volumes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::execute::{ExecError, Reporter, project_containers};
use super::observed::{LABEL_PROJECT, LABEL_SERVICE};
use super::plan::ResourceKind;
use super::project::LABEL_DEPENDS_ON;
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::network::store as netstore;
use crate::runtime::store::Store;
use crate::runtime::volume::{self, Volumes};

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Also remove the project's named volumes and its containers' anonymous ones.
    pub volumes: bool,
    /// Seconds to wait for each container to stop; its own stop_grace_period if None.
    pub timeout: Option<Duration>,
    /// When set, only containers of these services are removed (a stack file
    /// was given without --remove-orphans).
    pub only_services: Option<BTreeSet<String>>,
    /// `--rmi`: images to remove after the containers (see `down_images`).
    pub rmi: Option<super::down_images::Rmi>,
    /// The stack, when a file was given: `--rmi` reads the services' images.
    pub project: Option<crate::spec::model::Project>,
}

pub fn down(
    root: &Path,
    project: &str,
    opts: &DownOptions,
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    let store = Store::open(root).map_err(|e| runtime("opening the store", e))?;
    let _project_lock = super::repair::lock_project(&store, project)?;
    let containers: Vec<Container> = project_containers(&store, project)?
        .into_iter()
        .filter(|c| match &opts.only_services {
            Some(keep) => service_of(c).is_some_and(|s| keep.contains(s)),
            None => true,
        })
        .collect();
    let images = opts
        .rmi
        .map(|rmi| super::down_images::wanted(rmi, opts.project.as_ref(), &containers));
    let mut first_error = None;
    for level in stop_levels(containers) {
        let errors: Vec<ExecError> = std::thread::scope(|scope| {
            let handles: Vec<_> = level
                .iter()
                .map(|c| scope.spawn(|| remove_container(&store, c, opts, reporter)))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().and_then(Result::err))
                .collect()
        });
        if first_error.is_none() {
            first_error = errors.into_iter().next();
        }
    }
    if let Err(e) = remove_networks(&store, project, reporter) {
        first_error.get_or_insert(e);
    }
    if opts.volumes
        && let Err(e) = remove_volumes(&store, project, reporter)
    {
        first_error.get_or_insert(e);
    }
    if let Some(images) = images
        && let Err(e) = super::down_images::remove_images(&store, &images, reporter)
    {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}

fn runtime(what: impl Into<String>, e: impl std::fmt::Display) -> ExecError {
    ExecError::Runtime {
        what: what.into(),
        message: e.to_string(),
    }
}

fn service_of(c: &Container) -> Option<&str> {
    c.record
        .config
        .labels
        .get(LABEL_SERVICE)
        .map(String::as_str)
}

/// The services a container waits on, from compose's `svc:condition:restart,...`.
fn dependencies(c: &Container) -> Vec<String> {
    c.record
        .config
        .labels
        .get(LABEL_DEPENDS_ON)
        .map(|text| {
            text.split(',')
                .filter_map(|d| d.split(':').next())
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Groups containers so that every container stops before those it depends on:
/// a level holds the services nothing left depends on. Without labels (or in a
/// cycle) everything left goes in one level.
fn stop_levels(containers: Vec<Container>) -> Vec<Vec<Container>> {
    let mut by_service: BTreeMap<String, Vec<Container>> = BTreeMap::new();
    for c in containers {
        let service = service_of(&c).unwrap_or_default().to_string();
        by_service.entry(service).or_default().push(c);
    }
    let deps: BTreeMap<String, Vec<String>> = by_service
        .iter()
        .map(|(s, cs)| (s.clone(), cs.iter().flat_map(dependencies).collect()))
        .collect();
    let mut levels = Vec::new();
    while !by_service.is_empty() {
        let needed: BTreeSet<&String> = by_service
            .keys()
            .flat_map(|s| deps.get(s).into_iter().flatten())
            .collect();
        let mut free: Vec<String> = by_service
            .keys()
            .filter(|s| !needed.contains(s))
            .cloned()
            .collect();
        if free.is_empty() {
            free = by_service.keys().cloned().collect();
        }
        let level: Vec<Container> = free
            .iter()
            .filter_map(|s| by_service.remove(s))
            .flatten()
            .collect();
        levels.push(level);
    }
    levels
}

fn remove_container(
    store: &Store,
    c: &Container,
    opts: &DownOptions,
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    let name = &c.record.name;
    let what = || format!("container {name}");
    if c.is_running() {
        reporter.status(ResourceKind::Container, name, "Stopping");
        let timeout = opts.timeout.unwrap_or(Duration::from_secs(
            c.record.config.stop_timeout.unwrap_or(10),
        ));
        lifecycle::stop(store, c, timeout).map_err(|e| runtime(what(), e))?;
        reporter.status(ResourceKind::Container, name, "Stopped");
    }
    reporter.status(ResourceKind::Container, name, "Removing");
    // Reload: the stop changed its state, and remove refuses a running one.
    let now = lifecycle::load(store, &c.record.id).map_err(|e| runtime(what(), e))?;
    lifecycle::remove(store, &now, true).map_err(|e| runtime(what(), e))?;
    if opts.volumes {
        volume::remove_anonymous_of(store, &c.record).map_err(|e| runtime(what(), e))?;
    }
    reporter.status(ResourceKind::Container, name, "Removed");
    Ok(())
}

fn remove_networks(store: &Store, project: &str, reporter: &dyn Reporter) -> Result<(), ExecError> {
    let networks = netstore::list(store).map_err(|e| runtime("listing networks", e))?;
    let mut first_error = None;
    for net in networks
        .iter()
        .filter(|n| n.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
    {
        reporter.status(ResourceKind::Network, &net.name, "Removing");
        match netstore::remove(store, net) {
            Ok(()) => reporter.status(ResourceKind::Network, &net.name, "Removed"),
            Err(e) => {
                first_error.get_or_insert(runtime(format!("network {}", net.name), e));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn remove_volumes(store: &Store, project: &str, reporter: &dyn Reporter) -> Result<(), ExecError> {
    let volumes = volume::local::list(store).map_err(|e| runtime("listing volumes", e))?;
    let vols = Volumes::lock(store).map_err(|e| runtime("locking volumes", e))?;
    for v in volumes
        .iter()
        .filter(|v| v.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
    {
        reporter.status(ResourceKind::Volume, &v.name, "Removing");
        vols.remove(&v.name, false)
            .map_err(|e| runtime(format!("volume {}", v.name), e))?;
        reporter.status(ResourceKind::Volume, &v.name, "Removed");
    }
    Ok(())
}
