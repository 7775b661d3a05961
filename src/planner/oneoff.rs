//! `stack run SERVICE [COMMAND...]`: a one-off container from a service's
//! config, as `docker compose run` makes it: named
//! `<project>-<service>-run-<12 hex>`, labeled `com.docker.compose.oneoff=True`
//! (so `up` never counts it as a replica or an orphan), no published ports
//! unless asked, no restart policy, no network aliases.

use std::collections::BTreeMap;

use super::container_config::Replica;
use super::execute::{ExecError, Reporter};
use super::hash::hash_service;
use super::observed::LABEL_ONEOFF;
use super::{PlannerError, select};
use crate::runtime::container::record::ContainerRecord;
use crate::runtime::container::{build, lifecycle};
use crate::runtime::image::ImageStore;
use crate::runtime::network::ports::PortBinding;
use crate::runtime::store::Store;
use crate::runtime::volume::MountSpec;
use crate::spec::model::{Project, Service};

/// What the command line changes in the service's config.
#[derive(Debug, Clone, Default)]
pub struct OneOff {
    /// Replaces the service's command when not empty.
    pub command: Vec<String>,
    /// `--entrypoint`, already split into words; empty clears it.
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE`, or `KEY` alone (taken from berth's own environment).
    pub env: Vec<(String, Option<String>)>,
    pub labels: BTreeMap<String, String>,
    pub name: Option<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `-p`: published in addition to (with `--service-ports`) the service's own.
    pub publish: Vec<PortBinding>,
    pub service_ports: bool,
    /// `-v`: replaces a service mount with the same target.
    pub volumes: Vec<MountSpec>,
    pub tty: bool,
    pub interactive: bool,
    pub remove: bool,
}

/// The services a one-off of `service` needs running first (not itself).
pub fn dependencies(
    project: &Project,
    service: &str,
) -> Result<std::collections::BTreeSet<String>, PlannerError> {
    let mut deps = select::services(project, &[service.to_string()], false)?.unwrap_or_default();
    deps.remove(service);
    Ok(deps)
}

/// Creates the one-off container (not started).
pub fn create(
    store: &Store,
    project: &Project,
    service_name: &str,
    opts: &OneOff,
) -> Result<ContainerRecord, ExecError> {
    let base = project
        .services
        .get(service_name)
        .ok_or_else(|| PlannerError::NoSuchService {
            service: service_name.to_string(),
        })?;
    let service = overridden(base, opts);
    let image_ref = service.image.clone().ok_or_else(|| ExecError::Runtime {
        what: format!("service {service_name:?}"),
        message: "has no image to run".into(),
    })?;
    let image = ImageStore::new(store)
        .resolve(&image_ref)
        .map_err(|e| runtime(format!("image {image_ref}"), e))?;
    let hash = hash_service(&service).map_err(|source| PlannerError::Serialize {
        service: service_name.to_string(),
        source,
    })?;
    let replica = Replica {
        project,
        name: service_name,
        service: &service,
        number: 1,
        hash: &hash,
    };
    let mut built = replica.build(&image)?;
    let hex = crate::runtime::container::names::new_id()
        .map_err(|e| runtime("reading random bytes", e))?;
    let short = hex.get(..12).unwrap_or(&hex).to_string();
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service_name}-run-{short}", project.name));
    adjust(&mut built.config, opts, &service, &short);
    let record =
        build::create_container(store, Some(name.clone()), &image_ref, &image, built.config)
            .map_err(|e| runtime(format!("container {name}"), e))?;
    for extra in &built.extra_networks {
        if let Err(e) = connect(store, &record, extra) {
            if let Ok(c) = lifecycle::load(store, &record.id) {
                let _ = lifecycle::remove(store, &c, true);
            }
            return Err(e);
        }
    }
    Ok(record)
}

/// The service with the command line's command, entrypoint, environment,
/// labels, user and working directory.
fn overridden(base: &Service, opts: &OneOff) -> Service {
    let mut service = base.clone();
    if !opts.command.is_empty() {
        service.command = Some(opts.command.clone());
    }
    if let Some(entrypoint) = &opts.entrypoint {
        service.entrypoint = Some(entrypoint.clone());
        // compose: a new entrypoint drops the service's command too.
        if opts.command.is_empty() {
            service.command = Some(Vec::new());
        }
    }
    for (key, value) in &opts.env {
        service.environment.insert(key.clone(), value.clone());
    }
    service.labels.extend(opts.labels.clone());
    let text = |s: &String| serde_json::Value::String(s.clone());
    if let Some(user) = &opts.user {
        service.extra.insert("user".into(), text(user));
    }
    if let Some(dir) = &opts.workdir {
        service.extra.insert("working_dir".into(), text(dir));
    }
    service
}

/// What a one-off does differently from a replica of the stack.
fn adjust(
    config: &mut crate::runtime::container::record::RunConfig,
    opts: &OneOff,
    service: &Service,
    short: &str,
) {
    config.labels.insert(LABEL_ONEOFF.into(), "True".into());
    config.restart_policy = "no".into();
    config.auto_remove = opts.remove;
    config.tty = opts.tty;
    config.open_stdin = opts.interactive;
    config.network_aliases.clear();
    if !service.extra.contains_key("hostname") {
        config.hostname = short.to_string();
    }
    if !opts.service_ports {
        config.ports.clear();
    }
    config.ports.extend(opts.publish.iter().cloned());
    for port in &config.ports {
        let exposed = port.container();
        if !config.exposed_ports.contains(&exposed) {
            config.exposed_ports.push(exposed);
        }
    }
    for mount in &opts.volumes {
        config.mounts.retain(|m| m.target != mount.target);
        config.mounts.push(mount.clone());
    }
}

fn connect(
    store: &Store,
    record: &ContainerRecord,
    a: &super::container_config::Attachment,
) -> Result<(), ExecError> {
    let what = || format!("container {} on network {}", record.name, a.network);
    let c = lifecycle::load(store, &record.id).map_err(|e| runtime(what(), e))?;
    let network = crate::runtime::network::store::resolve(store, &a.network)
        .map_err(|e| runtime(what(), e))?;
    let ip = crate::runtime::network::endpoint::parse_ip(a.ip.as_deref())
        .map_err(|e| runtime(what(), e))?;
    // No aliases: compose gives one-offs none unless asked (--use-aliases).
    crate::runtime::network::connect(store, &c, &network, ip, &[]).map_err(|e| runtime(what(), e))
}

fn runtime(what: impl Into<String>, e: impl std::fmt::Display) -> ExecError {
    ExecError::Runtime {
        what: what.into(),
        message: e.to_string(),
    }
}

/// What a one-off needs before it is created: the service's networks,
/// volumes and image, and (with `with_deps`) its dependencies brought up as
/// `up` would and their depends_on conditions met.
pub fn prepare(
    store: &Store,
    project: &Project,
    service: &str,
    with_deps: bool,
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    let mut only = match with_deps {
        true => dependencies(project, service)?,
        false => Default::default(),
    };
    only.insert(service.to_string());
    let opts = super::DiffOptions {
        only: Some(only),
        ..super::DiffOptions::default()
    };
    let observed = super::observe::observe_project(store.root(), project)?;
    let mut plan = super::diff(project, &observed, &opts)?;
    // The service's own container ops are the plan's tail: dependencies come
    // first in service order and nothing selected depends on the service. So
    // cutting them off keeps every `after` index valid.
    if let Some(first) = plan
        .ops
        .iter()
        .position(|op| op.service.as_deref() == Some(service))
    {
        plan.ops.truncate(first);
    }
    reporter.plan(&plan);
    let pull = super::execute::PullPolicy::Missing;
    super::execute::execute(store, project, &plan, pull, reporter)?;
    if with_deps {
        super::execute::wait_for_dependencies(store, project, service, reporter)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testutil::{ProjectBuilder, depends, service};

    #[test]
    fn dependencies_exclude_the_service_itself() {
        let mut web = service("nginx:1");
        web.depends_on.insert("db".into(), depends(false));
        let project = ProjectBuilder::new("demo")
            .service("db", service("postgres:16"))
            .service("web", web)
            .build();
        let deps: Vec<String> = dependencies(&project, "web").unwrap().into_iter().collect();
        assert_eq!(deps, ["db"]);
    }

    #[test]
    fn command_line_overrides_the_service() {
        let base = service("busybox:1");
        let opts = OneOff {
            command: vec!["echo".into(), "hi".into()],
            env: vec![("A".into(), Some("1".into()))],
            user: Some("nobody".into()),
            ..OneOff::default()
        };
        let svc = overridden(&base, &opts);
        assert_eq!(
            svc.command,
            Some(vec!["echo".to_string(), "hi".to_string()])
        );
        assert_eq!(svc.environment["A"].as_deref(), Some("1"));
        assert_eq!(svc.extra["user"], "nobody");
    }
}
