//! Runs a [`Plan`] against the runtime: each op once every op in its `after`
//! list is done, independent ops in parallel (a few threads), reporting each
//! resource's progress the way `docker compose` prints it.
//!
//! A failed op stops the scheduling of new ops; those already running finish,
//! so no resource is left half-made by the executor itself.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::container_config::{ConfigError, Replica};
use super::hash::hash_service;
use super::observed::{LABEL_CONTAINER_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE};
use super::plan::{Action, Op, Plan, ResourceKind};
use super::{DiffOptions, PlannerError};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::{ContainerError, build, create};
use crate::runtime::image::{Image, ImageStore, Reference};
use crate::runtime::monitor;
use crate::runtime::network::store as netstore;
use crate::runtime::registry::{self, RegistriesConfig};
use crate::runtime::store::Store;
use crate::runtime::volume::{VolumeRequest, Volumes};
use crate::spec::model::{Condition, Project};

/// Ops run at once at most: enough to overlap container starts, few enough
/// not to swamp a small host.
const PARALLEL: usize = 4;
const POLL: Duration = Duration::from_millis(50);
/// How long a dependency may take to become healthy or to finish.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(600);

pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Plan(#[from] PlannerError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what}: {message}")]
    Runtime { what: String, message: String },
    #[error("dependency failed to start: container {container} is unhealthy")]
    Unhealthy { container: String },
    #[error("dependency failed to start: container {container} has no healthcheck configured")]
    NoHealthcheck { container: String },
    #[error("service {service:?} didn't complete successfully: exit {code}")]
    Failed { service: String, code: i32 },
    #[error("dependency {service:?} exited before it became {wanted} (exit {code})")]
    Exited {
        service: String,
        wanted: &'static str,
        code: i32,
    },
    #[error("dependency {service:?} has no container to wait on")]
    NoDependency { service: String },
    #[error("timed out after {}s waiting for {what}", .after.as_secs())]
    Timeout { what: String, after: Duration },
    #[error("service {service:?} is not in project {project:?}")]
    NoService { service: String, project: String },
}

fn runtime(what: impl Into<String>, e: impl std::fmt::Display) -> ExecError {
    ExecError::Runtime {
        what: what.into(),
        message: e.to_string(),
    }
}

/// Where progress goes; the CLI prints it, `watch` may log it.
pub trait Reporter: Sync {
    /// The plan `up` is about to execute.
    fn plan(&self, plan: &Plan);
    /// A resource reached `status` ("Created", "Started", "Recreated", ...).
    fn status(&self, kind: ResourceKind, name: &str, status: &str);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub diff: DiffOptions,
    pub pull: PullPolicy,
    /// Wait for every service to be running (healthy, if it has a check).
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// `--no-deps`: the services outside `diff.only` are not waited for.
    pub no_deps: bool,
}

#[derive(Debug)]
pub struct UpOutcome {
    pub plan: Plan,
}

/// `berth up`: observes, plans and executes; returns the executed plan.
pub fn up(
    root: &Path,
    project: &Project,
    opts: &UpOptions,
    reporter: &dyn Reporter,
) -> Result<UpOutcome, ExecError> {
    let store = Store::open(root).map_err(|e| runtime("opening the store", e))?;
    let _project_lock = super::repair::lock_project(&store, &project.name)?;
    super::repair::finish_recreates(&store, &project.name, reporter)?;
    let observed = super::observe::observe_project(root, project)?;
    let mut plan = super::diff(project, &observed, &opts.diff)?;
    if opts.pull == PullPolicy::Always {
        add_pulls(&mut plan, project);
    }
    reporter.plan(&plan);
    let narrowed = match &opts.diff.only {
        Some(only) if opts.no_deps => Some(super::select::without_others(project, only)),
        _ => None,
    };
    execute(
        &store,
        narrowed.as_ref().unwrap_or(project),
        &plan,
        opts.pull,
        reporter,
    )?;
    if opts.wait {
        wait_all(&store, project, opts)?;
    }
    Ok(UpOutcome { plan })
}

/// `--pull always`: a pull of every image first, which the creates wait on.
fn add_pulls(plan: &mut Plan, project: &Project) {
    let images: std::collections::BTreeSet<&str> = project
        .services
        .values()
        .filter_map(|s| s.image.as_deref())
        .collect();
    let planned: HashSet<String> = plan
        .ops
        .iter()
        .filter(|o| o.action == Action::Pull)
        .map(|o| o.name.clone())
        .collect();
    let mut ops = Vec::new();
    for image in images.into_iter().filter(|i| !planned.contains(*i)) {
        ops.push(Op {
            id: ops.len(),
            action: Action::Pull,
            kind: ResourceKind::Image,
            name: image.to_string(),
            service: None,
            number: None,
            cause: "--pull always".into(),
            after: Vec::new(),
        });
    }
    let shift = ops.len();
    for mut op in plan.ops.drain(..) {
        op.id += shift;
        op.after = op.after.iter().map(|a| a + shift).collect();
        if matches!(op.action, Action::Create | Action::Recreate) {
            op.after.extend(0..shift);
        }
        ops.push(op);
    }
    plan.ops = ops;
}

/// Runs every op of `plan`, each after the ops it waits on.
pub fn execute(
    store: &Store,
    project: &Project,
    plan: &Plan,
    pull: PullPolicy,
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    let ctx = Ctx {
        store,
        project,
        pull,
        reporter,
        images: Mutex::new(BTreeMap::new()),
    };
    let mut done = vec![false; plan.ops.len()];
    let mut started = vec![false; plan.ops.len()];
    let mut running = 0usize;
    let mut failure: Option<ExecError> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<(), ExecError>)>();
        loop {
            if failure.is_none() {
                for op in &plan.ops {
                    if running >= PARALLEL {
                        break;
                    }
                    let ready = op
                        .after
                        .iter()
                        .all(|&a| done.get(a).copied().unwrap_or(true));
                    if started[op.id] || !ready {
                        continue;
                    }
                    started[op.id] = true;
                    running += 1;
                    let tx = tx.clone();
                    let ctx = &ctx;
                    scope.spawn(move || {
                        // A panic must still answer, or the loop waits forever.
                        let run = std::panic::AssertUnwindSafe(|| ctx.run(op));
                        let result = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                            Err(runtime(
                                format!("{} {}", op.kind.as_str(), op.name),
                                "internal error (see the message above)",
                            ))
                        });
                        let _ = tx.send((op.id, result));
                    });
                }
            }
            if running == 0 {
                break;
            }
            let Ok((id, result)) = rx.recv() else { break };
            running -= 1;
            match result {
                Ok(()) => done[id] = true,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
    });
    failure.map_or(Ok(()), Err)
}

/// Blocks until every dependency of `service` meets its depends_on condition
/// (`stack run` starts its one-off after this).
pub fn wait_for_dependencies(
    store: &Store,
    project: &Project,
    service: &str,
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    let ctx = Ctx {
        store,
        project,
        pull: PullPolicy::Never,
        reporter,
        images: Mutex::new(BTreeMap::new()),
    };
    ctx.wait_dependencies(service)
}

struct Ctx<'a> {
    store: &'a Store,
    project: &'a Project,
    pull: PullPolicy,
    reporter: &'a dyn Reporter,
    images: Mutex<BTreeMap<String, Image>>,
}

impl Ctx<'_> {
    fn run(&self, op: &Op) -> Result<(), ExecError> {
        match (op.kind, op.action) {
            (ResourceKind::Network, Action::Create) => self.create_network(&op.name),
            (ResourceKind::Volume, Action::Create) => self.create_volume(&op.name),
            (ResourceKind::Image, Action::Pull) => self.pull(&op.name).map(drop),
            (ResourceKind::Container, Action::Create) => self.create(op).map(drop),
            (ResourceKind::Container, Action::Start) => self.start(op),
            (ResourceKind::Container, Action::Recreate) => self.recreate(op),
            (ResourceKind::Container, Action::Restart) => self.restart(op),
            (ResourceKind::Container, Action::Stop) => self.stop(&op.name),
            (ResourceKind::Container, Action::Remove) => self.remove(&op.name),
            (kind, action) => Err(runtime(
                format!("{} {}", kind.as_str(), op.name),
                format!("berth cannot {action:?} a {}", kind.as_str()),
            )),
        }
    }

    fn status(&self, kind: ResourceKind, name: &str, status: &str) {
        self.reporter.status(kind, name, status);
    }

    fn create_network(&self, name: &str) -> Result<(), ExecError> {
        let (key, net) = self
            .project
            .networks
            .iter()
            .find(|(_, n)| n.name == name)
            .ok_or_else(|| runtime(format!("network {name}"), "not declared in the project"))?;
        self.status(ResourceKind::Network, name, "Creating");
        let mut labels = net.labels.clone();
        labels.insert(LABEL_PROJECT.into(), self.project.name.clone());
        labels.insert(LABEL_NETWORK.into(), key.clone());
        let req = netstore::CreateRequest {
            name: name.to_string(),
            driver: net.driver.clone().unwrap_or_else(|| "bridge".into()),
            labels,
            internal: net.internal,
            ..netstore::CreateRequest::default()
        };
        match netstore::create(self.store, req) {
            Ok(_) => {}
            // Made meanwhile (another up, or a crash after the create): fine.
            Err(crate::runtime::network::NetworkError::NameInUse { .. }) => {}
            Err(e) => return Err(runtime(format!("network {name}"), e)),
        }
        self.status(ResourceKind::Network, name, "Created");
        Ok(())
    }

    fn create_volume(&self, name: &str) -> Result<(), ExecError> {
        let (key, vol) = self
            .project
            .volumes
            .iter()
            .find(|(_, v)| v.name == name)
            .ok_or_else(|| runtime(format!("volume {name}"), "not declared in the project"))?;
        let mut labels = vol.labels.clone();
        labels.insert(LABEL_PROJECT.into(), self.project.name.clone());
        labels.insert(LABEL_VOLUME.into(), key.clone());
        let req = VolumeRequest {
            name: Some(name.to_string()),
            driver: vol.driver.clone().unwrap_or_default(),
            labels,
            options: BTreeMap::new(),
        };
        let vols = Volumes::lock(self.store).map_err(|e| runtime(format!("volume {name}"), e))?;
        vols.create(&req)
            .map_err(|e| runtime(format!("volume {name}"), e))?;
        self.status(ResourceKind::Volume, name, "Created");
        Ok(())
    }

    fn pull(&self, name: &str) -> Result<Image, ExecError> {
        let what = || format!("image {name}");
        let reference = Reference::parse(name).map_err(|e| runtime(what(), e))?;
        self.status(ResourceKind::Image, name, "Pulling");
        let registries = RegistriesConfig::load().map_err(|e| runtime(what(), e))?;
        registry::pull::pull(self.store, &registries, &reference, None, &Quiet)
            .map_err(|e| runtime(what(), e))?;
        self.status(ResourceKind::Image, name, "Pulled");
        let image = ImageStore::new(self.store)
            .resolve(&reference.to_string())
            .map_err(|e| runtime(what(), e))?;
        self.cache(name, &image);
        Ok(image)
    }

    fn cache(&self, name: &str, image: &Image) {
        if let Ok(mut images) = self.images.lock() {
            images.insert(name.to_string(), image.clone());
        }
    }

    fn image(&self, name: &str) -> Result<Image, ExecError> {
        if let Some(image) = self.images.lock().ok().and_then(|i| i.get(name).cloned()) {
            return Ok(image);
        }
        match ImageStore::new(self.store).resolve(name) {
            Ok(image) => {
                self.cache(name, &image);
                Ok(image)
            }
            Err(e) if e.is_not_found() && self.pull != PullPolicy::Never => self.pull(name),
            Err(e) => Err(runtime(format!("image {name}"), e)),
        }
    }

    fn service_of<'o>(&self, op: &'o Op) -> Result<(&'o str, u32), ExecError> {
        let service = op.service.as_deref().unwrap_or_default();
        if !self.project.services.contains_key(service) {
            return Err(ExecError::NoService {
                service: service.to_string(),
                project: self.project.name.clone(),
            });
        }
        Ok((service, op.number.unwrap_or(1)))
    }

    /// Creates the container of `op` under `name`, connected to all its networks.
    fn create_named(&self, op: &Op, name: &str) -> Result<Container, ExecError> {
        let (service_name, number) = self.service_of(op)?;
        let service = &self.project.services[service_name];
        let image_ref = service
            .image
            .clone()
            .ok_or_else(|| runtime(format!("service {service_name:?}"), "has no image to run"))?;
        let image = self.image(&image_ref)?;
        let hash = hash_service(service).map_err(|source| PlannerError::Serialize {
            service: service_name.to_string(),
            source,
        })?;
        let replica = Replica {
            project: self.project,
            name: service_name,
            service,
            number,
            hash: &hash,
        };
        let built = replica.build(&image)?;
        let what = || format!("container {name}");
        let record = build::create_container(
            self.store,
            Some(name.to_string()),
            &image_ref,
            &image,
            built.config,
        )
        .map_err(|e| runtime(what(), e))?;
        let container = lifecycle::load(self.store, &record.id).map_err(|e| runtime(what(), e))?;
        for extra in &built.extra_networks {
            if let Err(e) = self.connect(&container, extra) {
                let _ = lifecycle::remove(self.store, &container, true);
                return Err(e);
            }
        }
        Ok(container)
    }

    fn connect(
        &self,
        c: &Container,
        a: &super::container_config::Attachment,
    ) -> Result<(), ExecError> {
        let what = || format!("container {} on network {}", c.record.name, a.network);
        let network = netstore::resolve(self.store, &a.network).map_err(|e| runtime(what(), e))?;
        let ip = crate::runtime::network::endpoint::parse_ip(a.ip.as_deref())
            .map_err(|e| runtime(what(), e))?;
        crate::runtime::network::connect(self.store, c, &network, ip, &a.aliases)
            .map_err(|e| runtime(what(), e))
    }

    fn create(&self, op: &Op) -> Result<Container, ExecError> {
        self.status(ResourceKind::Container, &op.name, "Creating");
        let c = self.create_named(op, &op.name)?;
        self.status(ResourceKind::Container, &op.name, "Created");
        Ok(c)
    }

    fn start(&self, op: &Op) -> Result<(), ExecError> {
        let (service, _) = self.service_of(op)?;
        self.wait_dependencies(service)?;
        let c = self.find(&op.name)?;
        if c.is_running() {
            self.status(ResourceKind::Container, &op.name, "Running");
            return Ok(());
        }
        self.status(ResourceKind::Container, &op.name, "Starting");
        monitor::start_detached(self.store, &c.record)
            .map_err(|e| runtime(format!("container {}", op.name), e))?;
        self.status(ResourceKind::Container, &op.name, "Started");
        Ok(())
    }

    /// The new container is made first, under a temporary name, so a failed
    /// create leaves the old one running.
    fn recreate(&self, op: &Op) -> Result<(), ExecError> {
        let (service, number) = self.service_of(op)?;
        let old = self.replica(service, number)?;
        self.status(ResourceKind::Container, &op.name, "Recreate");
        let temp = match &old {
            Some(c) => format!("{}_{}", &c.record.id[..12], op.name),
            None => op.name.clone(),
        };
        let new = self.create_named(op, &temp)?;
        if let Some(old) = old {
            self.stop_container(&old)?;
            lifecycle::remove(self.store, &old, true)
                .map_err(|e| runtime(format!("container {}", old.record.name), e))?;
            create::rename(self.store, &new.record, &op.name)
                .map_err(|e| runtime(format!("container {temp}"), e))?;
        }
        self.status(ResourceKind::Container, &op.name, "Recreated");
        self.wait_dependencies(service)?;
        let new = self.find(&op.name)?;
        monitor::start_detached(self.store, &new.record)
            .map_err(|e| runtime(format!("container {}", op.name), e))?;
        self.status(ResourceKind::Container, &op.name, "Started");
        Ok(())
    }

    /// `restart: true`: stopped, then started once its dependencies (just
    /// recreated or restarted) meet their conditions again.
    fn restart(&self, op: &Op) -> Result<(), ExecError> {
        let (service, _) = self.service_of(op)?;
        let c = self.find(&op.name)?;
        self.status(ResourceKind::Container, &op.name, "Restarting");
        self.stop_container(&c)?;
        self.wait_dependencies(service)?;
        let c = self.find(&op.name)?;
        monitor::start_detached(self.store, &c.record)
            .map_err(|e| runtime(format!("container {}", op.name), e))?;
        self.status(ResourceKind::Container, &op.name, "Started");
        Ok(())
    }

    fn stop(&self, name: &str) -> Result<(), ExecError> {
        let c = self.find(name)?;
        self.status(ResourceKind::Container, name, "Stopping");
        self.stop_container(&c)?;
        self.status(ResourceKind::Container, name, "Stopped");
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), ExecError> {
        let c = match self.find(name) {
            Ok(c) => c,
            Err(_) => return Ok(()),
        };
        self.status(ResourceKind::Container, name, "Stopping");
        self.stop_container(&c)?;
        self.status(ResourceKind::Container, name, "Removing");
        lifecycle::remove(self.store, &c, true)
            .map_err(|e| runtime(format!("container {name}"), e))?;
        self.status(ResourceKind::Container, name, "Removed");
        Ok(())
    }

    fn stop_container(&self, c: &Container) -> Result<(), ExecError> {
        let timeout = Duration::from_secs(c.record.config.stop_timeout.unwrap_or(10));
        lifecycle::stop(self.store, c, timeout)
            .map_err(|e| runtime(format!("container {}", c.record.name), e))
    }

    fn find(&self, name: &str) -> Result<Container, ExecError> {
        lifecycle::find(self.store, name).map_err(|e| runtime(format!("container {name}"), e))
    }

    fn replica(&self, service: &str, number: u32) -> Result<Option<Container>, ExecError> {
        Ok(service_containers(self.store, &self.project.name, service)?
            .into_iter()
            .find(|c| label(c, LABEL_CONTAINER_NUMBER) == Some(&number.to_string())))
    }

    /// Blocks until every dependency of `service` meets its condition.
    fn wait_dependencies(&self, service: &str) -> Result<(), ExecError> {
        let Some(svc) = self.project.services.get(service) else {
            return Ok(());
        };
        for (dep, d) in &svc.depends_on {
            if !self.project.services.contains_key(dep) && !d.required {
                continue;
            }
            if d.condition == Condition::ServiceStarted {
                continue;
            }
            let containers = service_containers(self.store, &self.project.name, dep)?;
            if containers.is_empty() {
                if !d.required {
                    continue;
                }
                return Err(ExecError::NoDependency {
                    service: dep.clone(),
                });
            }
            for c in containers {
                match d.condition {
                    Condition::ServiceHealthy => self.wait_healthy(dep, &c.record.id)?,
                    Condition::ServiceCompletedSuccessfully => {
                        self.wait_completed(dep, &c.record.id)?
                    }
                    Condition::ServiceStarted => {}
                }
            }
        }
        Ok(())
    }

    fn wait_healthy(&self, service: &str, id: &str) -> Result<(), ExecError> {
        self.status(ResourceKind::Container, service, "Waiting");
        let start = Instant::now();
        loop {
            let c = lifecycle::load(self.store, id).map_err(|e| runtime(service, e))?;
            let name = c.record.name.clone();
            if c.record.config.healthcheck.is_none() {
                return Err(ExecError::NoHealthcheck { container: name });
            }
            match c.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("healthy") => {
                    self.status(ResourceKind::Container, &name, "Healthy");
                    return Ok(());
                }
                Some("unhealthy") => return Err(ExecError::Unhealthy { container: name }),
                _ => {}
            }
            if !c.is_running()
                && c.state.status != crate::runtime::container::record::Status::Created
            {
                return Err(ExecError::Exited {
                    service: service.to_string(),
                    wanted: "healthy",
                    code: c.state.exit_code,
                });
            }
            if start.elapsed() > DEPENDENCY_TIMEOUT {
                return Err(ExecError::Timeout {
                    what: format!("container {name} to be healthy"),
                    after: DEPENDENCY_TIMEOUT,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait_completed(&self, service: &str, id: &str) -> Result<(), ExecError> {
        let start = Instant::now();
        loop {
            let c = lifecycle::load(self.store, id).map_err(|e| runtime(service, e))?;
            let status = c.state.status;
            use crate::runtime::container::record::Status;
            if matches!(status, Status::Exited | Status::Dead) {
                if c.state.exit_code != 0 {
                    return Err(ExecError::Failed {
                        service: service.to_string(),
                        code: c.state.exit_code,
                    });
                }
                self.status(ResourceKind::Container, &c.record.name, "Exited");
                return Ok(());
            }
            if start.elapsed() > DEPENDENCY_TIMEOUT {
                return Err(ExecError::Timeout {
                    what: format!("container {} to complete", c.record.name),
                    after: DEPENDENCY_TIMEOUT,
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

fn is_oneoff(c: &Container) -> bool {
    label(c, LABEL_ONEOFF).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn label<'c>(c: &'c Container, key: &str) -> Option<&'c String> {
    c.record.config.labels.get(key)
}

/// The service's stack containers (not one-offs), in no particular order.
pub fn service_containers(
    store: &Store,
    project: &str,
    service: &str,
) -> Result<Vec<Container>, ExecError> {
    Ok(project_containers(store, project)?
        .into_iter()
        .filter(|c| label(c, LABEL_SERVICE).map(String::as_str) == Some(service))
        .filter(|c| !is_oneoff(c))
        .collect())
}

/// Every container labeled with `project`, one-offs included.
pub fn project_containers(store: &Store, project: &str) -> Result<Vec<Container>, ExecError> {
    let all = lifecycle::list(store).map_err(|e| runtime("listing containers", e))?;
    Ok(all
        .into_iter()
        .filter(|c| label(c, LABEL_PROJECT).map(String::as_str) == Some(project))
        .collect())
}

/// `--wait`: every service's containers running, and healthy where checked.
fn wait_all(store: &Store, project: &Project, opts: &UpOptions) -> Result<(), ExecError> {
    let start = Instant::now();
    let limit = opts.wait_timeout.unwrap_or(DEPENDENCY_TIMEOUT);
    let planned = |c: &Container| label(c, LABEL_SERVICE).is_some_and(|s| opts.diff.plans(s));
    loop {
        let mut pending = None;
        let stack = project_containers(store, &project.name)?;
        // One-offs (`stack run`) are not the stack's to wait for.
        for c in stack.into_iter().filter(|c| !is_oneoff(c) && planned(c)) {
            let oneshot = c.record.config.restart_policy == "no";
            let health = c.state.health.as_ref().map(|h| h.status.as_str());
            match (c.is_running(), health) {
                (true, None | Some("healthy")) => {}
                (true, Some("unhealthy")) => {
                    return Err(ExecError::Unhealthy {
                        container: c.record.name.clone(),
                    });
                }
                (false, _) if oneshot && c.state.exit_code == 0 => {}
                (false, _)
                    if c.state.status != crate::runtime::container::record::Status::Created =>
                {
                    return Err(ExecError::Exited {
                        service: label(&c, LABEL_SERVICE).cloned().unwrap_or_default(),
                        wanted: "running",
                        code: c.state.exit_code,
                    });
                }
                _ => pending = Some(c.record.name.clone()),
            }
        }
        let Some(name) = pending else { return Ok(()) };
        if start.elapsed() > limit {
            return Err(ExecError::Timeout {
                what: format!("container {name}"),
                after: limit,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Pull progress is not shown per layer in a stack: the image line says it.
struct Quiet;

impl registry::progress::Progress for Quiet {
    fn line(&self, _text: &str) {}
    fn layer(&self, _id: &str, _status: registry::progress::LayerStatus, _total: u64) {}
    fn bytes(&self, _id: &str, _done: u64) {}
}

impl From<ContainerError> for ExecError {
    fn from(e: ContainerError) -> ExecError {
        runtime("container", e)
    }
}
