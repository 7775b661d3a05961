//! Finishing what a killed `up` left half-done, before the next one observes.
//!
//! A recreate (execute.rs) creates the new container as `<old id12>_<name>`,
//! stops and removes the old one, then renames the new one. Killed half-way, it
//! leaves the temporary container beside the old one (which is still the
//! replica: the temporary one goes, and the plan judges the old one again), or
//! alone (the old one is gone: the temporary one takes its name).
//!
//! `up` and `down` hold the project's lock, so a temporary container seen here
//! is never one a running `up` is working on.

use super::execute::{ExecError, Reporter, project_containers};
use super::plan::ResourceKind;
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::{ContainerError, create};
use crate::runtime::store::{Store, TransientLock};

/// Takes the lock every `up` and `down` of `project` runs under.
pub fn lock_project(store: &Store, project: &str) -> Result<TransientLock, ExecError> {
    store
        .lock_transient(&format!("project-{project}"))
        .map_err(|e| runtime(format!("locking project {project}"), e))
}

/// Removes or renames every temporary container an interrupted recreate left,
/// and deletes container directories a killed create or remove left.
pub fn finish_recreates(
    store: &Store,
    project: &str,
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    crate::runtime::container::leftovers::sweep(store);
    drop_stale_temporary_claims(store, project);
    let containers = project_containers(store, project)?;
    for temp in &containers {
        let Some(name) = temporary_target(&temp.record.name) else {
            continue;
        };
        let what = || format!("container {}", temp.record.name);
        if containers.iter().any(|c| c.record.name == name) {
            reporter.status(ResourceKind::Container, &temp.record.name, "Removing");
            remove(store, temp).map_err(|e| runtime(what(), e))?;
            reporter.status(ResourceKind::Container, &temp.record.name, "Removed");
        } else {
            create::rename(store, &temp.record, name).map_err(|e| runtime(what(), e))?;
            reporter.status(ResourceKind::Container, name, "Renamed");
        }
    }
    Ok(())
}

/// A recreate killed inside its final rename can leave the temporary name
/// claimed by the container that now has the real one.
fn drop_stale_temporary_claims(store: &Store, project: &str) {
    let prefix = format!("{project}-");
    for name in create::claimed_names(store) {
        if temporary_target(&name).is_some_and(|t| t.starts_with(&prefix)) {
            create::drop_stale_claim(store, &name);
        }
    }
}

fn remove(store: &Store, c: &Container) -> Result<(), ContainerError> {
    // Its monitor may have been started by a user meanwhile; it goes anyway.
    lifecycle::remove(store, c, true)
}

/// `abcdef012345_demo-web-1` -> `demo-web-1`: the name a recreate's temporary
/// container is to take (twelve hex digits of the old container's id first).
pub fn temporary_target(name: &str) -> Option<&str> {
    let (prefix, target) = name.split_at_checked(13)?;
    let hex = prefix.strip_suffix('_')?;
    let is_hex = hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    (is_hex && !target.is_empty()).then_some(target)
}

fn runtime(what: impl Into<String>, e: impl std::fmt::Display) -> ExecError {
    ExecError::Runtime {
        what: what.into(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::temporary_target;

    #[test]
    fn temporary_names_are_recognized() {
        assert_eq!(
            temporary_target("0123456789ab_demo-web-1"),
            Some("demo-web-1")
        );
        assert_eq!(temporary_target("demo-web-1"), None);
        assert_eq!(temporary_target("0123456789ab_"), None);
        assert_eq!(temporary_target("0123456789AB_demo-web-1"), None);
        assert_eq!(temporary_target("0123456789xy_demo-web-1"), None);
        assert_eq!(temporary_target("é123456789ab_x"), None);
    }
}
