//! `up SERVICE...` and `--no-deps`: which services a partial run touches.
//! The others are left as they are; they are still in the project, so they
//! are never taken for orphans.

use std::collections::BTreeSet;

use super::PlannerError;
use super::graph::DesiredGraph;
use crate::spec::model::Project;

/// The named services plus, unless `no_deps`, everything they depend on,
/// transitively (depends_on, links, volumes_from, shared namespaces).
/// `None` when no service is named: the whole project.
pub fn services(
    project: &Project,
    names: &[String],
    no_deps: bool,
) -> Result<Option<BTreeSet<String>>, PlannerError> {
    if names.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = names.iter().find(|n| !project.services.contains_key(*n)) {
        return Err(PlannerError::NoSuchService {
            service: missing.clone(),
        });
    }
    let mut out: BTreeSet<String> = names.iter().cloned().collect();
    if no_deps {
        return Ok(Some(out));
    }
    let graph = DesiredGraph::new(project)?;
    let mut todo: Vec<String> = names.to_vec();
    while let Some(name) = todo.pop() {
        for dep in graph
            .service(&name)
            .map(|n| n.deps.as_slice())
            .unwrap_or(&[])
        {
            if out.insert(dep.target.clone()) {
                todo.push(dep.target.clone());
            }
        }
    }
    Ok(Some(out))
}

/// The project as a `--no-deps` run executes it: only the selected services,
/// and their dependencies on the others made optional, so nothing waits for a
/// service this run does not bring up (compose's "disabled" services).
pub fn without_others(project: &Project, only: &BTreeSet<String>) -> Project {
    let mut narrowed = project.clone();
    narrowed.services.retain(|name, _| only.contains(name));
    for service in narrowed.services.values_mut() {
        for (target, dep) in service.depends_on.iter_mut() {
            if !only.contains(target) {
                dep.required = false;
            }
        }
    }
    narrowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testutil::{ProjectBuilder, depends, service};

    fn chain() -> Project {
        let mut web = service("nginx:1");
        web.depends_on.insert("db".into(), depends(false));
        let mut db = service("postgres:16");
        db.depends_on.insert("cache".into(), depends(false));
        ProjectBuilder::new("demo")
            .service("cache", service("redis:7"))
            .service("db", db)
            .service("web", web)
            .service("other", service("busybox:1"))
            .build()
    }

    fn names(set: Option<BTreeSet<String>>) -> Vec<String> {
        set.map(|s| s.into_iter().collect()).unwrap_or_default()
    }

    #[test]
    fn named_services_bring_their_dependencies_transitively() {
        let got = services(&chain(), &["web".into()], false).unwrap();
        assert_eq!(names(got), ["cache", "db", "web"]);
    }

    #[test]
    fn no_deps_keeps_only_the_named_ones() {
        let got = services(&chain(), &["web".into()], true).unwrap();
        assert_eq!(names(got), ["web"]);
        assert!(services(&chain(), &[], false).unwrap().is_none());
    }

    #[test]
    fn an_unknown_service_is_named() {
        let err = services(&chain(), &["nope".into()], false).unwrap_err();
        assert_eq!(err.to_string(), "no such service: nope");
    }

    #[test]
    fn narrowed_project_makes_dependencies_on_others_optional() {
        let only = BTreeSet::from(["web".to_string()]);
        let narrowed = without_others(&chain(), &only);
        assert_eq!(narrowed.services.len(), 1);
        assert!(!narrowed.services["web"].depends_on["db"].required);
    }
}
