//! The stack verbs end to end, through the binary: config, plan, completion, help.

mod support;

use std::path::Path;

use support::cli::berth;

fn write(dir: &Path, name: &str, text: &str) {
    if let Err(e) = std::fs::write(dir.join(name), text) {
        panic!("cannot write fixture {name}: {e}");
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn config_prints_the_normalized_stack() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    ports: ['8080:80']\n    environment: [A=1]\n",
    );
    let run = berth(
        &dir.path().join("root"),
        dir.path(),
        &["config", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout)?;
    let web = &json["services"]["web"];
    assert_eq!(web["ports"][0]["published"], "8080");
    assert_eq!(web["ports"][0]["target"], 80);
    assert_eq!(web["environment"]["A"], "1");
    assert!(
        json["networks"]["default"]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("_default"))
    );
    Ok(())
}

#[test]
fn bad_input_is_located_and_exits_1() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    ports:\n      - 80:80\n      - 80:abc\n",
    );
    let run = berth(&dir.path().join("root"), dir.path(), &["config"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "compose.yaml:6:9: services.web.ports[1]: invalid port \"80:abc\": target \"abc\" is not a port number (1-65535)"
        ),
        "{}",
        run.stderr
    );
    Ok(())
}

#[test]
fn cycles_are_named() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
    );
    let run = berth(&dir.path().join("root"), dir.path(), &["plan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("dependency cycle detected: a -> b -> a"),
        "{}",
        run.stderr
    );
    Ok(())
}

#[test]
fn plan_exits_2_with_changes_and_saves_json() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let stack = repo().join("examples/stacks/web/compose.yaml");
    let out = dir.path().join("plan.json");
    let args = [
        "plan",
        "-f",
        stack.to_str().unwrap_or(""),
        "-o",
        out.to_str().unwrap_or(""),
    ];
    let run = berth(&dir.path().join("root"), dir.path(), &args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.contains("+ container web-demo-web-1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Plan: 6 to create, 0 to recreate, 0 to remove"),
        "{}",
        run.stdout
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    assert_eq!(saved["project"], "web-demo");
    assert_eq!(saved["ops"].as_array().map(Vec::len), Some(9));
    Ok(())
}

#[test]
fn plan_exits_0_when_nothing_to_do() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "compose.yaml", "name: empty\nservices: {}\n");
    let run = berth(&dir.path().join("root"), dir.path(), &["plan"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("No changes. Project \"empty\" is up to date"),
        "{}",
        run.stdout
    );
    Ok(())
}

#[test]
fn plan_json_lists_ops_with_causes() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let stack = repo().join("examples/stacks/migrate/compose.yaml");
    let args = [
        "plan",
        "-f",
        stack.to_str().unwrap_or(""),
        "--format",
        "json",
    ];
    let run = berth(&dir.path().join("root"), dir.path(), &args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout)?;
    let ops = plan["ops"].as_array().cloned().unwrap_or_default();
    let creates: Vec<&str> = ops
        .iter()
        .filter(|op| op["action"] == "create" && op["kind"] == "container")
        .filter_map(|op| op["name"].as_str())
        .collect();
    // Dependency order: the migration before the service that waits for it.
    assert_eq!(
        creates,
        [
            "migrate-demo-migrate-1",
            "migrate-demo-api-1",
            "migrate-demo-api-2"
        ]
    );
    assert!(
        ops.iter()
            .all(|op| op["cause"].as_str().is_some_and(|c| !c.is_empty()))
    );
    Ok(())
}

#[test]
fn multiple_files_profiles_and_project_name() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "a.yaml",
        "services:\n  web: {image: 'busybox:${TAG:-1}', command: [a, b]}\n  debug: {image: x, profiles: [dev]}\n",
    );
    write(dir.path(), "b.yaml", "services:\n  web: {command: [c]}\n");
    write(dir.path(), ".env", "TAG=2\n");
    let root = dir.path().join("root");
    let args = [
        "config", "-f", "a.yaml", "-f", "b.yaml", "-p", "myproj", "--format", "json",
    ];
    let run = berth(&root, dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout)?;
    assert_eq!(json["name"], "myproj");
    assert_eq!(json["services"]["web"]["image"], "busybox:2");
    assert_eq!(json["services"]["web"]["command"], serde_json::json!(["c"]));
    assert!(json["services"].get("debug").is_none());
    let run = berth(
        &root,
        dir.path(),
        &["config", "-f", "a.yaml", "--profile", "dev", "--services"],
    );
    assert_eq!(run.stdout, "debug\nweb\n");
    Ok(())
}

#[test]
fn config_hash_is_stable_and_versioned() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web: {image: busybox}\n",
    );
    let root = dir.path().join("root");
    let first = berth(&root, dir.path(), &["config", "--hash", "web"]);
    let second = berth(&root, dir.path(), &["config", "--hash", "*"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, second.stdout);
    assert!(first.stdout.starts_with("web v1:"));
    Ok(())
}

#[test]
fn completion_scripts_are_generated() {
    let dir = std::env::temp_dir();
    for shell in ["bash", "zsh", "fish"] {
        let run = berth(&dir.join("berth-no-root"), &dir, &["completion", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("berth"), "{shell}");
    }
}

#[test]
fn help_lists_only_working_verbs() {
    let dir = std::env::temp_dir();
    let run = berth(&dir.join("berth-no-root"), &dir, &["--help"]);
    assert_eq!(run.code, 0);
    for verb in ["config", "plan", "completion"] {
        assert!(run.stdout.contains(verb), "{verb} missing from --help");
    }
}

#[test]
fn bad_command_lines_exit_like_docker_and_compose() {
    let dir = std::env::temp_dir();
    let root = dir.join("berth-no-root");
    let root_arg = root.display().to_string();
    let engine = support::cli::berth(&root, &dir, &["run", "--pull", "sometimes", "bb", "true"]);
    assert_eq!(engine.code, 125, "{}", engine.stderr);
    assert!(
        engine.stderr.contains("invalid value 'sometimes'"),
        "{}",
        engine.stderr
    );
    let stack = support::cli::berth(&root, &dir, &["config", "--bogus"]);
    assert_eq!(stack.code, 1);
    // The global --root value is not taken for the verb.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["--root", &root_arg, "plan", "--bogus"])
        .output();
    assert_eq!(out.ok().and_then(|o| o.status.code()), Some(1));
    assert_eq!(support::cli::berth(&root, &dir, &["--help"]).code, 0);
}
