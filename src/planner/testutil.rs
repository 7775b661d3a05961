//! Builders for synthetic projects and observed states used by the planner tests.

use std::collections::BTreeMap;

use super::diff::container_name;
use super::hash::hash_service;
use super::observed::{ContainerStatus, Observed, ObservedContainer};
use crate::spec::model::{
    Condition, Dependency, Network, Project, Service, ServiceVolume, Volume, VolumeKind,
};

/// A service on the default network, the way the loader normalizes one.
pub(crate) fn service(image: &str) -> Service {
    Service {
        image: Some(image.to_string()),
        networks: BTreeMap::from([("default".to_string(), None)]),
        ..Service::default()
    }
}

pub(crate) fn depends(restart: bool) -> Dependency {
    Dependency {
        condition: Condition::ServiceStarted,
        required: true,
        restart,
    }
}

pub(crate) fn mount(source: &str, target: &str) -> ServiceVolume {
    ServiceVolume {
        kind: VolumeKind::Volume,
        source: Some(source.to_string()),
        target: target.to_string(),
        read_only: false,
        consistency: None,
        bind: None,
        volume: None,
        tmpfs: None,
        extra: BTreeMap::new(),
    }
}

pub(crate) struct ProjectBuilder {
    project: Project,
}

impl ProjectBuilder {
    /// A project with its `default` network declared, as the loader leaves it.
    pub(crate) fn new(name: &str) -> ProjectBuilder {
        let project = Project {
            name: name.to_string(),
            working_dir: std::path::PathBuf::new(),
            services: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            secrets: BTreeMap::new(),
            configs: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        ProjectBuilder { project }.network("default")
    }

    pub(crate) fn service(mut self, name: &str, service: Service) -> ProjectBuilder {
        self.project.services.insert(name.to_string(), service);
        self
    }

    pub(crate) fn network(mut self, key: &str) -> ProjectBuilder {
        let network = Network {
            name: format!("{}_{key}", self.project.name),
            external: false,
            driver: None,
            internal: false,
            labels: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        self.project.networks.insert(key.to_string(), network);
        self
    }

    pub(crate) fn volume(mut self, key: &str) -> ProjectBuilder {
        let volume = Volume {
            name: format!("{}_{key}", self.project.name),
            external: false,
            driver: None,
            labels: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        self.project.volumes.insert(key.to_string(), volume);
        self
    }

    pub(crate) fn build(self) -> Project {
        self.project
    }
}

pub(crate) fn image_id(reference: &str) -> String {
    format!("sha256:id-of-{reference}")
}

/// A running replica created from the current config, as berth would label it.
pub(crate) fn running(project: &Project, service: &str, number: u32) -> ObservedContainer {
    let svc = &project.services[service];
    let hash = hash_service(svc).unwrap();
    ObservedContainer {
        id: format!("id-{service}-{number}"),
        name: container_name(&project.name, service, svc, number),
        project: project.name.clone(),
        service: service.to_string(),
        number,
        config_hash: hash.value,
        canonical: Some(hash.canonical),
        image_id: svc.image.as_deref().map(image_id),
        status: ContainerStatus::Running,
        oneoff: false,
    }
}

/// The state right after a successful `up`: every resource present, every replica
/// running with the current config.
pub(crate) fn converged(project: &Project) -> Observed {
    let mut observed = Observed {
        networks: project.networks.values().map(|n| n.name.clone()).collect(),
        volumes: project.volumes.values().map(|v| v.name.clone()).collect(),
        ..Observed::default()
    };
    for (name, svc) in &project.services {
        if let Some(image) = &svc.image {
            observed.images.insert(image.clone(), image_id(image));
        }
        for number in 1..=svc.replicas() {
            observed.containers.push(running(project, name, number));
        }
    }
    observed
}
