//! A saved plan goes stale only when the project's own resources change (root).

mod support;

use support::cli::Run;
use support::runtime::Fixture;

fn stack(greeting: &str) -> String {
    format!(
        r#"services:
  a:
    image: bb
    command: ["sleep", "1000"]
    stop_signal: KILL
    environment: {{GREETING: "{greeting}"}}
    volumes: ["data:/data"]
volumes:
  data: {{}}
"#
    )
}

fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

#[test]
fn unrelated_resources_do_not_stale_a_plan_but_the_projects_own_do() {
    let fx = Fixture::new();
    let project = format!("scope{}", &fx.bridge[2..]);
    let file = fx.work.path().join("compose.yaml");
    let file_text = file.to_string_lossy().into_owned();
    let plan = fx.work.path().join("plan.json");
    let plan_text = plan.to_string_lossy().into_owned();
    let stack_args = |verb: &'static str| vec![verb, "-f", &file_text, "-p", &project];
    let save_plan = || {
        let mut args = stack_args("plan");
        args.extend(["-o", plan_text.as_str()]);
        let made = fx.berth(&args);
        assert_eq!(made.code, 2, "{}", made.stderr);
    };
    let apply = || {
        let mut args = stack_args("apply");
        args.push(&plan_text);
        fx.berth(&args)
    };
    let write = |greeting: &str| {
        if let Err(e) = std::fs::write(&file, stack(greeting)) {
            panic!("writing {}: {e}", file.display());
        }
    };

    write("one");
    save_plan();
    let other_net = format!("{project}-unrelated");
    ok(fx.berth(&["network", "create", &other_net]));
    ok(fx.berth(&["volume", "create", &other_net]));
    ok(fx.berth(&["tag", "bb", &format!("{project}-other:1")]));
    ok(apply());
    let name = format!("{project}-a-1");
    let ps = ok(fx.berth(&["ps"]));
    assert!(ps.stdout.contains(&name), "{}", ps.stdout);

    write("two");
    save_plan();
    ok(fx.berth(&["stop", &name]));
    let stale = apply();
    assert_eq!(stale.code, 1, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("changed since this plan"),
        "{}",
        stale.stderr
    );

    let _ = fx.berth(&["down", "-p", &project, "-v", "-t", "1"]);
    let _ = fx.berth(&["volume", "rm", &other_net]);
}
