//! The plan: a DAG of operations, each saying what to do, to which resource, why,
//! and which other operations must finish first. It serializes to JSON so the CLI
//! can print it (`--format json`) and save it for a later apply (`-o plan.json`).

use serde::{Deserialize, Serialize};

use super::PlannerError;
use super::observed::Observed;

/// Format version of a serialized [`Plan`]; bump on incompatible changes.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub project: String,
    /// [`Observed::fingerprint`] of the state the plan was computed against.
    pub observed_fingerprint: String,
    /// In a valid topological order: every `after` index is smaller than the op's
    /// own id, and `ops[i].id == i`.
    pub ops: Vec<Op>,
    /// Names of containers, networks, volumes and images that need nothing.
    pub unchanged: Vec<String>,
    /// Names of this project's containers whose service is no longer in the stack.
    pub orphans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Index of the op in [`Plan::ops`].
    pub id: usize,
    pub action: Action,
    pub kind: ResourceKind,
    /// Real name: network/volume name, image reference, or container name. For a
    /// recreate this is the name of the new container; the executor finds the old
    /// one by its project/service/number labels (the name may have changed).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Human-readable reason, shown next to the op.
    pub cause: String,
    /// Ids of the ops that must complete before this one may begin.
    #[serde(default)]
    pub after: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    /// Replace a container: create the new container first (under a temporary
    /// name), then stop and remove the old one, rename the new one into place and
    /// start it. Creating first means a failed create leaves the old container
    /// running. No separate start op follows a recreate.
    Recreate,
    Start,
    Stop,
    /// Stops the container first if it is running.
    Remove,
    Pull,
    /// Stop and start a running container in place (a `restart: true`
    /// dependency changed), once its dependencies are ready again.
    Restart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Network,
    Volume,
    Image,
    Container,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Network => "network",
            ResourceKind::Volume => "volume",
            ResourceKind::Image => "image",
            ResourceKind::Container => "container",
        }
    }
}

/// Op counts as the text renderer reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Creates and pulls.
    pub create: usize,
    pub recreate: usize,
    /// Starts of existing containers; a start that follows a create of the same
    /// container is part of that create.
    pub start: usize,
    pub stop: usize,
    /// Running containers restarted in place.
    pub restart: usize,
    pub remove: usize,
    pub unchanged: usize,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Whether `op` only completes a create earlier in the same plan.
    pub fn is_start_after_create(&self, op: &Op) -> bool {
        op.action == Action::Start
            && op.after.iter().any(|&i| {
                self.ops.get(i).is_some_and(|prev| {
                    prev.action == Action::Create && prev.kind == op.kind && prev.name == op.name
                })
            })
    }

    pub fn summary(&self) -> Summary {
        let mut sum = Summary {
            unchanged: self.unchanged.len(),
            ..Summary::default()
        };
        for op in &self.ops {
            match op.action {
                Action::Create | Action::Pull => sum.create += 1,
                Action::Recreate => sum.recreate += 1,
                Action::Start if self.is_start_after_create(op) => {}
                Action::Start => sum.start += 1,
                Action::Stop => sum.stop += 1,
                Action::Remove => sum.remove += 1,
                Action::Restart => sum.restart += 1,
            }
        }
        sum
    }

    /// Refuses a saved plan that an older or newer berth wrote, or that was made
    /// against a state that has changed since.
    pub fn ensure_current(&self, observed: &Observed) -> Result<(), PlannerError> {
        if self.version != PLAN_VERSION {
            return Err(PlannerError::PlanVersion {
                found: self.version,
                expected: PLAN_VERSION,
            });
        }
        let current = observed.fingerprint();
        if current != self.observed_fingerprint {
            return Err(PlannerError::StalePlan {
                planned: self.observed_fingerprint.clone(),
                current,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: usize, action: Action, name: &str, after: Vec<usize>) -> Op {
        Op {
            id,
            action,
            kind: ResourceKind::Container,
            name: name.into(),
            service: None,
            number: None,
            cause: String::new(),
            after,
        }
    }

    fn plan(ops: Vec<Op>) -> Plan {
        Plan {
            version: PLAN_VERSION,
            project: "demo".into(),
            observed_fingerprint: Observed::default().fingerprint(),
            ops,
            unchanged: vec!["x".into()],
            orphans: vec![],
        }
    }

    #[test]
    fn summary_folds_starts_into_their_creates() {
        let p = plan(vec![
            op(0, Action::Create, "a", vec![]),
            op(1, Action::Start, "a", vec![0]),
            op(2, Action::Start, "b", vec![1]),
            op(3, Action::Remove, "c", vec![]),
        ]);
        let sum = p.summary();
        assert_eq!(
            (sum.create, sum.start, sum.remove, sum.unchanged),
            (1, 1, 1, 1)
        );
        assert!(p.has_changes());
        assert!(!plan(vec![]).has_changes());
    }

    #[test]
    fn json_round_trip() {
        let p = plan(vec![op(0, Action::Recreate, "a", vec![])]);
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains(r#""action":"recreate""#));
        let back: Plan = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn stale_or_foreign_plans_are_refused() {
        let p = plan(vec![]);
        assert!(p.ensure_current(&Observed::default()).is_ok());
        let moved = Observed {
            networks: vec!["demo_default".into()],
            ..Observed::default()
        };
        assert!(matches!(
            p.ensure_current(&moved),
            Err(PlannerError::StalePlan { .. })
        ));
        let mut old = p.clone();
        old.version = 0;
        assert!(matches!(
            old.ensure_current(&Observed::default()),
            Err(PlannerError::PlanVersion { found: 0, .. })
        ));
    }
}
