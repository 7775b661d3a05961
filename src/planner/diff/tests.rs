use super::*;
use crate::planner::testutil::{ProjectBuilder, converged, depends, image_id, mount, service};
use crate::spec::model::{Deploy, Port};

/// Plans against `observed` and checks the invariants every plan must keep.
fn plan(project: &Project, observed: &Observed, opts: &DiffOptions) -> Plan {
    let plan = diff(project, observed, opts).unwrap();
    for (i, op) in plan.ops.iter().enumerate() {
        assert_eq!(op.id, i);
        assert!(
            op.after.iter().all(|&a| a < i),
            "op {i} waits on a later op: {op:?}"
        );
    }
    plan
}

fn plan_default(project: &Project, observed: &Observed) -> Plan {
    plan(project, observed, &DiffOptions::default())
}

/// `(action, name, cause)` of every op, for compact assertions.
fn lines(plan: &Plan) -> Vec<(Action, &str, &str)> {
    plan.ops
        .iter()
        .map(|op| (op.action, op.name.as_str(), op.cause.as_str()))
        .collect()
}

fn find<'p>(plan: &'p Plan, action: Action, name: &str) -> &'p Op {
    plan.ops
        .iter()
        .find(|op| op.action == action && op.name == name)
        .unwrap_or_else(|| panic!("no {action:?} op for {name}: {:#?}", plan.ops))
}

fn replicas(n: u32) -> Option<Deploy> {
    Some(Deploy {
        replicas: Some(n),
        ..Deploy::default()
    })
}

fn web_with_port(published: &str) -> Service {
    let mut web = service("nginx:1");
    web.ports.push(Port {
        mode: "ingress".into(),
        host_ip: None,
        target: 80,
        published: Some(published.into()),
        protocol: "tcp".into(),
        app_protocol: None,
        name: None,
    });
    web
}

fn single(name: &str, svc: Service) -> Project {
    ProjectBuilder::new("demo").service(name, svc).build()
}

#[test]
fn converged_state_needs_no_ops() {
    let mut web = service("nginx:1");
    web.deploy = replicas(2);
    let project = ProjectBuilder::new("demo")
        .volume("data")
        .service("web", web)
        .service("db", {
            let mut db = service("postgres:16");
            db.volumes.push(mount("data", "/var/lib/postgresql/data"));
            db
        })
        .build();
    let plan = plan_default(&project, &converged(&project));
    assert!(!plan.has_changes(), "{:#?}", plan.ops);
    assert_eq!(
        plan.unchanged,
        [
            "demo_default",
            "demo_data",
            "nginx:1",
            "postgres:16",
            "demo-db-1",
            "demo-web-1",
            "demo-web-2"
        ]
    );
    assert!(plan.orphans.is_empty());
}

#[test]
fn new_service_creates_everything_it_needs() {
    let mut web = service("nginx:1");
    web.volumes.push(mount("data", "/data"));
    let project = ProjectBuilder::new("demo")
        .volume("data")
        .service("web", web)
        .build();
    let plan = plan_default(&project, &Observed::default());
    assert_eq!(
        lines(&plan),
        [
            (Action::Create, "demo_default", "not found"),
            (Action::Create, "demo_data", "not found"),
            (Action::Pull, "nginx:1", "image not present"),
            (Action::Create, "demo-web-1", "new service"),
            (Action::Start, "demo-web-1", "start new container"),
        ]
    );
    // The container waits for its network, volume and image; start waits for create.
    assert_eq!(plan.ops[3].after, [0, 1, 2]);
    assert_eq!(plan.ops[4].after, [3]);
    assert!(plan.has_changes());
}

#[test]
fn external_resources_and_build_only_images_get_no_ops() {
    let mut app = service("app:dev");
    app.build = Some(serde_json::json!({"context": "."}));
    let mut project = single("app", app);
    if let Some(net) = project.networks.get_mut("default") {
        net.external = true;
    }
    let plan = plan_default(&project, &Observed::default());
    assert_eq!(
        lines(&plan),
        [
            (Action::Create, "demo-app-1", "new service"),
            (Action::Start, "demo-app-1", "start new container"),
        ]
    );
}

#[test]
fn changed_port_names_the_field() {
    let before = single("web", web_with_port("8080"));
    let after = single("web", web_with_port("8081"));
    let plan = plan_default(&after, &converged(&before));
    assert_eq!(
        lines(&plan),
        [(
            Action::Recreate,
            "demo-web-1",
            r#"ports[0].published: "8080" -> "8081""#
        )]
    );
}

#[test]
fn changed_image_is_pulled_then_recreated() {
    let before = single("web", service("busybox:1"));
    let after = single("web", service("busybox:2"));
    let plan = plan_default(&after, &converged(&before));
    assert_eq!(
        lines(&plan),
        [
            (Action::Pull, "busybox:2", "image not present"),
            (
                Action::Recreate,
                "demo-web-1",
                r#"image: "busybox:1" -> "busybox:2""#
            ),
        ]
    );
    assert_eq!(plan.ops[1].after, [0]);
}

#[test]
fn unknown_old_config_shows_both_hashes() {
    let before = single("web", service("busybox:1"));
    let after = single("web", service("busybox:2"));
    let mut observed = converged(&before);
    observed.containers[0].canonical = None;
    observed
        .images
        .insert("busybox:2".into(), image_id("busybox:2"));
    let plan = plan_default(&after, &observed);
    let old = &observed.containers[0].config_hash;
    let new = hash_service(&after.services["web"]).unwrap().value;
    let expected = format!("config changed (hash {}… -> {}…)", &old[..11], &new[..11]);
    assert_eq!(
        lines(&plan),
        [(Action::Recreate, "demo-web-1", expected.as_str())]
    );
}

#[test]
fn new_image_behind_the_same_tag_recreates() {
    let project = single("web", service("busybox:1"));
    let mut observed = converged(&project);
    observed
        .images
        .insert("busybox:1".into(), format!("sha256:{}", "ab".repeat(32)));
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan),
        [(
            Action::Recreate,
            "demo-web-1",
            "image: sha256:id-of-busybo -> sha256:abababababab"
        )]
    );
}

#[test]
fn scale_up_adds_the_missing_numbers() {
    let mut web = service("nginx:1");
    web.deploy = replicas(3);
    let project = single("web", web);
    let mut observed = converged(&project);
    observed.containers.retain(|c| c.number == 2);
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan),
        [
            (Action::Create, "demo-web-1", "scale up to 3"),
            (Action::Start, "demo-web-1", "start new container"),
            (Action::Create, "demo-web-3", "scale up to 3"),
            (Action::Start, "demo-web-3", "start new container"),
        ]
    );
    assert_eq!(
        plan.unchanged.last().map(String::as_str),
        Some("demo-web-2")
    );
}

#[test]
fn scale_down_removes_the_highest_numbers_first() {
    let mut web = service("nginx:1");
    web.deploy = replicas(4);
    let project = single("web", web);
    let observed = converged(&project);
    let opts = DiffOptions {
        scale: BTreeMap::from([("web".to_string(), 2)]),
        ..DiffOptions::default()
    };
    let plan = plan(&project, &observed, &opts);
    assert_eq!(
        lines(&plan),
        [
            (Action::Remove, "demo-web-4", "scale down to 2"),
            (Action::Remove, "demo-web-3", "scale down to 2"),
        ]
    );
}

#[test]
fn duplicate_replica_numbers_keep_the_running_one() {
    let project = single("web", service("nginx:1"));
    let mut observed = converged(&project);
    let mut copy = observed.containers[0].clone();
    copy.id = "aaa-stopped-copy".into();
    copy.name = "demo-web-1-copy".into();
    copy.status = ContainerStatus::Exited { code: 0 };
    observed.containers.insert(0, copy);
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan),
        [(Action::Remove, "demo-web-1-copy", "duplicate of replica 1")]
    );
    assert!(plan.unchanged.contains(&"demo-web-1".to_string()));
}

#[test]
fn scaling_an_unknown_service_is_an_error() {
    let project = single("web", service("nginx:1"));
    let opts = DiffOptions {
        scale: BTreeMap::from([("nope".to_string(), 2)]),
        ..DiffOptions::default()
    };
    let err = diff(&project, &Observed::default(), &opts).unwrap_err();
    assert!(matches!(err, PlannerError::ScaleUnknownService { .. }));
}

#[test]
fn orphans_are_reported_and_removed_on_request() {
    let project = single("web", service("nginx:1"));
    let mut observed = converged(&project);
    let mut old = observed.containers[0].clone();
    old.service = "old".into();
    old.name = "demo-old-1".into();
    observed.containers.push(old);
    let mut other_project = observed.containers[0].clone();
    other_project.project = "other".into();
    other_project.service = "elsewhere".into();
    observed.containers.push(other_project);

    let kept = plan_default(&project, &observed);
    assert!(!kept.has_changes());
    assert_eq!(kept.orphans, ["demo-old-1"]);

    let opts = DiffOptions {
        remove_orphans: true,
        ..DiffOptions::default()
    };
    let removed = plan(&project, &observed, &opts);
    assert_eq!(removed.orphans, ["demo-old-1"]);
    assert_eq!(
        lines(&removed),
        [(
            Action::Remove,
            "demo-old-1",
            "orphan: service old is not in the stack"
        )]
    );
}

#[test]
fn oneoff_containers_are_ignored() {
    let project = single("web", service("nginx:1"));
    let mut observed = converged(&project);
    let mut run = observed.containers[0].clone();
    run.oneoff = true;
    run.number = 7;
    run.status = ContainerStatus::Exited { code: 1 };
    observed.containers.push(run.clone());
    run.service = "gone".into();
    observed.containers.push(run);
    let plan = plan_default(&project, &observed);
    assert!(!plan.has_changes());
    assert!(plan.orphans.is_empty());
}

fn db_and_web(db_image: &str, restart: bool) -> Project {
    let mut web = service("nginx:1");
    web.depends_on.insert("db".into(), depends(restart));
    let mut worker = service("worker:1");
    worker.depends_on.insert("web".into(), depends(restart));
    ProjectBuilder::new("demo")
        .service("db", service(db_image))
        .service("web", web)
        .service("worker", worker)
        .build()
}

#[test]
fn recreated_dependency_restarts_restart_dependents_transitively() {
    let before = db_and_web("postgres:15", true);
    let after = db_and_web("postgres:16", true);
    let mut observed = converged(&before);
    observed
        .images
        .insert("postgres:16".into(), image_id("postgres:16"));
    let plan = plan_default(&after, &observed);
    assert_eq!(
        lines(&plan),
        [
            (
                Action::Recreate,
                "demo-db-1",
                r#"image: "postgres:15" -> "postgres:16""#
            ),
            (
                Action::Restart,
                "demo-web-1",
                "restart: dependency db was recreated"
            ),
            (
                Action::Restart,
                "demo-worker-1",
                "restart: dependency web was restarted"
            ),
        ]
    );
    assert_eq!(plan.ops[1].after, [0]);
    assert_eq!(plan.ops[2].after, [1]);
}

#[test]
fn started_dependency_restarts_restart_dependents() {
    let project = db_and_web("postgres:16", true);
    let mut observed = converged(&project);
    observed.containers[0].status = ContainerStatus::Exited { code: 137 };
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan)[..2],
        [
            (Action::Start, "demo-db-1", "container is not running"),
            (
                Action::Restart,
                "demo-web-1",
                "restart: dependency db was started"
            ),
        ]
    );
}

#[test]
fn only_selected_services_are_planned_and_others_are_not_orphans() {
    let project = db_and_web("postgres:16", false);
    let opts = DiffOptions {
        only: Some(["db".to_string(), "web".to_string()].into()),
        ..DiffOptions::default()
    };
    let plan = plan(&project, &Observed::default(), &opts);
    let names: Vec<&str> = plan.ops.iter().map(|o| o.name.as_str()).collect();
    assert!(!names.iter().any(|n| n.contains("worker")), "{names:?}");
    assert!(names.contains(&"demo-web-1") && names.contains(&"demo-db-1"));
    let mut observed = converged(&project);
    observed.containers.retain(|c| c.service == "worker");
    let only_db = DiffOptions {
        only: Some(["db".to_string()].into()),
        ..DiffOptions::default()
    };
    assert!(plan_cause_free(&project, &observed, &only_db));
}

/// Whether the plan leaves every unselected container alone and calls none an orphan.
fn plan_cause_free(project: &Project, observed: &Observed, opts: &DiffOptions) -> bool {
    let plan = plan(project, observed, opts);
    plan.orphans.is_empty() && plan.ops.iter().all(|o| o.service.as_deref() == Some("db"))
}

#[test]
fn recreated_dependency_without_restart_leaves_dependents_alone() {
    let before = db_and_web("postgres:15", false);
    let after = db_and_web("postgres:16", false);
    let mut observed = converged(&before);
    observed
        .images
        .insert("postgres:16".into(), image_id("postgres:16"));
    let plan = plan_default(&after, &observed);
    assert_eq!(plan.ops.len(), 1);
    assert_eq!(plan.ops[0].name, "demo-db-1");
}

#[test]
fn oneshot_that_succeeded_stays_but_a_failed_one_is_started() {
    let project = single("migrate", service("migrate:1"));
    let mut observed = converged(&project);
    observed.containers[0].status = ContainerStatus::Exited { code: 0 };
    assert!(!plan_default(&project, &observed).has_changes());

    observed.containers[0].status = ContainerStatus::Exited { code: 1 };
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan),
        [(Action::Start, "demo-migrate-1", "container is not running")]
    );
}

#[test]
fn a_oneshot_a_user_stopped_is_started_again() {
    let project = single("migrate", service("migrate:1"));
    let mut observed = converged(&project);
    observed.containers[0].status = ContainerStatus::Stopped { code: 0 };
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan),
        [(Action::Start, "demo-migrate-1", "container is not running")]
    );
}

#[test]
fn long_running_service_that_exited_is_started() {
    let mut svc = service("nginx:1");
    svc.restart = Some("unless-stopped".into());
    let project = single("web", svc);
    let mut observed = converged(&project);
    observed.containers[0].status = ContainerStatus::Exited { code: 0 };
    let plan = plan_default(&project, &observed);
    assert_eq!(
        lines(&plan),
        [(Action::Start, "demo-web-1", "container is not running")]
    );
    observed.containers[0].status = ContainerStatus::Created;
    assert_eq!(plan_default(&project, &observed).ops.len(), 1);
}

#[test]
fn dependency_starts_before_dependent_and_network_before_containers() {
    let mut web = service("nginx:1");
    web.depends_on.insert("db".into(), depends(false));
    let project = ProjectBuilder::new("demo")
        .service("web", web)
        .service("db", service("postgres:16"))
        .build();
    let plan = plan_default(&project, &Observed::default());
    let network = find(&plan, Action::Create, "demo_default").id;
    let db_create = find(&plan, Action::Create, "demo-db-1");
    let db_start = find(&plan, Action::Start, "demo-db-1");
    let web_create = find(&plan, Action::Create, "demo-web-1");
    let web_start = find(&plan, Action::Start, "demo-web-1");
    assert!(db_create.after.contains(&network));
    assert!(web_create.after.contains(&network));
    assert!(db_start.after.contains(&db_create.id));
    assert!(web_start.after.contains(&db_start.id));
    assert!(web_start.after.contains(&web_create.id));
    // Creating the dependent need not wait for the dependency: it can overlap.
    assert!(!web_create.after.contains(&db_start.id));
}

fn vpn_project(vpn_image: &str) -> Project {
    let mut app = service("app:1");
    app.networks.clear();
    app.network_mode = Some("service:vpn".into());
    ProjectBuilder::new("demo")
        .service("app", app)
        .service("vpn", service(vpn_image))
        .build()
}

#[test]
fn shared_network_namespace_waits_for_the_owner_to_run() {
    let plan = plan_default(&vpn_project("vpn:1"), &Observed::default());
    let vpn_start = find(&plan, Action::Start, "demo-vpn-1").id;
    assert!(
        find(&plan, Action::Create, "demo-app-1")
            .after
            .contains(&vpn_start)
    );
}

#[test]
fn recreating_a_namespace_owner_recreates_its_guests() {
    let before = vpn_project("vpn:1");
    let after = vpn_project("vpn:2");
    let mut observed = converged(&before);
    observed.images.insert("vpn:2".into(), image_id("vpn:2"));
    let plan = plan_default(&after, &observed);
    assert_eq!(
        lines(&plan),
        [
            (
                Action::Recreate,
                "demo-vpn-1",
                r#"image: "vpn:1" -> "vpn:2""#
            ),
            (Action::Recreate, "demo-app-1", "dependency vpn recreated"),
        ]
    );
    assert_eq!(plan.ops[1].after, [0]);
}

#[test]
fn force_recreate_and_no_recreate() {
    let before = single("web", web_with_port("8080"));
    let after = single("web", web_with_port("8081"));
    let observed = converged(&before);

    let force = DiffOptions {
        force_recreate: true,
        ..DiffOptions::default()
    };
    let forced = plan(&before, &observed, &force);
    assert_eq!(
        lines(&forced),
        [(Action::Recreate, "demo-web-1", "--force-recreate")]
    );

    let keep = DiffOptions {
        no_recreate: true,
        ..DiffOptions::default()
    };
    assert!(!plan(&after, &observed, &keep).has_changes());

    let both = DiffOptions {
        force_recreate: true,
        no_recreate: true,
        ..DiffOptions::default()
    };
    assert!(matches!(
        diff(&after, &observed, &both),
        Err(PlannerError::ConflictingOptions)
    ));
}

#[test]
fn container_name_is_used_and_refused_with_replicas() {
    let mut db = service("postgres:16");
    db.extra.insert("container_name".into(), "pg".into());
    let project = single("db", db.clone());
    let plan = plan_default(&project, &converged(&project));
    assert_eq!(plan.unchanged.last().map(String::as_str), Some("pg"));

    db.deploy = replicas(2);
    let err = diff(
        &single("db", db),
        &Observed::default(),
        &DiffOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        PlannerError::ContainerNameWithReplicas { replicas: 2, .. }
    ));
}

#[test]
fn cycle_reaches_the_caller() {
    let mut a = service("a:1");
    a.depends_on.insert("b".into(), depends(false));
    let mut b = service("b:1");
    b.depends_on.insert("a".into(), depends(false));
    let project = ProjectBuilder::new("demo")
        .service("a", a)
        .service("b", b)
        .build();
    let err = diff(&project, &Observed::default(), &DiffOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
}

/// 1,000 services in chains of 10 over a few networks and volumes. The timing goal
/// (well under 20 ms in release) is checked by hand; this guards the op counts.
#[test]
fn thousand_services_against_an_empty_state() {
    let mut builder = ProjectBuilder::new("big")
        .network("back")
        .volume("v0")
        .volume("v1");
    for i in 0..1000 {
        let mut svc = service(&format!("img{}:1", i % 7));
        if i % 10 != 0 {
            svc.depends_on
                .insert(format!("s{:04}", i - 1), depends(i % 2 == 0));
        }
        if i % 3 == 0 {
            svc.networks.insert("back".into(), None);
        }
        if i % 5 == 0 {
            svc.volumes.push(mount(&format!("v{}", i % 2), "/data"));
        }
        builder = builder.service(&format!("s{i:04}"), svc);
    }
    let project = builder.build();
    let started = std::time::Instant::now();
    let plan = plan_default(&project, &Observed::default());
    let elapsed = started.elapsed();
    let count = |action| plan.ops.iter().filter(|op| op.action == action).count();
    // 2 networks + 2 volumes + 1000 containers; 7 pulls; 1000 starts.
    assert_eq!(count(Action::Create), 1004);
    assert_eq!(count(Action::Pull), 7);
    assert_eq!(count(Action::Start), 1000);
    assert_eq!(plan.ops.len(), 2011);
    eprintln!("diff of 1000 services took {elapsed:?}");
}
