//! The example stacks: each loads, plans, uses only the examples' image and
//! publishes only on 127.0.0.1; `examples/build-image.sh` builds that image
//! offline, idempotently (root).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::cli::berth;

const IMAGE: &str = "berth-examples/busybox:latest";
const EXAMPLES: [&str; 3] = ["web", "healthgate", "migrate"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compose_file(name: &str) -> String {
    repo()
        .join("examples/stacks")
        .join(name)
        .join("compose.yaml")
        .to_string_lossy()
        .into_owned()
}

fn temp() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

#[test]
fn every_example_loads_with_its_image_and_loopback_ports() {
    let work = temp();
    for name in EXAMPLES {
        let file = compose_file(name);
        let run = berth(
            work.path(),
            work.path(),
            &["config", "-f", &file, "--format", "json"],
        );
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let project: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_default();
        let services = project["services"].as_object().cloned().unwrap_or_default();
        assert!(
            !services.is_empty(),
            "{name}: no services in {}",
            run.stdout
        );
        for (service, body) in &services {
            assert_eq!(body["image"], IMAGE, "{name}/{service}");
            for port in body["ports"].as_array().cloned().unwrap_or_default() {
                assert_eq!(port["host_ip"], "127.0.0.1", "{name}/{service}: {port}");
            }
        }
    }
}

#[test]
fn every_example_plans() {
    let work = temp();
    let root = work.path().join("root");
    for name in EXAMPLES {
        let file = compose_file(name);
        let run = berth(&root, work.path(), &["plan", "-f", &file]);
        // 2: there are changes (everything is to be created).
        assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("create"), "{name}: {}", run.stdout);
    }
}

fn build_image(root: &Path) -> std::process::Output {
    let script = repo().join("examples/build-image.sh");
    let out = Command::new(script)
        .args(["--berth", env!("CARGO_BIN_EXE_berth"), "--root"])
        .arg(root)
        .output();
    match out {
        Ok(out) => out,
        Err(e) => panic!("running build-image.sh: {e}"),
    }
}

#[test]
fn build_image_is_offline_and_idempotent() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: building the image needs root");
        return;
    }
    let work = temp();
    let root = work.path().join("root");
    let first = build_image(&root);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = build_image(&root);
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let images = berth(&root, work.path(), &["images", "-q", IMAGE]);
    assert_eq!(images.stdout.lines().count(), 1, "{}", images.stdout);
    let run = berth(
        &root,
        work.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "httpd --help 2>&1 | head -1; wget --help 2>&1 | head -1",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}
