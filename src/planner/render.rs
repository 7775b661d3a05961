//! Terraform-style text view of a plan, one line per operation a user cares about.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::plan::{Action, Op, Plan};

/// Width of the word column: the longest word, "container".
const WORD_WIDTH: usize = 9;
/// Spaces between the padded name column and the cause.
const CAUSE_GAP: &str = "   ";

/// Renders the plan for humans. Starts that only complete a create in the same
/// plan are folded into that create's line; orphans that are kept get a hint.
pub fn render(plan: &Plan) -> String {
    let shown: Vec<&Op> = plan
        .ops
        .iter()
        .filter(|op| !plan.is_start_after_create(op))
        .collect();
    let mut out = String::new();
    if shown.is_empty() {
        let _ = writeln!(
            out,
            "No changes. Project {:?} is up to date ({} unchanged).",
            plan.project,
            plan.unchanged.len()
        );
        push_orphan_hint(&mut out, plan);
        return out;
    }
    let _ = writeln!(out, "Plan for project {:?}:", plan.project);
    let name_width = shown
        .iter()
        .map(|op| op.name.chars().count())
        .max()
        .unwrap_or(0);
    for op in &shown {
        let _ = writeln!(
            out,
            "  {} {:<WORD_WIDTH$} {:<name_width$}{CAUSE_GAP}({})",
            symbol(op.action),
            word(op),
            op.name,
            op.cause
        );
    }
    push_orphan_hint(&mut out, plan);
    let _ = writeln!(out, "{}", summary_line(plan));
    out
}

fn symbol(action: Action) -> char {
    match action {
        Action::Create | Action::Pull => '+',
        Action::Recreate => '~',
        Action::Start | Action::Restart => '>',
        Action::Stop => '!',
        Action::Remove => '-',
    }
}

/// The resource kind, except that a pull reads as the verb: `+ pull busybox:1`.
fn word(op: &Op) -> &'static str {
    match op.action {
        Action::Pull => "pull",
        _ => op.kind.as_str(),
    }
}

/// Orphans that this plan does not remove; removed ones already have a line.
fn push_orphan_hint(out: &mut String, plan: &Plan) {
    let removed: HashSet<&str> = plan
        .ops
        .iter()
        .filter(|op| op.action == Action::Remove)
        .map(|op| op.name.as_str())
        .collect();
    let kept: Vec<&str> = plan
        .orphans
        .iter()
        .map(String::as_str)
        .filter(|name| !removed.contains(name))
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(
            out,
            "Orphans: {} (use --remove-orphans to remove)",
            kept.join(", ")
        );
    }
}

fn summary_line(plan: &Plan) -> String {
    let sum = plan.summary();
    let mut parts = vec![
        format!("{} to create", sum.create),
        format!("{} to recreate", sum.recreate),
    ];
    if sum.start > 0 {
        parts.push(format!("{} to start", sum.start));
    }
    if sum.stop > 0 {
        parts.push(format!("{} to stop", sum.stop));
    }
    if sum.restart > 0 {
        parts.push(format!("{} to restart", sum.restart));
    }
    parts.push(format!("{} to remove", sum.remove));
    parts.push(format!("{} unchanged", sum.unchanged));
    format!("Plan: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::diff::{DiffOptions, diff};
    use crate::planner::observed::Observed;
    use crate::planner::testutil::{ProjectBuilder, converged, depends, mount, service};
    use crate::spec::model::{Port, Project, Service};

    fn api(published: &str) -> Service {
        let mut api = service("nginx:1");
        api.depends_on.insert("web".into(), depends(false));
        api.ports.push(Port {
            mode: "ingress".into(),
            host_ip: None,
            target: 80,
            published: Some(published.into()),
            protocol: "tcp".into(),
            app_protocol: None,
            name: None,
        });
        api
    }

    fn demo(published: &str) -> Project {
        let mut web = service("busybox:1.36");
        web.volumes.push(mount("data", "/data"));
        ProjectBuilder::new("demo")
            .volume("data")
            .service("api", api(published))
            .service("db", service("nginx:1"))
            .service("web", web)
            .build()
    }

    /// api and db run, web is new, and a container of a removed service remains.
    fn demo_state() -> Observed {
        let before = ProjectBuilder::new("demo")
            .service("api", api("8080"))
            .service("db", service("nginx:1"))
            .service("old", service("nginx:1"))
            .build();
        let mut observed = converged(&before);
        observed.networks.clear();
        observed
    }

    #[test]
    fn renders_a_mixed_plan_with_aligned_columns() {
        let opts = DiffOptions {
            remove_orphans: true,
            ..DiffOptions::default()
        };
        let plan = diff(&demo("8081"), &demo_state(), &opts).unwrap();
        let expected = r#"Plan for project "demo":
  + network   demo_default   (not found)
  + volume    demo_data      (not found)
  + pull      busybox:1.36   (image not present)
  + container demo-web-1     (new service)
  ~ container demo-api-1     (ports[0].published: "8080" -> "8081")
  - container demo-old-1     (orphan: service old is not in the stack)
Plan: 4 to create, 1 to recreate, 1 to remove, 2 unchanged.
"#;
        assert_eq!(render(&plan), expected);
    }

    #[test]
    fn kept_orphans_get_a_hint_and_lone_starts_are_counted() {
        let project = demo("8080");
        let mut observed = converged(&project);
        let mut old = observed.containers[0].clone();
        old.service = "old".into();
        old.name = "demo-old-1".into();
        observed.containers.push(old);
        if let Some(db) = observed.containers.iter_mut().find(|c| c.service == "db") {
            db.status = crate::planner::observed::ContainerStatus::Exited { code: 137 };
        }
        let plan = diff(&project, &observed, &DiffOptions::default()).unwrap();
        let expected = r#"Plan for project "demo":
  > container demo-db-1   (container is not running)
Orphans: demo-old-1 (use --remove-orphans to remove)
Plan: 0 to create, 0 to recreate, 1 to start, 0 to remove, 6 unchanged.
"#;
        assert_eq!(render(&plan), expected);
    }

    #[test]
    fn renders_no_changes() {
        let project = demo("8080");
        let plan = diff(&project, &converged(&project), &DiffOptions::default()).unwrap();
        assert_eq!(
            render(&plan),
            "No changes. Project \"demo\" is up to date (7 unchanged).\n"
        );
    }
}
