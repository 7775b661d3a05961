//! pull, push, login, logout and search against a real docker-registry on
//! loopback, with faults injected by a proxy. Root: some tests run images
//! (with `--network none`: these roots have no bridge of their own).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use support::cli::{Run, berth_env};
use support::images::busybox_tar;
use support::registry::{Fault, Proxy, Registry};

/// A private root, credentials dir and registries config per test.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().expect("tempdir");
        Case { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn other_root(&self) -> PathBuf {
        self.dir.path().join("root2")
    }

    fn env(&self) -> Vec<(String, String)> {
        let p = |s: &str| self.dir.path().join(s).to_string_lossy().into_owned();
        vec![
            ("BERTH_CONFIG".into(), p("berth-config")),
            ("DOCKER_CONFIG".into(), p("docker-config")),
            ("BERTH_REGISTRIES_CONFIG".into(), p("registries.toml")),
        ]
    }

    fn berth_in(&self, root: &Path, args: &[&str]) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        berth_env(root, self.dir.path(), args, &env)
    }

    fn berth(&self, args: &[&str]) -> Run {
        self.berth_in(&self.root(), args)
    }

    /// Imports the busybox test image as `name` into the main root.
    fn import(&self, name: &str) -> String {
        let tar = self.dir.path().join("busybox.tar");
        if !tar.exists() {
            busybox_tar(self.dir.path(), "busybox", |_| {});
        }
        let r = self.berth(&["import", "-c", "CMD [\"sh\"]", &tar.to_string_lossy(), name]);
        assert_eq!(r.code, 0, "import: {}", r.stderr);
        r.stdout.trim().to_string()
    }
}

fn ok(r: &Run, what: &str) {
    assert_eq!(
        r.code, 0,
        "{what} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
}

fn image_id(case: &Case, root: &Path, name: &str) -> String {
    let r = case.berth_in(root, &["inspect", "--type", "image", "-f", "{{.Id}}", name]);
    ok(&r, "inspect");
    r.stdout.trim().to_string()
}

/// Every blob under `root` hashes to its name; nothing is left in tmp/ or ingest/.
fn assert_store_sound(root: &Path) {
    for entry in std::fs::read_dir(root.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read blob");
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(hex.as_str()),
            "corrupt blob"
        );
    }
    for sub in ["tmp", "blobs/ingest"] {
        let left: Vec<_> = std::fs::read_dir(root.join(sub)).expect(sub).collect();
        assert!(left.is_empty(), "{sub} has leftovers: {left:?}");
    }
    let temps: Vec<_> = std::fs::read_dir(root.join("snapshots"))
        .expect("snapshots")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
        .collect();
    assert!(temps.is_empty(), "temp snapshots left: {temps:?}");
}

/// The first layer's blob digest of a local image.
fn layer_digest(root: &Path, name_key: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("images.json")).expect("index"))
            .expect("json");
    let manifest = index["refs"][name_key]["manifest"]
        .as_str()
        .expect("manifest")
        .to_string();
    let bytes = std::fs::read(
        root.join("blobs/sha256")
            .join(manifest.trim_start_matches("sha256:")),
    )
    .expect("manifest blob");
    let m: serde_json::Value = serde_json::from_slice(&bytes).expect("manifest json");
    m["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string()
}

#[test]
fn push_then_pull_round_trip_and_run() {
    let registry = Registry::start();
    let case = Case::new();
    let name = format!("{}/test/busybox:v1", registry.host());
    let id = case.import(&name);
    let r = case.berth(&["push", &name]);
    ok(&r, "push");
    assert!(
        r.stdout.contains(&format!(
            "The push refers to repository [{}/test/busybox]",
            registry.host()
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(": Pushed"), "{}", r.stdout);
    assert!(r.stdout.contains("v1: digest: sha256:"), "{}", r.stdout);
    let again = case.berth(&["push", &name]);
    ok(&again, "second push");
    assert!(
        again.stdout.contains("Layer already exists"),
        "{}",
        again.stdout
    );

    let other = case.other_root();
    let r = case.berth_in(&other, &["pull", &name]);
    ok(&r, "pull");
    assert!(
        r.stdout.contains("v1: Pulling from test/busybox"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Pull complete"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{}",
        r.stdout
    );
    assert_eq!(r.stdout.lines().last(), Some(name.as_str()));
    assert_eq!(
        image_id(&case, &other, &name),
        id,
        "same image ID after the round trip"
    );
    let r = case.berth_in(&other, &["pull", &name]);
    ok(&r, "pull again");
    assert!(r.stdout.contains("Already exists"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Status: Image is up to date for"),
        "{}",
        r.stdout
    );
    let r = case.berth_in(&other, &["pull", "-q", &name]);
    assert_eq!(r.stdout, format!("{name}\n"));
    assert_store_sound(&other);

    let r = case.berth_in(
        &other,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "cat",
            "/etc/group",
        ],
    );
    ok(&r, "run the pulled image");
    assert!(r.stdout.contains("wheel:x:10:web"), "{}", r.stdout);
}

#[test]
fn missing_images_and_bad_names_fail_clearly() {
    let registry = Registry::start();
    let case = Case::new();
    let r = case.berth(&["pull", &format!("{}/nope:v1", registry.host())]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not found: manifest unknown"),
        "{}",
        r.stderr
    );
    let r = case.berth(&["pull", "Bad:Name:x"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("invalid reference format"),
        "{}",
        r.stderr
    );
    let r = case.berth(&["push", &format!("{}/absent:v1", registry.host())]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("An image does not exist locally with the tag"),
        "{}",
        r.stderr
    );
    // Nothing reachable: a closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = case.berth(&["pull", &format!("127.0.0.1:{closed}/x")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot reach registry"), "{}", r.stderr);
}

#[test]
fn htpasswd_login_push_pull_logout() {
    let registry = Registry::start_with(Some(("alice", "s3cret")));
    let case = Case::new();
    let host = registry.host();
    let name = format!("{host}/private/bb:1");
    case.import(&name);
    let r = case.berth(&["push", &name]);
    assert_eq!(r.code, 1, "push without login must fail");
    assert!(
        r.stderr.contains("denied") || r.stderr.contains("unauthorized"),
        "{}",
        r.stderr
    );

    let login = |pass: &str| {
        let env = case.env();
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["login", "-u", "alice", "--password-stdin", &host])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn login");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{pass}\n").as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().expect("login"))
    };
    let r = login("wrong");
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("unauthorized"), "{}", r.stderr);
    assert!(
        !case.dir.path().join("berth-config/config.json").exists(),
        "bad login saved"
    );
    let r = login("s3cret");
    ok(&r, "login");
    assert_eq!(r.stdout, "Login Succeeded\n");
    let saved = std::fs::read_to_string(case.dir.path().join("berth-config/config.json")).unwrap();
    assert!(saved.contains(&host) && saved.contains("auths"), "{saved}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(case.dir.path().join("berth-config/config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    ok(&case.berth(&["push", &name]), "push after login");
    ok(
        &case.berth_in(&case.other_root(), &["pull", &name]),
        "pull after login",
    );

    let r = case.berth(&["logout", &host]);
    ok(&r, "logout");
    assert_eq!(r.stdout, format!("Removing login credentials for {host}\n"));
    let r = case.berth(&["logout", &host]);
    assert_eq!(r.stdout, format!("Not logged in to {host}\n"));
    let r = case.berth_in(&case.dir.path().join("root3"), &["pull", &name]);
    assert_eq!(r.code, 1, "pull after logout must fail");
}

#[test]
fn cross_repository_mount() {
    let registry = Registry::start();
    let case = Case::new();
    let a = format!("{}/team/a:1", registry.host());
    let b = format!("{}/team/b:1", registry.host());
    case.import(&a);
    case.import(&b);
    ok(&case.berth(&["push", &a]), "push a");
    let r = case.berth(&["push", &b]);
    ok(&r, "push b");
    assert!(r.stdout.contains("Mounted from team/a"), "{}", r.stdout);
    ok(&case.berth_in(&case.other_root(), &["pull", &b]), "pull b");
}

#[test]
fn a_dropped_connection_is_resumed_with_range() {
    let registry = Registry::start();
    let case = Case::new();
    let name = format!("{}/flaky/bb:1", registry.host());
    case.import(&name);
    ok(&case.berth(&["push", &name]), "push");
    let proxy = Proxy::start(
        registry.port,
        Fault::Cut {
            limit: 300 << 10,
            times: 2,
        },
    );
    let via = format!("{}/flaky/bb:1", proxy.host());
    let other = case.other_root();
    let r = case.berth_in(&other, &["pull", &via]);
    ok(&r, "pull through a cutting proxy");
    assert!(r.stdout.contains("Retrying"), "{}", r.stdout);
    assert_store_sound(&other);
    ok(
        &case.berth_in(&other, &["run", "--rm", "--network", "none", &via, "true"]),
        "run",
    );
}

#[test]
fn kill_9_mid_pull_then_resume() {
    let registry = Registry::start();
    let case = Case::new();
    let name = format!("{}/slow/bb:1", registry.host());
    case.import(&name);
    ok(&case.berth(&["push", &name]), "push");
    let layer = layer_digest(&case.root(), &name);
    let layer_hex = layer.trim_start_matches("sha256:").to_string();
    let layer_size = std::fs::metadata(case.root().join("blobs/sha256").join(&layer_hex))
        .unwrap()
        .len();

    let stall = Proxy::start(registry.port, Fault::Stall { limit: 1 << 20 });
    let other = case.other_root();
    let via = format!("{}/slow/bb:1", stall.host());
    let env = case.env();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&other)
        .args(["pull", "-q", &via])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pull");
    let partial = other.join("blobs/ingest").join(&layer_hex);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = 0;
    loop {
        assert!(Instant::now() < deadline, "the pull never stalled");
        let size = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size == last {
            break;
        }
        last = size;
        std::thread::sleep(Duration::from_millis(300));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(
        !other.join("blobs/sha256").join(&layer_hex).exists(),
        "partial blob under its final name"
    );
    assert!(last < layer_size);

    let pass = Proxy::start(registry.port, Fault::None);
    let r = case.berth_in(&other, &["pull", &format!("{}/slow/bb:1", pass.host())]);
    ok(&r, "pull after kill -9");
    let fetched = pass.delivered.load(Ordering::Relaxed);
    assert!(
        fetched < layer_size,
        "resume refetched too much: {fetched} bytes for a {layer_size}-byte layer with {last} already here"
    );
    assert_store_sound(&other);
}

#[test]
fn concurrent_pulls_of_one_image() {
    let registry = Registry::start();
    let case = Case::new();
    let name = format!("{}/both/bb:1", registry.host());
    case.import(&name);
    ok(&case.berth(&["push", &name]), "push");
    let other = case.other_root();
    let env = case.env();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("--root")
            .arg(&other)
            .args(["pull", "-q", &name])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pull")
    };
    let children: Vec<_> = (0..3).map(|_| spawn()).collect();
    for child in children {
        let r = Run::from(child.wait_with_output().expect("pull"));
        ok(&r, "concurrent pull");
    }
    assert_store_sound(&other);
    let snapshots: Vec<_> = std::fs::read_dir(other.join("snapshots"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(snapshots.len(), 1, "one layer, one snapshot: {snapshots:?}");
    ok(
        &case.berth_in(&other, &["run", "--rm", "--network", "none", &name, "true"]),
        "run",
    );
}

#[test]
fn a_corrupt_blob_is_detected_and_refetched() {
    let registry = Registry::start();
    let case = Case::new();
    let name = format!("{}/rot/bb:1", registry.host());
    case.import(&name);
    ok(&case.berth(&["push", &name]), "push");
    let other = case.other_root();
    ok(&case.berth_in(&other, &["pull", &name]), "pull");
    let layer = layer_digest(&other, &name);
    let blob = other
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    // Pushing it to a registry that lacks it reports the corruption instead
    // of uploading it.
    let elsewhere = Registry::start();
    let copy = format!("{}/rot/copy:1", elsewhere.host());
    ok(&case.berth_in(&other, &["tag", &name, &copy]), "tag");
    let r = case.berth_in(&other, &["push", &copy]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("is corrupt in the local store"),
        "{}",
        r.stderr
    );
    // Without its snapshot, the next pull verifies the blob, drops it and refetches.
    for entry in std::fs::read_dir(other.join("snapshots"))
        .unwrap()
        .flatten()
    {
        std::fs::remove_dir_all(entry.path()).unwrap();
    }
    ok(
        &case.berth_in(&other, &["pull", &name]),
        "pull after corruption",
    );
    assert_store_sound(&other);
    ok(
        &case.berth_in(&other, &["run", "--rm", "--network", "none", &name, "true"]),
        "run",
    );
}

#[test]
fn index_resolves_to_the_host_platform_and_zstd_layers_load() {
    let registry = Registry::start();
    let case = Case::new();
    let host = registry.host();
    let name = format!("{host}/multi/bb:single");
    let id = case.import(&name);
    ok(&case.berth(&["push", &name]), "push");
    let manifest = Command::new("curl")
        .args([
            "-fsS",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(format!("http://{host}/v2/multi/bb/manifests/single"))
        .output()
        .expect("curl");
    assert!(manifest.status.success());
    let digest: String = Sha256::digest(&manifest.stdout)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let entry = |arch: &str, variant: Option<&str>| {
        let mut p = serde_json::json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{digest}"), "size": manifest.stdout.len(), "platform": p})
    };
    let index = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("arm64", Some("v8")), entry("amd64", None)]});
    let put = Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
        ])
        .arg(index.to_string())
        .arg(format!("http://{host}/v2/multi/bb/manifests/multi"))
        .output()
        .expect("curl");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let other = case.other_root();
    let multi = format!("{host}/multi/bb:multi");
    ok(&case.berth_in(&other, &["pull", &multi]), "pull index");
    assert_eq!(image_id(&case, &other, &multi), id);
    let r = case.berth_in(&other, &["pull", "--platform", "linux/s390x", &multi]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no matching manifest for linux/s390x"),
        "{}",
        r.stderr
    );

    // skopeo re-compresses the layer with zstd.
    let zst = format!("{host}/multi/bb:zstd");
    let copy = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--format",
            "oci",
            "--dest-compress-format",
            "zstd",
            "--dest-compress",
        ])
        .arg(format!("docker://{name}"))
        .arg(format!("docker://{zst}"))
        .output()
        .expect("skopeo is not installed; .ci/run installs it");
    assert!(
        copy.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let third = case.dir.path().join("root3");
    ok(&case.berth_in(&third, &["pull", &zst]), "pull zstd");
    assert_eq!(image_id(&case, &third, &zst), id);
    ok(
        &case.berth_in(&third, &["run", "--rm", "--network", "none", &zst, "true"]),
        "run zstd image",
    );
}

#[test]
fn search_filters_the_catalog() {
    let registry = Registry::start();
    let case = Case::new();
    for repo in ["tools/busy-cli", "web/app"] {
        let name = format!("{}/{repo}:1", registry.host());
        case.import(&name);
        ok(&case.berth(&["push", &name]), "push");
    }
    let r = case.berth(&["search", &format!("{}/busy", registry.host())]);
    ok(&r, "search");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STARS"),
        "{}",
        r.stdout
    );
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(lines[1].starts_with(&format!("{}/tools/busy-cli", registry.host())));
}

/// A registry that only speaks the Bearer token dance, to check berth's side of it.
#[test]
fn bearer_token_login() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_token_registry(stream, port));
        }
    });
    let case = Case::new();
    let login = |pass: &str| {
        case.berth(&[
            "login",
            "-u",
            "bob",
            "-p",
            pass,
            &format!("127.0.0.1:{port}"),
        ])
    };
    let r = login("right");
    ok(&r, "bearer login");
    assert!(
        r.stderr.contains("--password-stdin"),
        "docker's warning: {}",
        r.stderr
    );
    let r = login("wrong");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unauthorized"), "{}", r.stderr);
}

fn serve_token_registry(stream: TcpStream, port: u16) {
    use base64::Engine;
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:right")
    );
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut auth = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line
                .strip_prefix("Authorization: ")
                .or_else(|| line.strip_prefix("authorization: "))
            {
                auth = v.trim().to_string();
            }
        }
        let (status, headers, body) = if request.starts_with("GET /token?") {
            if auth == good && request.contains("service=fake") {
                ("200 OK", String::new(), r#"{"token":"T0K3N"}"#.to_string())
            } else {
                ("401 Unauthorized", String::new(), String::new())
            }
        } else if auth == "Bearer T0K3N" {
            ("200 OK", String::new(), "{}".to_string())
        } else {
            (
                "401 Unauthorized",
                format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n"
                ),
                String::new(),
            )
        };
        let response = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nContent-Type: application/json\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
        let _ = stream.flush();
    }
}

/// Docker Hub names (`busybox` = docker.io/library/busybox:latest) pulled
/// through a mirror from registries.toml, offline.
#[test]
fn hub_names_pull_through_a_configured_mirror() {
    let registry = Registry::start();
    let case = Case::new();
    let id = case.import(&format!("{}/library/busybox:latest", registry.host()));
    ok(
        &case.berth(&[
            "push",
            &format!("{}/library/busybox:latest", registry.host()),
        ]),
        "push",
    );
    std::fs::write(
        case.dir.path().join("registries.toml"),
        format!(
            "[registry.\"docker.io\"]\nmirrors = [\"{}\"]\n",
            registry.host()
        ),
    )
    .unwrap();
    let other = case.other_root();
    let r = case.berth_in(&other, &["pull", "busybox"]);
    ok(&r, "pull busybox through the mirror");
    assert!(
        r.stdout.contains("latest: Pulling from library/busybox"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Status: Downloaded newer image for busybox:latest"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.lines().last(),
        Some("docker.io/library/busybox:latest")
    );
    assert_eq!(image_id(&case, &other, "busybox"), id);
    let r = case.berth_in(&other, &["images", "--format", "json"]);
    assert!(
        r.stdout.contains("\"Repository\":\"busybox\""),
        "{}",
        r.stdout
    );
    std::fs::write(case.dir.path().join("registries.toml"), "mirrors = 1\n").unwrap();
    let r = case.berth_in(&other, &["pull", "busybox"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("registries.toml"), "{}", r.stderr);
}
