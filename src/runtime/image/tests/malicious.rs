//! Layers that try to write or link outside their snapshot.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::fixtures::*;
use crate::runtime::image::digest::Digest;
use crate::runtime::image::snapshot::{self, SnapshotError};
use crate::runtime::store::Store;

fn unpack(store: &Store, tar: &[u8]) -> Result<std::path::PathBuf, SnapshotError> {
    let chain = snapshot::unpack(store, None, &Digest::of_bytes(tar), tar)?;
    Ok(snapshot::path(store, &chain))
}

fn assert_rejected(store: &Store, tar: &[u8], what: &str) -> String {
    let err = unpack(store, tar).expect_err(what);
    assert!(
        matches!(err, SnapshotError::Unsafe { .. }),
        "{what}: wrong error {err}"
    );
    assert!(
        snapshot::list(store).unwrap().is_empty(),
        "{what}: kept a snapshot"
    );
    assert!(
        leftovers(store).is_empty(),
        "{what}: left {:?}",
        leftovers(store)
    );
    err.to_string()
}

fn dir_is_empty(p: &Path) -> bool {
    fs::read_dir(p).unwrap().next().is_none()
}

#[test]
fn dotdot_is_refused() {
    let (dir, store) = new_store();
    for name in ["../evil", "a/../../evil", "./../evil"] {
        let tar = Layer::new().file(name, 0o644, b"x").finish();
        let msg = assert_rejected(&store, &tar, name);
        assert!(msg.contains(".."), "{msg}");
    }
    assert!(!dir.path().join("evil").exists());
    assert!(!store.root().join("evil").exists());
    assert!(!store.snapshots_dir().join("evil").exists());
}

#[test]
fn absolute_paths_land_inside() {
    let (_dir, store) = new_store();
    let tar = Layer::new().file("/abs/path", 0o644, b"inside").finish();
    let root = unpack(&store, &tar).unwrap();
    assert_eq!(fs::read(root.join("abs/path")).unwrap(), b"inside");
    assert!(!Path::new("/abs").exists());
}

#[test]
fn symlink_to_root_is_never_followed() {
    let (_dir, store) = new_store();
    let before = fs::read("/etc/passwd").unwrap();
    let tar = Layer::new()
        .symlink("link", "/")
        .file("link/etc/passwd", 0o644, b"root::0:0::/:/bin/sh\n")
        .finish();
    let msg = assert_rejected(&store, &tar, "link/etc/passwd");
    assert!(msg.contains("symlink"), "{msg}");
    assert_eq!(fs::read("/etc/passwd").unwrap(), before);
}

#[test]
fn symlink_to_an_outside_dir_is_never_written_through() {
    let (_dir, store) = new_store();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    let cases = [
        Layer::new()
            .symlink("link", &target)
            .file("link/pwned", 0o644, b"x")
            .finish(),
        Layer::new()
            .symlink("link", &target)
            .file("link/sub/deeper/pwned", 0o644, b"x")
            .finish(),
        Layer::new()
            .symlink("link", &target)
            .dir("link/made/", 0o755)
            .finish(),
        Layer::new()
            .dir("d/", 0o755)
            .symlink("d/up", "../..")
            .file("d/up/pwned", 0o644, b"x")
            .finish(),
        Layer::new()
            .symlink("link", &target)
            .symlink("link/s", "/etc/passwd")
            .finish(),
        Layer::new()
            .symlink("link", &target)
            .char_dev("link/null", 1, 3)
            .finish(),
        Layer::new()
            .symlink("link", &target)
            .file("link/.wh.x", 0o644, b"")
            .finish(),
    ];
    for (i, tar) in cases.iter().enumerate() {
        assert_rejected(&store, tar, &format!("case {i}"));
        assert!(dir_is_empty(outside.path()), "case {i} wrote outside");
    }
    // Replacing the symlink itself by a directory is fine: it lands inside.
    let tar = Layer::new()
        .symlink("link", &target)
        .dir("link/", 0o755)
        .file("link/ok", 0o644, b"in")
        .finish();
    let root = unpack(&store, &tar).unwrap();
    assert!(dir_is_empty(outside.path()));
    assert!(fs::symlink_metadata(root.join("link")).unwrap().is_dir());
    assert_eq!(fs::read(root.join("link/ok")).unwrap(), b"in");
}

#[test]
fn hardlinks_outside_the_layer_are_refused() {
    let (_dir, store) = new_store();
    let shadow_links = fs::metadata("/etc/shadow").map(|m| m.nlink()).ok();
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    let cases = [
        (
            "absolute target",
            Layer::new().hardlink("x", "/etc/shadow").finish(),
        ),
        (
            "dotdot target",
            Layer::new()
                .hardlink("x", "../../../../etc/passwd")
                .finish(),
        ),
        (
            "through a symlinked dir",
            Layer::new()
                .symlink("e", "/etc")
                .hardlink("x", "e/passwd")
                .finish(),
        ),
        (
            "missing target",
            Layer::new().hardlink("x", "nope").finish(),
        ),
        (
            "directory target",
            Layer::new().dir("d/", 0o755).hardlink("x", "d").finish(),
        ),
    ];
    for (what, tar) in &cases {
        assert_rejected(&store, tar, what);
    }
    assert_eq!(
        fs::metadata("/etc/shadow").map(|m| m.nlink()).ok(),
        shadow_links
    );
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

#[test]
fn hardlink_to_a_symlink_links_the_symlink_itself() {
    let (_dir, store) = new_store();
    let tar = Layer::new()
        .symlink("s", "/etc/passwd")
        .hardlink("h", "s")
        .finish();
    let root = unpack(&store, &tar).unwrap();
    let h = fs::symlink_metadata(root.join("h")).unwrap();
    assert!(h.file_type().is_symlink());
    assert_eq!(h.ino(), fs::symlink_metadata(root.join("s")).unwrap().ino());
}

#[test]
fn invalid_whiteouts_and_root_replacement_are_refused() {
    let (_dir, store) = new_store();
    for name in [".wh.", "a/.wh.."] {
        let tar = Layer::new().file(name, 0o644, b"").finish();
        assert_rejected(&store, &tar, name);
    }
    let tar = Layer::new().file("./", 0o644, b"").finish();
    assert_rejected(&store, &tar, "file as root");
}
