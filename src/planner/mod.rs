//! Planner: desired graph, observed state, diff into a Plan.
//!
//! The flow is `Project` -> [`DesiredGraph`] (what should exist and in which order)
//! -> [`diff()`] against an [`Observed`] snapshot of the runtime -> [`Plan`], a DAG of
//! operations that each carry the reason they are needed. The planner never touches
//! the runtime itself: the runtime fills [`Observed`], an executor runs the [`Plan`].

mod changes;
pub mod container_config;
pub mod diff;
pub mod down;
pub mod down_images;
pub mod execute;
pub mod graph;
pub mod hash;
pub mod observe;
pub mod observed;
pub mod oneoff;
pub mod plan;
pub mod project;
pub mod render;
pub mod repair;
pub mod select;
pub mod watch;

#[cfg(test)]
mod testutil;

pub use diff::{DiffOptions, container_name, diff};
pub use graph::{DepSource, DesiredGraph, Edge, Node, ServiceDep, ServiceNode};
pub use hash::{ConfigHash, HASH_VERSION, service_hash};
pub use observed::{ContainerStatus, Observed, ObservedContainer};
pub use plan::{Action, Op, PLAN_VERSION, Plan, ResourceKind, Summary};
pub use render::render;

/// Everything that can stop the planner from producing a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    /// Services wait on each other in a loop, so no start order exists.
    #[error("dependency cycle detected: {}", .path.join(" -> "))]
    Cycle { path: Vec<String> },

    #[error("service {service:?} {via} {target:?}, which is not a service of this project")]
    UnknownService {
        service: String,
        target: String,
        via: DepSource,
    },

    #[error(
        "service {service:?} uses {kind} {key:?}, which is not declared at the top level of the project"
    )]
    UnknownResource {
        service: String,
        kind: &'static str,
        key: String,
    },

    /// `up SERVICE...` named a service the project does not have (compose's words).
    #[error("no such service: {service}")]
    NoSuchService { service: String },

    #[error("cannot scale {service:?}: no such service in this project")]
    ScaleUnknownService { service: String },

    #[error(
        "service {service:?} sets container_name {name:?} but asks for {replicas} replicas; \
         container names are unique, so drop container_name or run a single replica"
    )]
    ContainerNameWithReplicas {
        service: String,
        name: String,
        replicas: u32,
    },

    #[error("--force-recreate and --no-recreate cannot be used together")]
    ConflictingOptions,

    #[error("cannot read the runtime state: {message}")]
    Observe { message: String },

    #[error("cannot compute the configuration of service {service:?}: {source}")]
    Serialize {
        service: String,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "saved plan has format version {found}, this berth reads version {expected}; run `berth plan` again"
    )]
    PlanVersion { found: u32, expected: u32 },

    #[error(
        "the containers, networks, volumes or images changed since this plan was made \
         (state {planned} -> {current}); run `berth plan` again"
    )]
    StalePlan { planned: String, current: String },
}
