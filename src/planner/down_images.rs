//! `down --rmi local|all`: the project's images go after its containers, as
//! `docker compose down` removes them. An image another container still uses
//! stays, with a warning line; that is not a failure.

use std::collections::BTreeSet;

use super::execute::{ExecError, Reporter};
use super::plan::ResourceKind;
use crate::runtime::container::lifecycle::Container;
use crate::runtime::image::remove::{self, RemoveError};
use crate::runtime::store::Store;
use crate::spec::model::Project;

/// Which images `down --rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rmi {
    /// Images without a custom tag: those of services with no `image:` key,
    /// which compose names `<project>-<service>`. berth has no `build`, so
    /// this only matters for images a user made under that name.
    Local,
    /// Every image a service of the project uses.
    All,
}

/// The images to remove: from the stack file when there is one, plus (for
/// `all`) the images the project's containers were created from, so `-p NAME`
/// alone works too.
pub fn wanted(rmi: Rmi, project: Option<&Project>, containers: &[Container]) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Some(p) = project {
        for (name, service) in &p.services {
            match (&service.image, rmi) {
                (Some(image), Rmi::All) => out.insert(image.clone()),
                (None, _) => out.insert(format!("{}-{name}", p.name)),
                (Some(_), Rmi::Local) => false,
            };
        }
    }
    if rmi == Rmi::All {
        out.extend(
            containers
                .iter()
                .map(|c| c.record.image.clone())
                .filter(|i| !i.is_empty()),
        );
    }
    out.into_iter().collect()
}

/// Removes each image; an image still in use or already gone is reported,
/// and only a failure of the store itself is an error.
pub fn remove_images(
    store: &Store,
    images: &[String],
    reporter: &dyn Reporter,
) -> Result<(), ExecError> {
    let mut first_error = None;
    for image in images {
        match remove::remove(store, image, false) {
            Ok(_) => reporter.status(ResourceKind::Image, image, "Removed"),
            Err(RemoveError::NoSuchImage { .. }) => {}
            Err(RemoveError::ReferenceInUse { .. } | RemoveError::Conflict { .. }) => {
                reporter.status(ResourceKind::Image, image, "Resource is still in use");
            }
            Err(e) => {
                first_error.get_or_insert(ExecError::Runtime {
                    what: format!("image {image}"),
                    message: e.to_string(),
                });
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::testutil::{ProjectBuilder, service};

    #[test]
    fn all_takes_every_service_image_and_local_only_unnamed_ones() {
        let mut built = service("x");
        built.image = None;
        let project = ProjectBuilder::new("demo")
            .service("web", service("nginx:1"))
            .service("app", built)
            .build();
        assert_eq!(
            wanted(Rmi::All, Some(&project), &[]),
            ["demo-app", "nginx:1"]
        );
        assert_eq!(wanted(Rmi::Local, Some(&project), &[]), ["demo-app"]);
        assert!(wanted(Rmi::Local, None, &[]).is_empty());
    }
}
