//! A project's containers as the runtime has them, found by compose's labels:
//! which belong to a project, in service and replica order, and in which order
//! to start or stop them (from the `depends_on` label `up` writes).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::observed::{LABEL_CONTAINER_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record::Status;
use crate::runtime::store::Store;

/// compose's own label: `db:service_healthy:false,cache:service_started:true`
/// (service, condition, restart), one entry per dependency.
pub const LABEL_DEPENDS_ON: &str = "com.docker.compose.depends_on";

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("cannot list the containers of project {project:?}: {message}")]
    List { project: String, message: String },
    #[error("no such service: {service} (project {project:?} has no container for it)")]
    NoService { project: String, service: String },
    #[error("service {service:?} of project {project:?} has no container number {index}")]
    NoIndex {
        project: String,
        service: String,
        index: u32,
    },
    #[error(
        "dependency {dependency:?} of service {service:?} did not become {condition} within {secs} s"
    )]
    DependencyTimeout {
        service: String,
        dependency: String,
        condition: String,
        secs: u64,
    },
    #[error("dependency {dependency:?} of service {service:?} {reason}")]
    DependencyFailed {
        service: String,
        dependency: String,
        reason: String,
    },
}

/// One dependency as the label records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelDep {
    pub service: String,
    pub condition: String,
}

/// Which of a project's containers a verb acts on.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Services to keep; empty means all.
    pub services: Vec<String>,
    /// Keep stopped containers too.
    pub all: bool,
    /// Keep `run` one-off containers too.
    pub oneoff: bool,
}

pub fn project_of(c: &Container) -> Option<&str> {
    c.record
        .config
        .labels
        .get(LABEL_PROJECT)
        .map(String::as_str)
}

pub fn service_of(c: &Container) -> &str {
    c.record
        .config
        .labels
        .get(LABEL_SERVICE)
        .map_or("", String::as_str)
}

pub fn number_of(c: &Container) -> u32 {
    c.record
        .config
        .labels
        .get(LABEL_CONTAINER_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn is_oneoff(c: &Container) -> bool {
    c.record
        .config
        .labels
        .get(LABEL_ONEOFF)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The dependencies a container's label names (none when the label is absent).
pub fn label_deps(c: &Container) -> Vec<LabelDep> {
    let Some(text) = c.record.config.labels.get(LABEL_DEPENDS_ON) else {
        return Vec::new();
    };
    text.split(',')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.split(':');
            let service = parts.next().unwrap_or_default().to_string();
            let condition = parts.next().unwrap_or("service_started").to_string();
            LabelDep { service, condition }
        })
        .collect()
}

/// The project's containers, sorted by service then replica number. Names of
/// services that have no container are an error, as in compose.
pub fn containers(
    store: &Store,
    project: &str,
    sel: &Selection,
) -> Result<Vec<Container>, ProjectError> {
    let list = lifecycle::list(store).map_err(|e| ProjectError::List {
        project: project.to_string(),
        message: e.to_string(),
    })?;
    let mut out: Vec<Container> = list
        .into_iter()
        .filter(|c| project_of(c) == Some(project))
        .filter(|c| sel.oneoff || !is_oneoff(c))
        .collect();
    for service in &sel.services {
        if !out.iter().any(|c| service_of(c) == service) {
            return Err(ProjectError::NoService {
                project: project.to_string(),
                service: service.clone(),
            });
        }
    }
    out.retain(|c| sel.services.is_empty() || sel.services.iter().any(|s| s == service_of(c)));
    if !sel.all {
        out.retain(Container::is_running);
    }
    out.sort_by(|a, b| {
        (service_of(a), number_of(a), &a.record.name).cmp(&(
            service_of(b),
            number_of(b),
            &b.record.name,
        ))
    });
    Ok(out)
}

/// Replica `index` of `service` (compose's `--index`, 1 by default).
pub fn replica(
    store: &Store,
    project: &str,
    service: &str,
    index: u32,
) -> Result<Container, ProjectError> {
    let sel = Selection {
        services: vec![service.to_string()],
        all: true,
        oneoff: false,
    };
    containers(store, project, &sel)?
        .into_iter()
        .find(|c| number_of(c) == index)
        .ok_or_else(|| ProjectError::NoIndex {
            project: project.to_string(),
            service: service.to_string(),
            index,
        })
}

/// Groups containers into levels that can be started together: each level
/// depends only on earlier ones. Without depends_on labels everything is one
/// level. Dependencies on services outside the list are ignored; a cycle (which
/// `up` would have refused) ends up in the last level rather than being lost.
pub fn start_levels(list: Vec<Container>) -> Vec<Vec<Container>> {
    let deps: BTreeMap<String, BTreeSet<String>> = list
        .iter()
        .map(|c| {
            let d = label_deps(c).into_iter().map(|d| d.service).collect();
            (service_of(c).to_string(), d)
        })
        .collect();
    let present: BTreeSet<&String> = deps.keys().collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut rest = list;
    let mut levels = Vec::new();
    while !rest.is_empty() {
        let ready = |c: &Container| {
            deps.get(service_of(c)).is_none_or(|d| {
                d.iter()
                    .all(|s| placed.contains(s) || !present.contains(s) || s == service_of(c))
            })
        };
        let (now, later): (Vec<_>, Vec<_>) = rest.into_iter().partition(|c| ready(c));
        if now.is_empty() {
            levels.push(later);
            break;
        }
        placed.extend(now.iter().map(|c| service_of(c).to_string()));
        levels.push(now);
        rest = later;
    }
    levels
}

/// Stop order: the start levels reversed, dependents first.
pub fn stop_levels(list: Vec<Container>) -> Vec<Vec<Container>> {
    let mut levels = start_levels(list);
    levels.reverse();
    levels
}

/// Waits until every dependency of `c` that runs in this project meets its
/// condition (`service_started`, `service_healthy`,
/// `service_completed_successfully`), or fails naming it.
pub fn await_dependencies(
    store: &Store,
    project: &str,
    c: &Container,
    timeout: Duration,
) -> Result<(), ProjectError> {
    for dep in label_deps(c) {
        let sel = Selection {
            services: Vec::new(),
            all: true,
            oneoff: false,
        };
        let targets: Vec<String> = containers(store, project, &sel)?
            .into_iter()
            .filter(|t| service_of(t) == dep.service)
            .map(|t| t.record.id)
            .collect();
        for id in targets {
            await_condition(store, service_of(c), &dep, &id, timeout)?;
        }
    }
    Ok(())
}

fn await_condition(
    store: &Store,
    service: &str,
    dep: &LabelDep,
    id: &str,
    timeout: Duration,
) -> Result<(), ProjectError> {
    let deadline = Instant::now() + timeout;
    let failed = |reason: String| ProjectError::DependencyFailed {
        service: service.to_string(),
        dependency: dep.service.clone(),
        reason,
    };
    loop {
        let Ok(t) = lifecycle::load(store, id) else {
            return Ok(());
        };
        match condition_met(&t, &dep.condition) {
            Met::Yes => return Ok(()),
            Met::Never(reason) => return Err(failed(reason)),
            Met::NotYet => {}
        }
        if Instant::now() >= deadline {
            return Err(ProjectError::DependencyTimeout {
                service: service.to_string(),
                dependency: dep.service.clone(),
                condition: dep.condition.clone(),
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

enum Met {
    Yes,
    NotYet,
    Never(String),
}

fn condition_met(t: &Container, condition: &str) -> Met {
    let exited = matches!(t.state.status, Status::Exited | Status::Dead);
    match condition {
        "service_healthy" => match t.state.health.as_ref().map(|h| h.status.as_str()) {
            Some("healthy") => Met::Yes,
            Some("unhealthy") => Met::Never("is unhealthy".into()),
            None if t.record.config.healthcheck.is_none() => {
                Met::Never("has no health check".into())
            }
            _ if exited => Met::Never(format!("exited with code {}", t.state.exit_code)),
            _ => Met::NotYet,
        },
        "service_completed_successfully" => match (exited, t.state.exit_code) {
            (true, 0) => Met::Yes,
            (true, code) => Met::Never(format!("exited with code {code}")),
            _ => Met::NotYet,
        },
        _ if t.is_running() || exited => Met::Yes,
        _ => Met::NotYet,
    }
}

/// The order `system restore` starts containers in: containers of no project
/// as listed, each project's in its start levels (dependencies first).
pub fn restore_order(list: Vec<Container>) -> Vec<Container> {
    let mut loose = Vec::new();
    let mut projects: Vec<(String, Vec<Container>)> = Vec::new();
    for c in list {
        let Some(name) = project_of(&c).map(str::to_string) else {
            loose.push(c);
            continue;
        };
        match projects.iter_mut().find(|(p, _)| *p == name) {
            Some((_, members)) => members.push(c),
            None => projects.push((name, vec![c])),
        }
    }
    for (_, members) in projects {
        loose.extend(start_levels(members).into_iter().flatten());
    }
    loose
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::container::record::{ContainerRecord, ContainerState};

    fn container(service: &str, deps: &str) -> Container {
        let mut record = ContainerRecord {
            name: format!("p-{service}-1"),
            ..Default::default()
        };
        let labels = &mut record.config.labels;
        labels.insert(LABEL_PROJECT.into(), "p".into());
        labels.insert(LABEL_SERVICE.into(), service.into());
        labels.insert(LABEL_CONTAINER_NUMBER.into(), "1".into());
        if !deps.is_empty() {
            labels.insert(LABEL_DEPENDS_ON.into(), deps.into());
        }
        Container {
            record,
            state: ContainerState::default(),
        }
    }

    fn names(levels: &[Vec<Container>]) -> Vec<Vec<&str>> {
        levels
            .iter()
            .map(|l| l.iter().map(service_of).collect())
            .collect()
    }

    #[test]
    fn label_is_parsed() {
        let c = container("web", "db:service_healthy:false,cache:service_started:true");
        let deps = label_deps(&c);
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[0].service, "db");
        assert_eq!(deps[0].condition, "service_healthy");
        assert_eq!(deps[1].service, "cache");
    }

    #[test]
    fn levels_follow_dependencies() {
        let list = vec![
            container("web", "api:service_started:false"),
            container(
                "api",
                "db:service_healthy:false,migrate:service_completed_successfully:false",
            ),
            container("db", ""),
            container("migrate", "db:service_healthy:false"),
        ];
        let levels = start_levels(list);
        assert_eq!(
            names(&levels),
            vec![vec!["db"], vec!["migrate"], vec!["api"], vec!["web"]]
        );
    }

    #[test]
    fn without_labels_one_level() {
        let levels = start_levels(vec![container("a", ""), container("b", "")]);
        assert_eq!(names(&levels), vec![vec!["a", "b"]]);
    }

    #[test]
    fn missing_dependency_is_ignored_and_cycle_kept() {
        let levels = start_levels(vec![
            container("a", "gone:service_started:false"),
            container("b", "c:service_started:false"),
            container("c", "b:service_started:false"),
        ]);
        assert_eq!(names(&levels), vec![vec!["a"], vec!["b", "c"]]);
        let stop = stop_levels(vec![
            container("web", "db:service_started:false"),
            container("db", ""),
        ]);
        assert_eq!(names(&stop), vec![vec!["web"], vec!["db"]]);
    }

    #[test]
    fn restore_puts_dependencies_first() {
        let mut loose = container("x", "");
        loose.record.config.labels.remove(LABEL_PROJECT);
        let order = restore_order(vec![
            container("web", "db:service_healthy:false"),
            loose,
            container("db", ""),
        ]);
        let names: Vec<&str> = order.iter().map(service_of).collect();
        assert_eq!(names, vec!["x", "db", "web"]);
    }

    #[test]
    fn conditions() {
        let mut c = container("db", "");
        c.state.status = Status::Exited;
        c.state.exit_code = 0;
        assert!(matches!(
            condition_met(&c, "service_completed_successfully"),
            Met::Yes
        ));
        c.state.exit_code = 3;
        assert!(matches!(
            condition_met(&c, "service_completed_successfully"),
            Met::Never(_)
        ));
        c.state.status = Status::Running;
        assert!(matches!(
            condition_met(&c, "service_healthy"),
            Met::Never(_)
        ));
        c.record.config.healthcheck = Some(crate::runtime::monitor::health::HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            start_period: Duration::ZERO,
            start_interval: Duration::ZERO,
            retries: 3,
        });
        assert!(matches!(condition_met(&c, "service_healthy"), Met::NotYet));
        c.state.health = Some(crate::runtime::monitor::health::Health {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        });
        assert!(matches!(condition_met(&c, "service_healthy"), Met::NotYet));
        assert!(matches!(condition_met(&c, "service_started"), Met::Yes));
    }
}
