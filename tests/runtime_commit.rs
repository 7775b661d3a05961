//! `commit`, `diff` and `export` end to end (root): a container's changes
//! listed, committed into an image that runs, and exported as a flat tar.

mod support;

use std::path::Path;
use std::time::Duration;

use support::runtime::Fixture;

/// Adds `/x` (with a file and a subdirectory) to the test image.
fn with_dir_x(root: &Path) {
    let sub = root.join("x/sub");
    if let Err(e) = std::fs::create_dir_all(&sub) {
        panic!("{}: {e}", sub.display());
    }
    for (path, data) in [("x/a", "a\n"), ("x/sub/b", "b\n")] {
        if let Err(e) = std::fs::write(root.join(path), data) {
            panic!("{path}: {e}");
        }
    }
}

/// The changes every test container makes: add, modify, delete, and replace
/// a directory of the image with a fresh (opaque) one.
const CHANGES: &str = "echo new > /new; echo 'web2:x:2:2::/:/bin/sh' >> /etc/passwd; \
                       rm /bin/wc; rm -rf /x && mkdir /x && echo n > /x/n";

fn changed(f: &Fixture, name: &str) {
    let run = f.berth(&["run", "--name", name, "bb", "sh", "-c", CHANGES]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn ok(f: &Fixture, args: &[&str]) -> String {
    let run = f.berth(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.stdout
}

/// The config blob of image `name`, read from the store.
fn image_config(f: &Fixture, name: &str) -> serde_json::Value {
    let key = format!("docker.io/library/{name}");
    let index: serde_json::Value = read_json(&f.root.join("images.json"));
    let Some(digest) = index["refs"][&key]["config"].as_str() else {
        panic!("{key} is not in the index: {index}");
    };
    let hex = digest.trim_start_matches("sha256:");
    read_json(&f.root.join("blobs/sha256").join(hex))
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Entry names of a tar, and the content of the ones asked for.
fn tar_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    let Ok(entries) = archive.entries() else {
        panic!("not a tar");
    };
    for entry in entries {
        let Ok(mut entry) = entry else {
            panic!("bad tar entry")
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut data = Vec::new();
        let _ = std::io::Read::read_to_end(&mut entry, &mut data);
        out.push((name, data));
    }
    out
}

#[test]
fn diff_lists_exactly_the_containers_changes() {
    let f = Fixture::with_image(with_dir_x);
    changed(&f, "c");
    let out = ok(&f, &["diff", "c"]);
    assert_eq!(
        out,
        "C /bin\nD /bin/wc\nC /etc\nC /etc/passwd\nA /new\nC /x\nD /x/a\nA /x/n\nD /x/sub\n"
    );
    let untouched = f.berth(&["run", "--name", "quiet", "bb", "true"]);
    assert_eq!(untouched.code, 0, "{}", untouched.stderr);
    assert_eq!(
        ok(&f, &["diff", "quiet"]),
        "",
        "berth's own files are hidden"
    );
    let missing = f.berth(&["diff", "nope"]);
    assert_eq!(missing.code, 125);
    assert!(missing.stderr.contains("No such container: nope"));
}

#[test]
fn the_committed_image_runs_with_every_change() {
    let f = Fixture::with_image(with_dir_x);
    changed(&f, "c");
    let id = ok(&f, &["commit", "c", "snap"]);
    let hex = id.trim().trim_start_matches("sha256:");
    assert!(id.starts_with("sha256:") && hex.len() == 64, "{id}");
    let script = "cat /new; ls /x; test -e /bin/wc && echo wc || echo no-wc; grep web2 /etc/passwd";
    let out = ok(&f, &["run", "--rm", "snap", "sh", "-c", script]);
    assert_eq!(out, "new\nn\nno-wc\nweb2:x:2:2::/:/bin/sh\n");
    let config = image_config(&f, "snap:latest");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(config["config"]["Cmd"][0], "sh", "{config}");
    assert_eq!(config["container_config"]["Image"], "bb");
    // The new container starts from the committed layer: nothing changed yet.
    let second = f.berth(&["run", "--name", "again", "snap", "true"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(ok(&f, &["diff", "again"]), "");
}

#[test]
fn changes_message_and_author_go_into_the_config() {
    let f = Fixture::with_image(with_dir_x);
    changed(&f, "c");
    ok(
        &f,
        &[
            "commit",
            "-c",
            "CMD [\"echo\",\"hi\"]",
            "-c",
            "ENV MODE=committed",
            "-m",
            "my message",
            "-a",
            "Jane <jane@example.com>",
            "c",
            "hello:v1",
        ],
    );
    assert_eq!(ok(&f, &["run", "--rm", "hello:v1"]), "hi\n");
    let env = ok(&f, &["run", "--rm", "hello:v1", "sh", "-c", "echo $MODE"]);
    assert_eq!(env, "committed\n");
    let config = image_config(&f, "hello:v1");
    let history = config["history"].as_array().cloned().unwrap_or_default();
    let last = history.last().cloned().unwrap_or_default();
    assert_eq!(last["comment"], "my message");
    assert_eq!(last["author"], "Jane <jane@example.com>");
    assert_eq!(
        last["created_by"]
            .as_str()
            .map(|s| s.starts_with("sh -c echo new")),
        Some(true)
    );
    assert_eq!(config["author"], "Jane <jane@example.com>");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["echo", "hi"]));
    // container_config is the container as it ran, before the changes.
    assert_eq!(config["container_config"]["Cmd"][0], "sh");
}

#[test]
fn a_container_without_changes_commits_an_empty_layer() {
    let f = Fixture::new();
    let run = f.berth(&["run", "--name", "same", "bb", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    ok(&f, &["commit", "same", "same:img"]);
    let config = image_config(&f, "same:img");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(1)
    );
    let history = config["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["empty_layer"], true);
    assert_eq!(ok(&f, &["run", "--rm", "same:img", "echo", "ok"]), "ok\n");
}

#[test]
fn export_is_the_merged_view_without_whiteouts() {
    let f = Fixture::with_image(with_dir_x);
    changed(&f, "c");
    let file = f.work.path().join("c.tar");
    let file_arg = file.to_string_lossy().into_owned();
    ok(&f, &["export", "-o", &file_arg, "c"]);
    let bytes = std::fs::read(&file).unwrap_or_default();
    let entries = tar_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    for present in [
        "bin/",
        "bin/busybox",
        "bin/sh",
        "new",
        "x/",
        "x/n",
        "etc/passwd",
    ] {
        assert!(names.contains(&present), "{present} missing: {names:?}");
    }
    for absent in ["bin/wc", "x/a", "x/sub/", "x/sub/b"] {
        assert!(!names.contains(&absent), "{absent} present");
    }
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with('/') || n.starts_with("./"))
    );
    let passwd = entries.iter().find(|e| e.0 == "etc/passwd").map(|e| &e.1);
    let passwd = String::from_utf8_lossy(passwd.map_or(&[][..], |p| p.as_slice()));
    assert!(
        passwd.contains("root:x:0:0") && passwd.contains("web2:x:2:2"),
        "{passwd}"
    );
    // The same archive on stdout.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&f.root)
        .args(["export", "c"])
        .output();
    let Ok(out) = out else {
        panic!("cannot run berth")
    };
    assert!(out.status.success());
    assert_eq!(tar_entries(&out.stdout).len(), entries.len());
}

#[test]
fn a_running_container_is_exported_without_its_mounts() {
    let f = Fixture::new();
    ok(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "live",
            "bb",
            "sh",
            "-c",
            "echo up > /up; sleep 60",
        ],
    );
    wait_for_change(&f, "live", "A /up");
    let file = f.work.path().join("live.tar");
    ok(&f, &["export", "-o", &file.to_string_lossy(), "live"]);
    let entries = tar_entries(&std::fs::read(&file).unwrap_or_default());
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert!(
        names.contains(&"up") && names.contains(&"proc/"),
        "{names:?}"
    );
    for mount in ["proc/", "sys/", "dev/"] {
        let inside: Vec<&&str> = names
            .iter()
            .filter(|n| n.starts_with(mount) && **n != mount)
            .collect();
        assert!(inside.is_empty(), "{mount} contents exported: {inside:?}");
    }
}

fn wait_for_change(f: &Fixture, name: &str, line: &str) {
    for _ in 0..300 {
        if f.berth(&["diff", name]).stdout.lines().any(|l| l == line) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{name} never showed {line:?}");
}

#[test]
fn committing_a_running_container_leaves_it_running() {
    let f = Fixture::new();
    ok(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "live",
            "bb",
            "sh",
            "-c",
            "echo x > /live; sleep 60",
        ],
    );
    wait_for_change(&f, "live", "A /live");
    ok(&f, &["commit", "live", "live:paused"]);
    ok(&f, &["commit", "--pause=false", "live", "live:unpaused"]);
    let running = ok(&f, &["ps", "-q", "-f", "status=running"]);
    assert_eq!(running.lines().count(), 1, "{running}");
    let events = std::fs::read_to_string(f.root.join("events.log")).unwrap_or_default();
    assert_eq!(
        events.matches("\"Action\":\"pause\"").count(),
        1,
        "{events}"
    );
    assert_eq!(events.matches("\"Action\":\"unpause\"").count(), 1);
    assert_eq!(events.matches("\"Action\":\"commit\"").count(), 2);
    for tag in ["live:paused", "live:unpaused"] {
        assert_eq!(ok(&f, &["run", "--rm", tag, "cat", "/live"]), "x\n");
    }
}
