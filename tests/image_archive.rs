//! `berth save` and `berth load` against the tools of the ecosystem: skopeo
//! and umoci read what berth writes, and berth loads what skopeo writes.
//! Both tools are required (apt-get install skopeo umoci); a missing tool
//! fails the test.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::cli::{Run, berth};
use support::images::import_busybox;

const MARKER: &str = "saved by berth\n";

/// A private root with the busybox image `bb` (plus /etc/marker).
struct Setup {
    work: tempfile::TempDir,
    root: PathBuf,
    id: String,
}

impl Setup {
    fn new() -> Setup {
        let work = tempfile::tempdir().expect("tempdir");
        let root = work.path().join("root");
        let run = import_busybox(&root, work.path(), "bb", |rootfs| {
            fs::write(rootfs.join("etc/marker"), MARKER).expect("marker");
        });
        assert_eq!(run.code, 0, "import failed: {}", run.stderr);
        let id = run.stdout.trim().to_string();
        Setup { work, root, id }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn berth(&self, root: &Path, args: &[&str]) -> Run {
        berth(root, self.work.path(), args)
    }

    /// `berth save -o <work>/bb.tar bb`.
    fn save(&self) -> String {
        let file = self.path("bb.tar").to_string_lossy().into_owned();
        let run = self.berth(&self.root, &["save", "-o", &file, "bb"]);
        assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
        file
    }

    fn inspect(&self, root: &Path, image: &str, format: &str) -> String {
        let run = self.berth(root, &["inspect", "--type", "image", "-f", format, image]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.trim().to_string()
    }
}

/// Runs a required tool; a missing tool or a failure panics with its output.
fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("{name} is required for this test ({e}): apt-get install {name}")
    });
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo_copy(from: &str, to: &str) {
    tool(
        "skopeo",
        &["--insecure-policy", "copy", "--quiet", from, to],
    );
}

fn umoci_unpack(image: &str, bundle: &Path) -> PathBuf {
    let bundle_arg = bundle.to_string_lossy();
    tool(
        "umoci",
        &["unpack", "--rootless", "--image", image, &bundle_arg],
    );
    bundle.join("rootfs")
}

#[test]
fn skopeo_and_umoci_read_a_berth_archive() {
    let s = Setup::new();
    let file = s.save();

    let inspected: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("docker-archive:{file}")],
    ))
    .expect("skopeo inspect output");
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(1));
    let diff_ids = s.inspect(&s.root, "bb", "{{json .RootFS.Layers}}");
    assert_eq!(
        serde_json::to_string(&inspected["Layers"]).ok(),
        Some(diff_ids)
    );

    let oci = s.path("oci").to_string_lossy().into_owned();
    skopeo_copy(&format!("docker-archive:{file}"), &format!("oci:{oci}:bb"));
    let rootfs = umoci_unpack(&format!("{oci}:bb"), &s.path("bundle"));
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/marker"))
            .ok()
            .as_deref(),
        Some(MARKER)
    );
    assert!(rootfs.join("bin/busybox").is_file());

    // Extracted, the archive itself is an OCI layout umoci reads.
    let layout = s.path("layout");
    let bytes = fs::read(&file).expect("archive");
    tar::Archive::new(&bytes[..])
        .unpack(&layout)
        .expect("extract");
    let image = format!("{}:latest", layout.to_string_lossy());
    let rootfs = umoci_unpack(&image, &s.path("bundle2"));
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/marker"))
            .ok()
            .as_deref(),
        Some(MARKER)
    );
}

#[test]
fn berth_loads_what_skopeo_writes() {
    let s = Setup::new();
    let file = s.save();
    let layers = s.inspect(&s.root, "bb", "{{json .RootFS.Layers}}");
    let docker = s.path("docker.tar").to_string_lossy().into_owned();
    let oci = s.path("oci.tar").to_string_lossy().into_owned();
    skopeo_copy(
        &format!("docker-archive:{file}"),
        &format!("docker-archive:{docker}:copied/bb:docker"),
    );
    skopeo_copy(
        &format!("docker-archive:{file}"),
        &format!("oci-archive:{oci}:copied/bb:oci"),
    );

    let fresh = s.path("fresh");
    let run = s.berth(&fresh, &["load", "-i", &docker]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "Loaded image: copied/bb:docker\n"),
        "{}",
        run.stderr
    );
    assert_eq!(s.inspect(&fresh, "copied/bb:docker", "{{.Id}}"), s.id);
    assert_eq!(
        s.inspect(&fresh, "copied/bb:docker", "{{json .RootFS.Layers}}"),
        layers
    );

    // From stdin; skopeo rewrote the config as OCI's, so the ID differs but
    // the layers and the command do not.
    let input = fs::File::open(&oci).expect("oci archive");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&fresh)
        .arg("load")
        .stdin(Stdio::from(input))
        .output()
        .expect("run berth");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "Loaded image: copied/bb:oci\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.inspect(&fresh, "copied/bb:oci", "{{json .RootFS.Layers}}"),
        layers
    );
    assert_eq!(
        s.inspect(&fresh, "copied/bb:oci", "{{json .Config.Cmd}}"),
        r#"["sh"]"#
    );
    assert_eq!(
        s.inspect(&fresh, "copied/bb:oci", "{{json .RepoTags}}"),
        r#"["copied/bb:oci"]"#
    );
}

/// `berth --root ROOT save ARGS` to a pipe.
fn save_to_stdout(root: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(root)
        .arg("save")
        .args(args)
        .output()
        .expect("run berth");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn stdout_and_file_output_are_the_same_bytes() {
    let s = Setup::new();
    let file = s.save();
    assert_eq!(fs::read(&file).ok(), Some(save_to_stdout(&s.root, &["bb"])));

    // By ID the image travels without a tag.
    let by_id = save_to_stdout(&s.root, &[&s.id]);
    let id_tar = s.path("id.tar");
    fs::write(&id_tar, &by_id).expect("write");
    let run = s.berth(
        &s.path("fresh"),
        &["load", "-q", "-i", &id_tar.to_string_lossy()],
    );
    assert_eq!(
        run.stdout,
        format!("Loaded image ID: {}\n", s.id),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_input_exits_125_and_loads_nothing() {
    let s = Setup::new();
    let fresh = s.path("fresh");
    let garbage = s.path("garbage.tar");
    fs::write(&garbage, vec![7u8; 4096]).expect("write");
    let run = s.berth(&fresh, &["load", "-i", &garbage.to_string_lossy()]);
    assert_eq!(run.code, 125);
    assert!(run.stderr.contains("not a tar archive"), "{}", run.stderr);
    assert!(!fresh.join("images.json").exists());

    let run = s.berth(
        &s.root,
        &["save", "-o", &s.path("x.tar").to_string_lossy(), "nope:1"],
    );
    assert_eq!(run.code, 125);
    assert!(
        run.stderr.contains("No such image: nope:1"),
        "{}",
        run.stderr
    );
    assert!(!s.path("x.tar").exists());
    let leftovers: Vec<_> = fs::read_dir(s.work.path())
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".x.tar"))
        .collect();
    assert!(leftovers.is_empty(), "a failed save left {leftovers:?}");
}
