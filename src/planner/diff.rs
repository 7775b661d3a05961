//! Compares the desired graph with the observed state and produces a [`Plan`].
//!
//! Services are visited dependencies first, so when a service is planned the op
//! ids its dependencies produced (their creates, starts, recreates) are known and
//! can be used as `after` edges, and a recreated dependency is known before its
//! `restart: true` dependents are judged. Every op therefore only points at
//! earlier ops, which keeps the plan acyclic by construction.
//!
//! Cost is linear in services + containers + edges: observed containers are grouped
//! by service once, and a service's config is hashed once, and only when it has
//! containers to compare with (hashing is the most expensive step).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::PlannerError;
use super::changes;
use super::graph::{DesiredGraph, ServiceNode};
use super::hash::{ConfigHash, hash_service};
use super::observed::{ContainerStatus, Observed, ObservedContainer};
use super::plan::{Action, Op, PLAN_VERSION, Plan, ResourceKind};
use crate::spec::model::{Project, Service};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Remove containers of services that are no longer in the stack.
    pub remove_orphans: bool,
    /// Recreate every existing container, changed or not.
    pub force_recreate: bool,
    /// Never recreate; changed containers are left as they are (started if stopped).
    pub no_recreate: bool,
    /// Replica counts that override the stack file (`--scale web=3`).
    pub scale: BTreeMap<String, u32>,
    /// `up SERVICE...`: only these services are planned (their dependencies
    /// already added by [`super::select::services`]); `None` plans them all.
    pub only: Option<BTreeSet<String>>,
}

impl DiffOptions {
    /// Whether `service` is part of this run.
    pub fn plans(&self, service: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(service))
    }
}

/// The container name of one replica: `container_name` when the service sets it,
/// else `<project>-<service>-<number>`.
pub fn container_name(project: &str, service_name: &str, service: &Service, number: u32) -> String {
    match fixed_name(service) {
        Some(name) => name.to_string(),
        None => format!("{project}-{service_name}-{number}"),
    }
}

fn fixed_name(service: &Service) -> Option<&str> {
    service.extra.get("container_name").and_then(Value::as_str)
}

/// Plans the operations that take `observed` to what `project` describes.
pub fn diff(
    project: &Project,
    observed: &Observed,
    opts: &DiffOptions,
) -> Result<Plan, PlannerError> {
    if opts.force_recreate && opts.no_recreate {
        return Err(PlannerError::ConflictingOptions);
    }
    let graph = DesiredGraph::with_scale(project, &opts.scale)?;
    let index = ContainerIndex::new(&project.name, &observed.containers);
    let mut planner = Planner::new(project, observed, opts);
    planner.plan_networks(&graph);
    planner.plan_volumes(&graph);
    planner.plan_images(&graph);
    for name in graph.service_order().iter().filter(|n| opts.plans(n)) {
        if let (Some(service), Some(node)) = (project.services.get(name), graph.service(name)) {
            planner.plan_service(name, service, node, index.of(name))?;
        }
    }
    planner.plan_orphans(index.orphans(project));
    Ok(planner.finish())
}

/// This project's non-oneoff containers grouped by service, each group sorted by
/// replica number with the best candidate (alive, then by id) first per number.
struct ContainerIndex<'a> {
    by_service: HashMap<&'a str, Vec<&'a ObservedContainer>>,
}

impl<'a> ContainerIndex<'a> {
    fn new(project: &str, containers: &'a [ObservedContainer]) -> ContainerIndex<'a> {
        let mut by_service: HashMap<&str, Vec<&ObservedContainer>> = HashMap::new();
        for c in containers
            .iter()
            .filter(|c| c.project == project && !c.oneoff)
        {
            by_service.entry(c.service.as_str()).or_default().push(c);
        }
        for group in by_service.values_mut() {
            group.sort_by(|a, b| {
                (a.number, !a.status.is_alive(), &a.id).cmp(&(
                    b.number,
                    !b.status.is_alive(),
                    &b.id,
                ))
            });
        }
        ContainerIndex { by_service }
    }

    fn of(&self, service: &str) -> &[&'a ObservedContainer] {
        self.by_service.get(service).map_or(&[], Vec::as_slice)
    }

    fn orphans(&self, project: &Project) -> Vec<&'a ObservedContainer> {
        let mut out: Vec<&ObservedContainer> = self
            .by_service
            .iter()
            .filter(|(service, _)| !project.services.contains_key(**service))
            .flat_map(|(_, group)| group.iter().copied())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// The ops one service produced, for its dependents to wait on.
#[derive(Debug, Default)]
struct Outcome {
    /// Ops after which each replica is running (start or recreate).
    ready: Vec<usize>,
    /// Ops after which each replica exists (create or recreate).
    exists: Vec<usize>,
    recreated: bool,
    /// How running containers of the service were replaced or restarted
    /// ("recreated", "started", "restarted"), for `restart: true` dependents.
    changed: Option<&'static str>,
}

/// Per-service inputs shared by all its replicas.
struct ServiceCtx<'s> {
    name: &'s str,
    service: &'s Service,
    replicas: u32,
    /// Only computed when the service has containers to compare against, since
    /// hashing is the most expensive step and a new service needs no hash.
    hash: Option<ConfigHash>,
    image: Option<&'s str>,
    oneshot: bool,
    /// A service whose namespaces this one joins that is being recreated.
    dep_recreated: Option<&'s str>,
    /// Why a running container is restarted: a `restart: true` dependency
    /// was recreated, started or restarted in this plan.
    dep_restart: Option<String>,
    create_after: Vec<usize>,
    start_after: Vec<usize>,
    create_cause: String,
}

enum Verdict {
    Keep,
    Start,
    Recreate(String),
}

struct Planner<'a> {
    project: &'a Project,
    observed: &'a Observed,
    opts: &'a DiffOptions,
    ops: Vec<Op>,
    unchanged: Vec<String>,
    orphans: Vec<String>,
    network_ops: HashMap<String, usize>,
    volume_ops: HashMap<String, usize>,
    image_ops: HashMap<String, usize>,
    outcomes: HashMap<String, Outcome>,
}

impl<'a> Planner<'a> {
    fn new(project: &'a Project, observed: &'a Observed, opts: &'a DiffOptions) -> Planner<'a> {
        Planner {
            project,
            observed,
            opts,
            ops: Vec::new(),
            unchanged: Vec::new(),
            orphans: Vec::new(),
            network_ops: HashMap::new(),
            volume_ops: HashMap::new(),
            image_ops: HashMap::new(),
            outcomes: HashMap::new(),
        }
    }

    fn finish(self) -> Plan {
        Plan {
            version: PLAN_VERSION,
            project: self.project.name.clone(),
            observed_fingerprint: self.observed.fingerprint(),
            ops: self.ops,
            unchanged: self.unchanged,
            orphans: self.orphans,
        }
    }

    /// Appends an op, assigning its id and normalizing its `after` list.
    fn push(&mut self, mut op: Op) -> usize {
        let id = self.ops.len();
        op.id = id;
        op.after.sort_unstable();
        op.after.dedup();
        self.ops.push(op);
        id
    }

    fn plan_networks(&mut self, graph: &DesiredGraph) {
        let present: HashSet<&str> = self.observed.networks.iter().map(String::as_str).collect();
        for key in used_keys(graph, self.opts, |node| &node.networks) {
            let Some(net) = self.project.networks.get(key) else {
                continue;
            };
            let kind = ResourceKind::Network;
            if let Some(id) = self.ensure(kind, &net.name, net.external, &present) {
                self.network_ops.insert(key.to_string(), id);
            }
        }
    }

    fn plan_volumes(&mut self, graph: &DesiredGraph) {
        let present: HashSet<&str> = self.observed.volumes.iter().map(String::as_str).collect();
        for key in used_keys(graph, self.opts, |node| &node.volumes) {
            let Some(vol) = self.project.volumes.get(key) else {
                continue;
            };
            let kind = ResourceKind::Volume;
            if let Some(id) = self.ensure(kind, &vol.name, vol.external, &present) {
                self.volume_ops.insert(key.to_string(), id);
            }
        }
    }

    /// A create op for a missing network or volume. External ones are the user's
    /// to provide, so they get no op (and are not counted as unchanged either).
    fn ensure(
        &mut self,
        kind: ResourceKind,
        name: &str,
        external: bool,
        present: &HashSet<&str>,
    ) -> Option<usize> {
        if external {
            return None;
        }
        if present.contains(name) {
            self.unchanged.push(name.to_string());
            return None;
        }
        Some(self.push(resource_op(Action::Create, kind, name, "not found")))
    }

    /// One pull per missing image reference, shared by every service using it. An
    /// image only built or never pulled gets no op; creating its containers will
    /// report it missing if the build did not provide it.
    fn plan_images(&mut self, graph: &DesiredGraph) {
        let mut wanted: BTreeMap<&str, bool> = BTreeMap::new();
        let planned = graph.services().iter().filter(|(n, _)| self.opts.plans(n));
        for node in planned.map(|(_, node)| node).filter(|n| n.replicas > 0) {
            if let Some(image) = node.image.as_deref() {
                *wanted.entry(image).or_default() |= node.pullable;
            }
        }
        for (image, pullable) in wanted {
            if self.observed.images.contains_key(image) {
                self.unchanged.push(image.to_string());
            } else if pullable {
                let id = self.push(resource_op(
                    Action::Pull,
                    ResourceKind::Image,
                    image,
                    "image not present",
                ));
                self.image_ops.insert(image.to_string(), id);
            }
        }
    }

    fn plan_service(
        &mut self,
        name: &str,
        service: &Service,
        node: &ServiceNode,
        existing: &[&ObservedContainer],
    ) -> Result<(), PlannerError> {
        let ctx = self.service_ctx(name, service, node, existing)?;
        let mut outcome = Outcome::default();
        let (by_number, extra) = place_containers(existing, ctx.replicas);
        for number in 1..=ctx.replicas {
            self.plan_replica(&ctx, number, by_number.get(&number).copied(), &mut outcome);
        }
        for (c, cause) in extra {
            self.push(Replica::of(c).op(Action::Remove, cause, Vec::new()));
        }
        self.outcomes.insert(name.to_string(), outcome);
        Ok(())
    }

    fn service_ctx<'s>(
        &self,
        name: &'s str,
        service: &'s Service,
        node: &'s ServiceNode,
        existing: &[&ObservedContainer],
    ) -> Result<ServiceCtx<'s>, PlannerError> {
        if let Some(fixed) = fixed_name(service).filter(|_| node.replicas > 1) {
            return Err(PlannerError::ContainerNameWithReplicas {
                service: name.to_string(),
                name: fixed.to_string(),
                replicas: node.replicas,
            });
        }
        let hash = if existing.is_empty() {
            None
        } else {
            let hashed = hash_service(service).map_err(|source| PlannerError::Serialize {
                service: name.to_string(),
                source,
            })?;
            Some(hashed)
        };
        let (create_after, start_after) = self.dependency_edges(node);
        Ok(ServiceCtx {
            name,
            service,
            replicas: node.replicas,
            hash,
            image: node.image.as_deref(),
            oneshot: is_oneshot(service),
            dep_recreated: self.recreated_dependency(service, node),
            dep_restart: self.restart_cause(node),
            create_after,
            start_after,
            create_cause: if existing.is_empty() {
                "new service".to_string()
            } else {
                format!("scale up to {}", node.replicas)
            },
        })
    }

    /// `after` lists for creating and for starting this service's containers. A
    /// create waits for its networks, volumes and image, plus the containers whose
    /// namespaces or volumes it takes over; a start waits for every dependency to
    /// be started.
    fn dependency_edges(&self, node: &ServiceNode) -> (Vec<usize>, Vec<usize>) {
        let mut create: Vec<usize> = Vec::new();
        create.extend(node.networks.iter().filter_map(|k| self.network_ops.get(k)));
        create.extend(node.volumes.iter().filter_map(|k| self.volume_ops.get(k)));
        create.extend(node.image.iter().filter_map(|r| self.image_ops.get(r)));
        let mut start: Vec<usize> = Vec::new();
        for dep in &node.deps {
            let Some(outcome) = self.outcomes.get(&dep.target) else {
                continue;
            };
            start.extend(&outcome.ready);
            if dep.source.needs_running_at_create() {
                create.extend(&outcome.ready);
            } else if dep.source.needs_existing_at_create() {
                create.extend(&outcome.exists);
            }
        }
        (create, start)
    }

    /// A joined namespace dies with its owner: a recreated owner means a
    /// recreate, not a restart.
    fn recreated_dependency<'s>(
        &self,
        service: &Service,
        node: &'s ServiceNode,
    ) -> Option<&'s str> {
        node.deps
            .iter()
            .filter(|dep| shares_namespace(service, &dep.target))
            .find(|dep| self.outcomes.get(&dep.target).is_some_and(|o| o.recreated))
            .map(|dep| dep.target.as_str())
    }

    /// compose's `restart: true`: the cause when a dependency changed.
    fn restart_cause(&self, node: &ServiceNode) -> Option<String> {
        node.deps.iter().filter(|dep| dep.restart).find_map(|dep| {
            let how = self.outcomes.get(&dep.target)?.changed?;
            Some(format!("restart: dependency {} was {how}", dep.target))
        })
    }

    fn plan_replica(
        &mut self,
        ctx: &ServiceCtx,
        number: u32,
        existing: Option<&ObservedContainer>,
        outcome: &mut Outcome,
    ) {
        let replica = Replica {
            name: container_name(&self.project.name, ctx.name, ctx.service, number),
            service: ctx.name,
            number,
        };
        let Some(current) = existing else {
            let create = self.push(replica.op(
                Action::Create,
                ctx.create_cause.clone(),
                ctx.create_after.clone(),
            ));
            let after = [ctx.start_after.as_slice(), &[create]].concat();
            let start = self.push(replica.op(Action::Start, "start new container".into(), after));
            outcome.exists.push(create);
            outcome.ready.push(start);
            return;
        };
        match self.judge(current, ctx) {
            Verdict::Keep => match ctx.dep_restart.clone() {
                Some(cause) if current.status.is_alive() => {
                    let op = replica.op(Action::Restart, cause, ctx.start_after.clone());
                    outcome.ready.push(self.push(op));
                    outcome.changed = Some("restarted");
                }
                _ => self.unchanged.push(current.name.clone()),
            },
            Verdict::Start => {
                let cause = "container is not running".to_string();
                let op = replica.op(Action::Start, cause, ctx.start_after.clone());
                outcome.ready.push(self.push(op));
                outcome.changed.get_or_insert("started");
            }
            Verdict::Recreate(cause) => {
                // The replacement is created before the old container goes, so it
                // needs everything a create needs, and it starts, so it also
                // waits for its dependencies to be up.
                let after = [ctx.create_after.as_slice(), &ctx.start_after].concat();
                let id = self.push(replica.op(Action::Recreate, cause, after));
                outcome.ready.push(id);
                outcome.exists.push(id);
                outcome.recreated = true;
                outcome.changed = Some("recreated");
            }
        }
    }

    fn judge(&self, current: &ObservedContainer, ctx: &ServiceCtx) -> Verdict {
        if self.opts.force_recreate {
            return Verdict::Recreate("--force-recreate".to_string());
        }
        if !self.opts.no_recreate
            && let Some(cause) = self.recreate_cause(current, ctx)
        {
            return Verdict::Recreate(cause);
        }
        let finished_ok = ctx.oneshot && current.status == ContainerStatus::Exited { code: 0 };
        if current.status.is_alive() || finished_ok {
            Verdict::Keep
        } else {
            Verdict::Start
        }
    }

    fn recreate_cause(&self, current: &ObservedContainer, ctx: &ServiceCtx) -> Option<String> {
        let hash = ctx.hash.as_ref()?;
        if current.config_hash != hash.value {
            return Some(config_change_cause(current, hash));
        }
        // The reference was resolved once, from the local store, by observe.
        if let (Some(image), Some(have)) = (ctx.image, current.image_id.as_deref())
            && let Some(now) = self.observed.images.get(image).filter(|now| *now != have)
        {
            return Some(format!("image: {} -> {}", short_id(have), short_id(now)));
        }
        ctx.dep_recreated
            .map(|dep| format!("dependency {dep} recreated"))
    }

    fn plan_orphans(&mut self, orphans: Vec<&ObservedContainer>) {
        for c in orphans {
            self.orphans.push(c.name.clone());
            if self.opts.remove_orphans {
                let cause = format!("orphan: service {} is not in the stack", c.service);
                self.push(Replica::of(c).op(Action::Remove, cause, Vec::new()));
            }
        }
    }
}

type Placed<'c> = (
    BTreeMap<u32, &'c ObservedContainer>,
    Vec<(&'c ObservedContainer, String)>,
);

/// Matches a service's containers to replica numbers. Containers beyond the
/// replica count, and all but the first container claiming a number (the index
/// sorted alive ones first), are returned for removal with their cause, highest
/// numbers first so an interrupted scale-down leaves a contiguous 1..n behind.
fn place_containers<'c>(existing: &[&'c ObservedContainer], replicas: u32) -> Placed<'c> {
    let mut placed = BTreeMap::new();
    let mut extra = Vec::new();
    for &c in existing {
        if c.number == 0 || c.number > replicas {
            extra.push((c, format!("scale down to {replicas}")));
            continue;
        }
        match placed.entry(c.number) {
            Entry::Vacant(slot) => {
                slot.insert(c);
            }
            Entry::Occupied(_) => extra.push((c, format!("duplicate of replica {}", c.number))),
        }
    }
    extra.sort_by(|a, b| (b.0.number, &b.0.id).cmp(&(a.0.number, &a.0.id)));
    (placed, extra)
}

/// Keys of the resources used by at least one service that runs containers, in
/// name order.
fn used_keys<'g>(
    graph: &'g DesiredGraph,
    opts: &DiffOptions,
    pick: impl Fn(&'g ServiceNode) -> &'g Vec<String>,
) -> BTreeSet<&'g str> {
    graph
        .services()
        .iter()
        .filter(|(name, node)| node.replicas > 0 && opts.plans(name))
        .map(|(_, node)| node)
        .flat_map(|node| pick(node).iter().map(String::as_str))
        .collect()
}

/// A container that is meant to run to completion: with no restart policy, or one
/// that only restarts on failure, a clean exit is its finished state.
fn is_oneshot(service: &Service) -> bool {
    match service.restart.as_deref() {
        None | Some("no") => true,
        Some(policy) => policy.starts_with("on-failure"),
    }
}

/// Whether `service` joins a namespace (network, ipc, pid) of `target`.
fn shares_namespace(service: &Service, target: &str) -> bool {
    [&service.network_mode, &service.ipc, &service.pid]
        .into_iter()
        .any(|mode| mode.as_deref().and_then(|m| m.strip_prefix("service:")) == Some(target))
}

/// Names the changed fields when the old canonical config is known; otherwise (or
/// when only the canonical form changed) shows both hashes shortened.
fn config_change_cause(current: &ObservedContainer, hash: &ConfigHash) -> String {
    current
        .canonical
        .as_ref()
        .and_then(|old| changes::describe(old, &hash.canonical))
        .unwrap_or_else(|| {
            format!(
                "config changed (hash {} -> {})",
                short_hash(&current.config_hash),
                short_hash(&hash.value)
            )
        })
}

/// An image id as `sha256:` and 12 hex digits, as docker shortens them.
fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

/// `v1:` plus the first 8 hex digits and an ellipsis; enough to tell hashes apart.
fn short_hash(hash: &str) -> String {
    if hash.is_empty() {
        return "(none)".to_string();
    }
    let (prefix, hex) = match hash.split_once(':') {
        Some((prefix, hex)) => (format!("{prefix}:"), hex),
        None => (String::new(), hash),
    };
    let head: String = hex.chars().take(8).collect();
    let ellipsis = if hex.chars().count() > 8 { "…" } else { "" };
    format!("{prefix}{head}{ellipsis}")
}

fn resource_op(action: Action, kind: ResourceKind, name: &str, cause: &str) -> Op {
    Op {
        id: 0,
        action,
        kind,
        name: name.to_string(),
        service: None,
        number: None,
        cause: cause.to_string(),
        after: Vec::new(),
    }
}

/// The container an op is about.
struct Replica<'r> {
    name: String,
    service: &'r str,
    number: u32,
}

impl<'r> Replica<'r> {
    fn of(container: &'r ObservedContainer) -> Replica<'r> {
        Replica {
            name: container.name.clone(),
            service: &container.service,
            number: container.number,
        }
    }

    fn op(&self, action: Action, cause: String, after: Vec<usize>) -> Op {
        Op {
            id: 0,
            action,
            kind: ResourceKind::Container,
            name: self.name.clone(),
            service: Some(self.service.to_string()),
            number: Some(self.number),
            cause,
            after,
        }
    }
}

#[cfg(test)]
mod tests;
