//! The desired graph: every network, volume, image and service replica the project
//! asks for, with edges pointing from a replica to what it needs.
//!
//! Two views are kept: a per-service summary ([`ServiceNode`]) that the diff reads
//! directly, and a petgraph [`DiGraph`] with one node per resource and replica for
//! consumers that want the whole picture (executor, `--format dot`, debugging).
//! Both are built from the same summaries, so they cannot disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use super::PlannerError;
use crate::spec::model::{Condition, Project, Service, VolumeKind};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// Top-level network key (not the real name).
    Network(String),
    /// Top-level volume key (not the real name).
    Volume(String),
    /// Image reference as written.
    Image(String),
    /// One container of a service; numbers start at 1.
    Replica { service: String, number: u32 },
}

/// Why one service waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DepSource {
    DependsOn,
    Link,
    VolumesFrom,
    NetworkMode,
    Ipc,
    Pid,
}

impl fmt::Display for DepSource {
    /// A verb phrase, used in messages like `service "a" links to "b"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DepSource::DependsOn => "depends on",
            DepSource::Link => "links to",
            DepSource::VolumesFrom => "takes volumes from",
            DepSource::NetworkMode => "uses the network of",
            DepSource::Ipc => "shares the ipc namespace of",
            DepSource::Pid => "shares the pid namespace of",
        })
    }
}

impl DepSource {
    /// Joining another container's namespaces needs that container running when
    /// this one is created, not merely when it starts.
    pub fn needs_running_at_create(self) -> bool {
        matches!(
            self,
            DepSource::NetworkMode | DepSource::Ipc | DepSource::Pid
        )
    }

    /// `volumes_from` copies mounts at create time, so the source must exist.
    pub fn needs_existing_at_create(self) -> bool {
        self == DepSource::VolumesFrom
    }
}

/// One service-level dependency edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceDep {
    pub target: String,
    pub source: DepSource,
    pub condition: Condition,
    pub required: bool,
    /// Recreate this service when the target is recreated.
    pub restart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Edge {
    Network,
    Volume,
    Image,
    Dependency(ServiceDep),
}

/// What one service needs, with references already checked against the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceNode {
    pub replicas: u32,
    /// One entry per target service, in a stable order.
    pub deps: Vec<ServiceDep>,
    /// Network keys.
    pub networks: Vec<String>,
    /// Named volume keys (anonymous volumes and binds are not resources).
    pub volumes: Vec<String>,
    pub image: Option<String>,
    /// Whether a missing image should be pulled; false for services that build
    /// their image or whose `pull_policy` forbids pulling.
    pub pullable: bool,
}

#[derive(Debug, Clone)]
pub struct DesiredGraph {
    graph: DiGraph<Node, Edge>,
    index: HashMap<Node, NodeIndex>,
    services: BTreeMap<String, ServiceNode>,
    order: Vec<String>,
    /// target -> services that depend on it directly.
    dependents: BTreeMap<String, Vec<String>>,
}

impl DesiredGraph {
    pub fn new(project: &Project) -> Result<DesiredGraph, PlannerError> {
        DesiredGraph::with_scale(project, &BTreeMap::new())
    }

    /// Like [`DesiredGraph::new`], with replica counts overridden per service.
    pub fn with_scale(
        project: &Project,
        scale: &BTreeMap<String, u32>,
    ) -> Result<DesiredGraph, PlannerError> {
        if let Some(unknown) = scale.keys().find(|s| !project.services.contains_key(*s)) {
            return Err(PlannerError::ScaleUnknownService {
                service: unknown.clone(),
            });
        }
        let mut services = BTreeMap::new();
        for (name, svc) in &project.services {
            let replicas = scale.get(name).copied().unwrap_or_else(|| svc.replicas());
            services.insert(name.clone(), service_node(project, name, svc, replicas)?);
        }
        let dependents = direct_dependents(&services);
        let order = topo_order(&services, &dependents)?;
        let (graph, index) = build_petgraph(&services);
        Ok(DesiredGraph {
            graph,
            index,
            services,
            order,
            dependents,
        })
    }

    pub fn graph(&self) -> &DiGraph<Node, Edge> {
        &self.graph
    }

    pub fn node_index(&self, node: &Node) -> Option<NodeIndex> {
        self.index.get(node).copied()
    }

    pub fn service(&self, name: &str) -> Option<&ServiceNode> {
        self.services.get(name)
    }

    pub fn services(&self) -> &BTreeMap<String, ServiceNode> {
        &self.services
    }

    /// Service names, every service after all the services it depends on; ties are
    /// broken by name so the order is the same on every run.
    pub fn service_order(&self) -> &[String] {
        &self.order
    }

    /// Every service that depends on `service`, directly or not, sorted by name.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        self.transitive_dependents(service, |_| true)
    }

    /// The services that must be recreated when `service` is: those reachable
    /// through edges with `restart: true` only.
    pub fn restart_dependents(&self, service: &str) -> Vec<String> {
        self.transitive_dependents(service, |dep| dep.restart)
    }

    fn transitive_dependents(
        &self,
        service: &str,
        follow: impl Fn(&ServiceDep) -> bool,
    ) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([service.to_string()]);
        while let Some(current) = queue.pop_front() {
            for dependent in self.dependents.get(&current).into_iter().flatten() {
                let followed = self
                    .services
                    .get(dependent)
                    .is_some_and(|node| node.deps.iter().any(|d| d.target == current && follow(d)));
                if followed && seen.insert(dependent.clone()) {
                    queue.push_back(dependent.clone());
                }
            }
        }
        seen.remove(service);
        seen.into_iter().collect()
    }
}

fn service_node(
    project: &Project,
    name: &str,
    svc: &Service,
    replicas: u32,
) -> Result<ServiceNode, PlannerError> {
    let unknown = |kind: &'static str, key: &str| PlannerError::UnknownResource {
        service: name.to_string(),
        kind,
        key: key.to_string(),
    };
    let networks: Vec<String> = svc.networks.keys().cloned().collect();
    if let Some(key) = networks.iter().find(|k| !project.networks.contains_key(*k)) {
        return Err(unknown("network", key));
    }
    let volumes = named_volumes(svc);
    if let Some(key) = volumes.iter().find(|k| !project.volumes.contains_key(*k)) {
        return Err(unknown("volume", key));
    }
    Ok(ServiceNode {
        replicas,
        deps: collect_deps(project, name, svc)?,
        networks,
        volumes,
        image: svc.image.clone(),
        pullable: is_pullable(svc),
    })
}

fn named_volumes(svc: &Service) -> Vec<String> {
    let keys: BTreeSet<String> = svc
        .volumes
        .iter()
        .filter(|v| v.kind == VolumeKind::Volume)
        .filter_map(|v| v.source.clone())
        .collect();
    keys.into_iter().collect()
}

/// A service that builds its image gets it from the build, not a registry, and
/// `pull_policy: never|build` says the same explicitly.
fn is_pullable(svc: &Service) -> bool {
    let policy = svc.extra.get("pull_policy").and_then(|v| v.as_str());
    svc.build.is_none() && !matches!(policy, Some("never" | "build"))
}

/// The explicit `depends_on` entries plus the implicit dependencies compose also
/// derives from links, volumes_from and shared namespaces. One entry per target.
fn collect_deps(
    project: &Project,
    name: &str,
    svc: &Service,
) -> Result<Vec<ServiceDep>, PlannerError> {
    let mut deps: Vec<ServiceDep> = Vec::new();
    for (target, dep) in &svc.depends_on {
        // An optional dependency on a service that is not part of this run (for
        // example disabled by a profile) is simply not waited for.
        if !dep.required && !project.services.contains_key(target) {
            continue;
        }
        let explicit = ServiceDep {
            target: target.clone(),
            source: DepSource::DependsOn,
            condition: dep.condition,
            required: dep.required,
            restart: dep.restart,
        };
        add_dep(project, name, &mut deps, explicit)?;
    }
    for (target, source) in implicit_targets(svc) {
        let implicit = ServiceDep {
            target: target.to_string(),
            source,
            condition: Condition::ServiceStarted,
            required: true,
            // A shared namespace dies with its owner, so a recreated owner forces
            // a recreate of the services living in its namespaces.
            restart: source.needs_running_at_create(),
        };
        add_dep(project, name, &mut deps, implicit)?;
    }
    Ok(deps)
}

fn implicit_targets(svc: &Service) -> Vec<(&str, DepSource)> {
    let mut out = Vec::new();
    for link in &svc.links {
        out.push((before_colon(link), DepSource::Link));
    }
    for from in &svc.volumes_from {
        // `container:<name>` names a container outside the stack, not a service.
        if !from.starts_with("container:") {
            out.push((before_colon(from), DepSource::VolumesFrom));
        }
    }
    let namespaces = [
        (&svc.network_mode, DepSource::NetworkMode),
        (&svc.ipc, DepSource::Ipc),
        (&svc.pid, DepSource::Pid),
    ];
    for (mode, source) in namespaces {
        if let Some(target) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
            out.push((target, source));
        }
    }
    out
}

fn before_colon(text: &str) -> &str {
    text.split_once(':').map_or(text, |(head, _)| head)
}

/// Adds a dependency, merging it into an existing entry for the same target so
/// that the strongest requirement (required, restart) wins.
fn add_dep(
    project: &Project,
    name: &str,
    deps: &mut Vec<ServiceDep>,
    dep: ServiceDep,
) -> Result<(), PlannerError> {
    if !project.services.contains_key(&dep.target) {
        return Err(PlannerError::UnknownService {
            service: name.to_string(),
            target: dep.target,
            via: dep.source,
        });
    }
    match deps.iter_mut().find(|d| d.target == dep.target) {
        Some(existing) => {
            existing.required |= dep.required;
            existing.restart |= dep.restart;
        }
        None => deps.push(dep),
    }
    Ok(())
}

/// Kahn's algorithm with a sorted ready set, so independent services come out in
/// name order. Whatever is left unsorted lies on or behind a cycle.
fn topo_order(
    services: &BTreeMap<String, ServiceNode>,
    dependents: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, PlannerError> {
    let mut waiting: BTreeMap<&str, usize> = services
        .iter()
        .map(|(name, node)| (name.as_str(), node.deps.len()))
        .collect();
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut order = Vec::with_capacity(services.len());
    while let Some(name) = ready.pop_first() {
        waiting.remove(name);
        order.push(name.to_string());
        for dependent in dependents.get(name).into_iter().flatten() {
            if let Some(count) = waiting.get_mut(dependent.as_str()) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(dependent.as_str());
                }
            }
        }
    }
    if waiting.is_empty() {
        return Ok(order);
    }
    let stuck: BTreeSet<&str> = waiting.keys().copied().collect();
    Err(PlannerError::Cycle {
        path: find_cycle(services, &stuck),
    })
}

/// Walks from the first stuck service along dependencies that are stuck too. Every
/// stuck service waits on at least one other stuck service, so the walk must
/// revisit a service; the path from that service's first visit is the cycle.
fn find_cycle(services: &BTreeMap<String, ServiceNode>, stuck: &BTreeSet<&str>) -> Vec<String> {
    let mut path: Vec<&str> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    let mut current = stuck.first().copied();
    while let Some(name) = current {
        if let Some(&start) = position.get(name) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return cycle;
        }
        position.insert(name, path.len());
        path.push(name);
        current = services.get(name).and_then(|node| {
            node.deps
                .iter()
                .map(|d| d.target.as_str())
                .filter(|t| stuck.contains(t))
                .min()
        });
    }
    path.into_iter().map(str::to_string).collect()
}

fn direct_dependents(services: &BTreeMap<String, ServiceNode>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, node) in services {
        for dep in &node.deps {
            out.entry(dep.target.clone())
                .or_default()
                .push(name.clone());
        }
    }
    out
}

type Built = (DiGraph<Node, Edge>, HashMap<Node, NodeIndex>);

fn build_petgraph(services: &BTreeMap<String, ServiceNode>) -> Built {
    let mut graph = DiGraph::new();
    let mut index = HashMap::new();
    let mut node = |graph: &mut DiGraph<Node, Edge>, n: Node| {
        *index.entry(n.clone()).or_insert_with(|| graph.add_node(n))
    };
    for (name, svc) in services {
        for number in 1..=svc.replicas {
            let replica = node(&mut graph, replica_node(name, number));
            let mut uses: Vec<(Node, Edge)> = Vec::new();
            uses.extend(
                svc.networks
                    .iter()
                    .map(|k| (Node::Network(k.clone()), Edge::Network)),
            );
            uses.extend(
                svc.volumes
                    .iter()
                    .map(|k| (Node::Volume(k.clone()), Edge::Volume)),
            );
            uses.extend(
                svc.image
                    .iter()
                    .map(|r| (Node::Image(r.clone()), Edge::Image)),
            );
            for dep in &svc.deps {
                let count = services.get(&dep.target).map_or(0, |t| t.replicas);
                for other in 1..=count {
                    uses.push((
                        replica_node(&dep.target, other),
                        Edge::Dependency(dep.clone()),
                    ));
                }
            }
            for (target, edge) in uses {
                let target = node(&mut graph, target);
                graph.add_edge(replica, target, edge);
            }
        }
    }
    (graph, index)
}

fn replica_node(service: &str, number: u32) -> Node {
    Node::Replica {
        service: service.to_string(),
        number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testutil::{ProjectBuilder, depends, service};
    use petgraph::visit::EdgeRef;

    fn chain() -> Project {
        let mut web = service("web:1");
        web.depends_on.insert("api".into(), depends(true));
        web.links.push("cache:redis".into());
        let mut api = service("api:1");
        api.depends_on.insert("db".into(), depends(false));
        ProjectBuilder::new("demo")
            .service("web", web)
            .service("api", api)
            .service("db", service("postgres:16"))
            .service("cache", service("redis:7"))
            .build()
    }

    #[test]
    fn order_puts_dependencies_first() {
        let graph = DesiredGraph::new(&chain()).unwrap();
        assert_eq!(graph.service_order(), ["cache", "db", "api", "web"]);
    }

    #[test]
    fn dependents_are_transitive_and_restart_dependents_follow_restart_edges() {
        let graph = DesiredGraph::new(&chain()).unwrap();
        assert_eq!(graph.dependents("db"), ["api", "web"]);
        // db -> api is restart:false, so recreating db recreates nobody.
        assert!(graph.restart_dependents("db").is_empty());
        assert_eq!(graph.restart_dependents("api"), ["web"]);
        assert_eq!(graph.dependents("cache"), ["web"]);
    }

    #[test]
    fn replicas_point_at_resources_and_every_replica_of_a_dependency() {
        let mut project = chain();
        project.services.get_mut("api").unwrap().deploy = Some(crate::spec::model::Deploy {
            replicas: Some(2),
            ..Default::default()
        });
        let graph = DesiredGraph::new(&project).unwrap();
        let web = graph.node_index(&replica_node("web", 1)).unwrap();
        let targets: BTreeSet<Node> = graph
            .graph()
            .edges(web)
            .map(|e| graph.graph()[e.target()].clone())
            .collect();
        let expected = BTreeSet::from([
            Node::Network("default".into()),
            Node::Image("web:1".into()),
            replica_node("api", 1),
            replica_node("api", 2),
            replica_node("cache", 1),
        ]);
        assert_eq!(targets, expected);
    }

    #[test]
    fn implicit_dependencies_skip_external_containers() {
        let mut app = service("app:1");
        app.volumes_from = vec!["data:ro".into(), "container:legacy".into()];
        app.network_mode = Some("service:vpn".into());
        app.networks.clear();
        let project = ProjectBuilder::new("demo")
            .service("app", app)
            .service("data", service("busybox:1"))
            .service("vpn", service("vpn:1"))
            .build();
        let graph = DesiredGraph::new(&project).unwrap();
        let deps: Vec<(&str, DepSource, bool)> = graph
            .service("app")
            .unwrap()
            .deps
            .iter()
            .map(|d| (d.target.as_str(), d.source, d.restart))
            .collect();
        assert_eq!(
            deps,
            [
                ("data", DepSource::VolumesFrom, false),
                ("vpn", DepSource::NetworkMode, true)
            ]
        );
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        let mut a = service("a:1");
        a.depends_on.insert("b".into(), depends(false));
        let mut b = service("b:1");
        b.links.push("a".into());
        let mut c = service("c:1");
        c.depends_on.insert("a".into(), depends(false));
        let project = ProjectBuilder::new("demo")
            .service("a", a)
            .service("b", b)
            .service("c", c)
            .build();
        let err = DesiredGraph::new(&project).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
    }

    #[test]
    fn unknown_link_target_is_an_error() {
        let mut a = service("a:1");
        a.links.push("ghost:g".into());
        let project = ProjectBuilder::new("demo").service("a", a).build();
        let err = DesiredGraph::new(&project).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"service "a" links to "ghost", which is not a service of this project"#
        );
    }
}
