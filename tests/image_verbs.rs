//! The local image verbs end to end (root: importing a layer chowns its
//! files): images, tag, rmi, history, image inspect, image prune and the
//! `image` group, with docker's output and exit codes.

mod support;

use std::path::Path;

use support::cli::{Run, berth_with_input};
use support::images::{busybox_tar, import_busybox};
use support::runtime::Fixture;

/// The cells of a docker table line (columns are 3+ spaces apart).
fn cells(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

fn ok(run: &Run) -> &str {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    &run.stdout
}

fn image_id(f: &Fixture, name: &str) -> String {
    ok(&f.berth(&["image", "inspect", "-f", "{{.Id}}", name]))
        .trim()
        .to_string()
}

fn dir_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn images_lists_every_tag_with_docker_columns_and_filters() {
    let f = Fixture::new();
    ok(&f.berth(&["tag", "bb", "bb:v2"]));
    ok(&f.berth(&["tag", "bb", "me/app:1.0"]));
    let id = image_id(&f, "bb");
    let short = &id["sha256:".len()..][..12];

    let out = f.berth(&["images"]);
    let lines: Vec<&str> = ok(&out).lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{}",
        lines[0]
    );
    assert_eq!(cells(lines[0]).last().map(String::as_str), Some("SIZE"));
    let rows: Vec<Vec<String>> = lines[1..].iter().map(|l| cells(l)).collect();
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(names, [("bb", "latest"), ("bb", "v2"), ("me/app", "1.0")]);
    for row in &rows {
        assert_eq!(row[2], short);
        assert!(row[3].ends_with(" ago"), "{row:?}");
        assert!(row[4].ends_with("MB"), "{row:?}");
    }

    assert_eq!(ok(&f.berth(&["images", "-q"])), format!("{short}\n"));
    assert_eq!(
        ok(&f.berth(&["images", "-q", "--no-trunc"])),
        format!("{id}\n")
    );
    let digests = f.berth(&["images", "--digests"]);
    assert!(
        ok(&digests)
            .lines()
            .next()
            .unwrap_or("")
            .contains("   DIGEST   ")
    );
    assert!(
        digests
            .stdout
            .lines()
            .nth(1)
            .unwrap_or("")
            .contains("sha256:")
    );

    let json = f.berth(&["images", "--format", "json"]);
    let first: serde_json::Value =
        serde_json::from_str(ok(&json).lines().next().unwrap_or("")).expect("json line");
    assert_eq!(first["Repository"], "bb");
    assert_eq!(first["ID"], short);
    assert_eq!(first["Digest"], "<none>");
    assert!(json.stdout.contains("\\u003cnone\\u003e"), "Go escapes <>");
    let refs = f.berth(&["images", "me/*", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(ok(&refs), "me/app:1.0\n");
    let table = f.berth(&[
        "images",
        "me/*",
        "--format",
        "table {{.ID}}\\t{{.Repository}}",
    ]);
    assert_eq!(
        ok(&table),
        format!("IMAGE ID       REPOSITORY\n{short}   me/app\n")
    );

    let only = |args: &[&str]| -> Vec<String> {
        let out = f.berth(args);
        ok(&out)
            .lines()
            .skip(1)
            .map(|l| {
                let c = cells(l);
                format!("{}:{}", c[0], c[1])
            })
            .collect()
    };
    assert_eq!(only(&["images", "me/*"]), ["me/app:1.0"]);
    assert_eq!(only(&["images", "bb:v2"]), ["bb:v2"]);
    assert_eq!(only(&["images", "-f", "reference=*:latest"]), ["bb:latest"]);
    assert!(only(&["images", "-f", "dangling=true"]).is_empty());

    let bad = f.berth(&["images", "-f", "color=red"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "Error response from daemon: invalid filter 'color'\n"
    );
    assert_eq!(f.berth(&["images", "-f", "novalue"]).code, 125);
}

#[test]
fn tag_and_rmi_follow_docker() {
    let f = Fixture::new();
    let id = image_id(&f, "bb");
    let short = id["sha256:".len()..][..12].to_string();

    let missing = f.berth(&["tag", "nosuch", "x"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "Error response from daemon: No such image: nosuch:latest\n"
    );
    let bad = f.berth(&["tag", "bb", "Bad"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.starts_with("Error parsing reference: \"Bad\""),
        "{}",
        bad.stderr
    );
    assert_eq!(ok(&f.berth(&["tag", "bb", "bb:v2"])), "");

    let refused = f.berth(&["rmi", &short]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        format!(
            "Error response from daemon: conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories\n"
        )
    );
    assert_eq!(ok(&f.berth(&["rmi", "bb:v2"])), "Untagged: bb:v2\n");

    let last = f.berth(&["rmi", "bb", "nosuch"]);
    assert_eq!(last.code, 1, "one of two failed");
    let lines: Vec<&str> = last.stdout.lines().collect();
    assert_eq!(lines[0], "Untagged: bb:latest");
    assert_eq!(lines[1], format!("Deleted: {id}"));
    assert!(
        lines[2].starts_with("Deleted: sha256:"),
        "the layer: {lines:?}"
    );
    assert_eq!(
        last.stderr,
        "Error response from daemon: No such image: nosuch:latest\n"
    );
    assert_eq!(ok(&f.berth(&["images", "-q"])), "");
    assert_eq!(dir_entries(&f.root.join("blobs/sha256")), 0);
    assert_eq!(dir_entries(&f.root.join("snapshots")), 0);
}

#[test]
fn history_shows_the_steps_newest_first() {
    let f = Fixture::new();
    let id = image_id(&f, "bb");
    let short = &id["sha256:".len()..][..12];

    let out = f.berth(&["history", "bb"]);
    let lines: Vec<&str> = ok(&out).lines().collect();
    assert_eq!(
        cells(lines[0]),
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    let row = cells(lines[1]);
    assert_eq!(row[0], short);
    assert!(row[1].ends_with(" ago"), "{row:?}");
    assert!(row[2].starts_with("Imported from "), "{row:?}");
    assert!(row[3].ends_with("MB"), "{row:?}");

    // CREATED BY is cut to 45 characters unless --no-trunc.
    let dir = f.work.path().join("a-directory-with-a-rather-long-name");
    std::fs::create_dir(&dir).expect("mkdir");
    let tar = dir.join("bb.tar");
    std::fs::copy(f.work.path().join("bb.tar"), &tar).expect("copy");
    ok(&f.berth(&["import", &tar.to_string_lossy(), "long"]));
    let out = f.berth(&["history", "long"]);
    let row = cells(ok(&out).lines().nth(1).unwrap_or(""));
    assert!(
        row[2].starts_with("Imported from /") && row[2].ends_with('…'),
        "{row:?}"
    );
    assert_eq!(row[2].chars().count(), 45);
    let out = f.berth(&["history", "--no-trunc", "long"]);
    let row = cells(ok(&out).lines().nth(1).unwrap_or(""));
    assert_eq!(row[2], format!("Imported from {}", tar.display()));

    let full = f.berth(&["history", "--no-trunc", "-H=false", "bb"]);
    let lines: Vec<&str> = ok(&full).lines().collect();
    assert_eq!(cells(lines[0])[1], "CREATED AT");
    let row = cells(lines[1]);
    assert_eq!(row[0], id);
    assert!(row[2].ends_with("bb.tar"), "{row:?}");
    assert!(row[3].parse::<u64>().unwrap_or(0) > 1_000_000, "{row:?}");

    assert_eq!(ok(&f.berth(&["history", "-q", "bb"])), format!("{short}\n"));
    let json = f.berth(&["image", "history", "--format", "json", "bb"]);
    let v: serde_json::Value = serde_json::from_str(ok(&json).trim()).expect("json");
    assert_eq!(v["ID"], short);
    let missing = f.berth(&["history", "nosuch"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "Error response from daemon: No such image: nosuch:latest\n"
    );
}

#[test]
fn image_inspect_and_the_image_group() {
    let f = Fixture::new();
    let out = f.berth(&["image", "inspect", "bb"]);
    let v: serde_json::Value = serde_json::from_str(ok(&out)).expect("inspect json");
    let image = &v[0];
    assert!(image["Id"].as_str().unwrap_or("").starts_with("sha256:"));
    assert_eq!(image["RepoTags"], serde_json::json!(["bb:latest"]));
    assert!(
        image["RepoDigests"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("bb@sha256:")
    );
    assert_eq!(image["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(image["RootFS"]["Type"], "layers");
    assert_eq!(image["Parent"], "");
    assert!(image["Size"].as_u64().unwrap_or(0) > 1_000_000);
    assert!(image["Metadata"]["LastTagTime"].as_str().is_some());
    assert!(
        out.stdout.contains("\n        \"Architecture\""),
        "4-space indent"
    );
    // `inspect` shares the same object.
    let same = f.berth(&["inspect", "--type", "image", "bb"]);
    assert_eq!(ok(&same), out.stdout);

    assert_eq!(
        ok(&f.berth(&["image", "inspect", "-f", "{{.Os}}", "bb"])),
        "linux\n"
    );
    let missing = f.berth(&["image", "inspect", "bb", "nosuch"]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stderr, "Error: No such image: nosuch\n");
    assert!(missing.stdout.contains("\"bb:latest\""));

    assert_eq!(ok(&f.berth(&["image", "ls"])), ok(&f.berth(&["images"])));
    ok(&f.berth(&["image", "tag", "bb", "other"]));
    assert_eq!(ok(&f.berth(&["image", "list", "-q"])).lines().count(), 1);
    assert_eq!(
        ok(&f.berth(&["image", "rm", "other"])),
        "Untagged: other:latest\n"
    );
    let imported = import_busybox(&f.root, f.work.path(), "second", |_| {});
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let tar = f.work.path().join("second.tar");
    let tar = tar.to_string_lossy();
    let via_group = f.berth(&["image", "import", &tar, "third"]);
    assert!(ok(&via_group).starts_with("sha256:"));
    assert_eq!(ok(&f.berth(&["images", "third"])).lines().count(), 2);
}

#[test]
fn image_prune_asks_first_and_reports_what_it_freed() {
    let f = Fixture::new();
    // Two untagged images beside the tagged `bb`.
    let tar = busybox_tar(f.work.path(), "loose", |_| {});
    let tar = tar.to_string_lossy();
    for _ in 0..2 {
        ok(&f.berth(&["import", &tar]));
    }
    let dangling = ok(&f.berth(&["images", "-q", "-f", "dangling=true"])).to_string();
    assert_eq!(dangling.lines().count(), 2);

    // No answer (end of input) is a no: nothing removed, status 0.
    let declined = f.berth(&["image", "prune"]);
    assert_eq!(declined.code, 0);
    assert_eq!(
        declined.stdout,
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    );
    let no = berth_with_input(&f.root, &["image", "prune"], "n\n");
    assert_eq!(no.code, 0);
    assert_eq!(
        ok(&f.berth(&["images", "-q", "-f", "dangling=true"])),
        dangling
    );

    let yes = berth_with_input(&f.root, &["image", "prune"], "y\n");
    let text = ok(&yes);
    assert!(
        text.contains("[y/N] Deleted Images:\ndeleted: sha256:"),
        "{text}"
    );
    assert!(text.contains("\n\nTotal reclaimed space: "), "{text}");
    assert!(!text.ends_with(" 0B\n"), "{text}");
    assert_eq!(ok(&f.berth(&["images", "-q", "-f", "dangling=true"])), "");
    assert_eq!(ok(&f.berth(&["images", "-q"])).lines().count(), 1);

    let nothing = f.berth(&["image", "prune", "-f"]);
    assert_eq!(ok(&nothing), "Total reclaimed space: 0B\n");
    let all = f.berth(&["image", "prune", "-a", "-f"]);
    let text = ok(&all);
    assert!(
        text.starts_with("Deleted Images:\nuntagged: bb:latest\ndeleted: sha256:"),
        "{text}"
    );
    assert_eq!(dir_entries(&f.root.join("blobs/sha256")), 0);
    assert_eq!(dir_entries(&f.root.join("snapshots")), 0);
}

#[test]
fn rmi_is_refused_while_a_container_uses_the_image() {
    let f = Fixture::new();
    let id = image_id(&f, "bb");
    let short = id["sha256:".len()..][..12].to_string();
    let created = ok(&f.berth(&["create", "bb", "true"])).trim().to_string();
    let cshort = &created[..12];

    let by_tag = f.berth(&["rmi", "bb"]);
    assert_eq!(by_tag.code, 1);
    assert_eq!(
        by_tag.stderr,
        format!(
            "Error response from daemon: conflict: unable to remove repository reference \"bb\" (must force) - container {cshort} is using its referenced image {short}\n"
        )
    );
    let by_id = f.berth(&["image", "rm", &short]);
    assert_eq!(by_id.code, 1);
    assert_eq!(
        by_id.stderr,
        format!(
            "Error response from daemon: conflict: unable to delete {short} (must be forced) - image is being used by stopped container {cshort}\n"
        )
    );
    let prune_all = f.berth(&["image", "prune", "-a", "-f"]);
    assert_eq!(
        ok(&prune_all),
        "Total reclaimed space: 0B\n",
        "used images stay"
    );

    // Forced: the tag and the image record go; the layer the container
    // needs stays, and the container still starts.
    let forced = f.berth(&["rmi", "-f", "bb"]);
    assert_eq!(ok(&forced), format!("Untagged: bb:latest\nDeleted: {id}\n"));
    assert_eq!(ok(&f.berth(&["images", "-q"])), "");
    assert_eq!(dir_entries(&f.root.join("snapshots")), 1);
    let started = f.berth(&["start", "-a", &created]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    ok(&f.berth(&["rm", &created]));
    let freed = f.berth(&["image", "prune", "-f"]);
    assert!(ok(&freed).starts_with("Total reclaimed space: ") && !freed.stdout.contains(" 0B"));
    assert_eq!(dir_entries(&f.root.join("snapshots")), 0);

    // A running container's image cannot be deleted, even forced.
    ok(&import_busybox(&f.root, f.work.path(), "again", |_| {}));
    let id = image_id(&f, "again");
    let short = id["sha256:".len()..][..12].to_string();
    let running = ok(&f.berth(&["run", "-d", "again", "sleep", "30"]))
        .trim()
        .to_string();
    let refused = f.berth(&["rmi", "-f", &short]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        format!(
            "Error response from daemon: conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}\n",
            &running[..12]
        )
    );
    // Forced by tag: only untagged, the image stays for the container.
    assert_eq!(
        ok(&f.berth(&["rmi", "-f", "again"])),
        "Untagged: again:latest\n"
    );
    assert_eq!(
        ok(&f.berth(&["images", "-q", "-f", "dangling=true"])).trim(),
        short
    );
    ok(&f.berth(&["rm", "-f", &running]));
}
