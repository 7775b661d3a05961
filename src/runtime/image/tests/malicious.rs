//! A corpus of crafted layers that try to create, change or link something
//! outside their snapshot. Each test builds a scene: the store at
//! `<tmp>/root`, and sentinels at `<tmp>/outside` (a file, a directory, an
//! empty directory) that every attack aims at. Afterwards everything under
//! `<tmp>` except the snapshots themselves must be exactly as before: same
//! entries, kinds, modes, owners, link counts, contents and xattrs.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};
use tar::EntryType;

use super::fixtures::*;
use crate::runtime::image::digest::Digest;
use crate::runtime::image::snapshot::{self, SnapshotError};
use crate::runtime::store::Store;

const VICTIM: &[u8] = b"original content\n";
/// Snapshot entries sit in `<tmp>/root/snapshots/<name>/`: this many `..`
/// from the top of a layer reach `<tmp>`.
const UP_TO_TMP: &str = "../../..";

struct Scene {
    dir: tempfile::TempDir,
    store: Store,
    before: BTreeMap<PathBuf, String>,
}

impl Scene {
    fn new() -> Scene {
        let (dir, store) = new_store();
        let outside = dir.path().join("outside");
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::create_dir(outside.join("empty")).unwrap();
        fs::write(outside.join("victim"), VICTIM).unwrap();
        fs::write(outside.join("sub/inner"), VICTIM).unwrap();
        let mut scene = Scene {
            dir,
            store,
            before: BTreeMap::new(),
        };
        scene.before = scene.census();
        scene
    }

    fn outside(&self) -> String {
        self.dir.path().join("outside").display().to_string()
    }

    fn relative_outside(&self) -> String {
        format!("{UP_TO_TMP}/outside")
    }

    fn unpack(&self, tar: &[u8]) -> Result<PathBuf, SnapshotError> {
        let chain = snapshot::unpack(&self.store, None, &Digest::of_bytes(tar), tar)?;
        Ok(snapshot::path(&self.store, &chain))
    }

    /// The layer must fail as unsafe, keep nothing, and touch nothing.
    fn refused(&self, tar: &[u8], what: &str) -> String {
        let snapshots = snapshot::list(&self.store).unwrap();
        let err = self.unpack(tar).expect_err(what);
        assert!(
            matches!(err, SnapshotError::Unsafe { .. }),
            "{what}: wrong error {err}"
        );
        assert_eq!(snapshot::list(&self.store).unwrap(), snapshots, "{what}");
        assert!(leftovers(&self.store).is_empty(), "{what}");
        self.untouched(what);
        err.to_string()
    }

    /// The layer is fine (its effects land inside); nothing outside changed.
    fn accepted(&self, tar: &[u8], what: &str) -> PathBuf {
        let root = self.unpack(tar).unwrap_or_else(|e| panic!("{what}: {e}"));
        self.untouched(what);
        root
    }

    fn untouched(&self, what: &str) {
        let now = self.census();
        assert_eq!(now, self.before, "{what}: something outside changed");
        assert_eq!(
            fs::read(self.dir.path().join("outside/victim")).unwrap(),
            VICTIM
        );
    }

    /// Everything under the temp dir but the snapshots, without following
    /// symlinks.
    fn census(&self) -> BTreeMap<PathBuf, String> {
        let skip = self.store.snapshots_dir();
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path == skip {
                    continue;
                }
                let meta = fs::symlink_metadata(&path).unwrap();
                out.insert(path.clone(), describe(&path, &meta));
                if meta.is_dir() {
                    stack.push(path);
                }
            }
        }
        out
    }
}

fn describe(path: &Path, meta: &fs::Metadata) -> String {
    let what = if meta.is_file() {
        Digest::of_bytes(&fs::read(path).unwrap()).to_string()
    } else if meta.file_type().is_symlink() {
        fs::read_link(path).unwrap().display().to_string()
    } else if meta.is_dir() {
        format!("{:?}", get_xattr(path, "trusted.overlay.opaque"))
    } else {
        format!("rdev {}", meta.rdev())
    };
    format!(
        "mode {:o} owner {}:{} links {} {what}",
        meta.mode(),
        meta.uid(),
        meta.gid(),
        meta.nlink()
    )
}

#[test]
fn dotdot_entries_are_refused() {
    let s = Scene::new();
    for name in [
        "../outside/victim".to_string(),
        format!("{UP_TO_TMP}/outside/victim"),
        format!("a/../{UP_TO_TMP}/outside/victim"),
        format!("./{UP_TO_TMP}/outside/new"),
    ] {
        let tar = Layer::new().file(&name, 0o644, b"pwned").finish();
        let msg = s.refused(&tar, &name);
        assert!(msg.contains("'..'"), "{msg}");
    }
    let tar = Layer::new()
        .dir(&format!("{UP_TO_TMP}/outside/newdir/"), 0o755)
        .finish();
    s.refused(&tar, "directory through ..");
}

#[test]
fn absolute_paths_land_inside_the_snapshot() {
    let s = Scene::new();
    let target = format!("{}/victim", s.outside());
    let tar = Layer::new()
        .file(&target, 0o644, b"pwned")
        .dir(&format!("{}/newdir/", s.outside()), 0o755)
        .finish();
    let root = s.accepted(&tar, "absolute path");
    let inside = root.join(target.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"pwned");
}

#[test]
fn absolute_symlinks_are_never_written_through() {
    let s = Scene::new();
    let outside = s.outside();
    let attacks = [
        Layer::new()
            .symlink("l", &outside)
            .file("l/victim", 0o644, b"pwned")
            .finish(),
        Layer::new()
            .symlink("l", &outside)
            .file("l/sub/deeper/new", 0o644, b"pwned")
            .finish(),
        Layer::new()
            .symlink("l", &outside)
            .dir("l/newdir/", 0o755)
            .finish(),
        Layer::new()
            .symlink("l", &outside)
            .symlink("l/newlink", "/etc/shadow")
            .finish(),
        Layer::new()
            .symlink("root", "/")
            .file("root/etc/passwd", 0o644, b"root::0:0::/:/bin/sh\n")
            .finish(),
    ];
    let passwd = fs::read("/etc/passwd").unwrap();
    for (i, tar) in attacks.iter().enumerate() {
        let msg = s.refused(tar, &format!("absolute symlink {i}"));
        assert!(msg.contains("symlink"), "{msg}");
    }
    assert_eq!(fs::read("/etc/passwd").unwrap(), passwd);
}

#[test]
fn relative_symlinks_are_never_written_through() {
    let s = Scene::new();
    let rel = s.relative_outside();
    let attacks = [
        Layer::new()
            .symlink("l", &rel)
            .file("l/victim", 0o644, b"pwned")
            .finish(),
        Layer::new()
            .dir("d/", 0o755)
            .symlink("d/up", &format!("../{rel}"))
            .file("d/up/new", 0o644, b"pwned")
            .finish(),
        Layer::new().symlink("l", &rel).fifo("l/fifo").finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        s.refused(tar, &format!("relative symlink {i}"));
    }
}

#[test]
fn symlink_chains_are_never_followed() {
    let s = Scene::new();
    let outside = s.outside();
    let attacks = [
        Layer::new()
            .symlink("a", "b")
            .symlink("b", "c")
            .symlink("c", &outside)
            .file("a/victim", 0o644, b"pwned")
            .finish(),
        Layer::new()
            .symlink("c", &outside)
            .symlink("b", "c")
            .symlink("a", "./b")
            .file("a/sub/inner", 0o644, b"pwned")
            .finish(),
        Layer::new()
            .dir("x/", 0o755)
            .symlink("x/hop", "../y")
            .symlink("y", &s.relative_outside())
            .file("x/hop/victim", 0o644, b"pwned")
            .finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        s.refused(tar, &format!("chain {i}"));
    }
}

#[test]
fn an_entry_over_a_symlink_replaces_the_symlink() {
    let s = Scene::new();
    let victim = format!("{}/victim", s.outside());
    let tar = Layer::new()
        .symlink("f", &victim)
        .file("f", 0o644, b"pwned")
        .symlink("d", &format!("{}/sub", s.outside()))
        .dir("d/", 0o755)
        .file("d/inner", 0o644, b"pwned")
        .symlink("n", &victim)
        .char_dev("n", 1, 3)
        .finish();
    let root = s.accepted(&tar, "entries over symlinks");
    assert_eq!(fs::read(root.join("f")).unwrap(), b"pwned");
    assert!(fs::symlink_metadata(root.join("f")).unwrap().is_file());
    assert!(fs::symlink_metadata(root.join("d")).unwrap().is_dir());
    assert_eq!(fs::read(root.join("d/inner")).unwrap(), b"pwned");
    let n = fs::symlink_metadata(root.join("n")).unwrap();
    assert!(n.file_type().is_char_device());
}

#[test]
fn a_symlink_replacing_a_directory_mid_layer_is_not_followed() {
    let s = Scene::new();
    let outside = s.outside();
    let tar = Layer::new()
        .dir("d/", 0o755)
        .file("d/a", 0o644, b"first")
        .symlink("d", &outside)
        .file("d/victim", 0o644, b"pwned")
        .finish();
    s.refused(&tar, "file under a directory turned symlink");
    // The swap alone is a legitimate layer: `d` becomes a symlink, kept
    // verbatim and only ever resolved inside a container's root.
    let tar = Layer::new()
        .dir("d/", 0o755)
        .file("d/a", 0o644, b"first")
        .symlink("d", &outside)
        .finish();
    let root = s.accepted(&tar, "directory replaced by a symlink");
    assert_eq!(fs::read_link(root.join("d")).unwrap(), Path::new(&outside));
}

#[test]
fn hardlinks_to_absolute_outside_paths_are_refused() {
    let s = Scene::new();
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    for target in [format!("{}/victim", s.outside()), "/etc/passwd".into()] {
        let tar = Layer::new().hardlink("h", &target).finish();
        let msg = s.refused(&tar, &target);
        assert!(msg.contains("not in this layer"), "{msg}");
    }
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

#[test]
fn hardlinks_through_dotdot_are_refused() {
    let s = Scene::new();
    for target in [
        format!("{UP_TO_TMP}/outside/victim"),
        format!("a/../{UP_TO_TMP}/outside/victim"),
        "..".to_string(),
    ] {
        let tar = Layer::new()
            .dir("a/", 0o755)
            .hardlink("h", &target)
            .finish();
        let msg = s.refused(&tar, &target);
        assert!(msg.contains("'..'"), "{msg}");
    }
}

#[test]
fn hardlinks_through_a_symlinked_parent_are_refused() {
    let s = Scene::new();
    for link in [s.outside(), s.relative_outside()] {
        let tar = Layer::new()
            .symlink("s", &link)
            .hardlink("h", "s/victim")
            .finish();
        s.refused(&tar, &link);
        let tar = Layer::new()
            .symlink("s", &link)
            .dir("d/", 0o755)
            .hardlink("d/h", "/s/sub/inner")
            .finish();
        s.refused(&tar, &link);
    }
    // A hardlink to a symlink links the symlink itself, never its target.
    let tar = Layer::new()
        .symlink("s", &format!("{}/victim", s.outside()))
        .hardlink("h", "s")
        .finish();
    let root = s.accepted(&tar, "hardlink to a symlink");
    let h = fs::symlink_metadata(root.join("h")).unwrap();
    assert!(h.file_type().is_symlink());
    assert_eq!(h.ino(), fs::symlink_metadata(root.join("s")).unwrap().ino());
}

#[test]
fn whiteouts_cannot_reach_outside() {
    let s = Scene::new();
    let attacks = [
        Layer::new()
            .symlink("s", &s.outside())
            .file("s/.wh.victim", 0o644, b"")
            .finish(),
        Layer::new()
            .symlink("s", &s.relative_outside())
            .file("s/.wh.sub", 0o644, b"")
            .finish(),
        Layer::new().file(".wh..", 0o644, b"").finish(),
        Layer::new().file("a/.wh..", 0o644, b"").finish(),
        Layer::new().file(".wh.", 0o644, b"").finish(),
        Layer::new()
            .file(&format!("{UP_TO_TMP}/outside/.wh.victim"), 0o644, b"")
            .finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        s.refused(tar, &format!("whiteout {i}"));
    }
    // A whiteout of a name inside is an overlay whiteout device, inside.
    let tar = Layer::new().file("dir/.wh.victim", 0o644, b"").finish();
    let root = s.accepted(&tar, "plain whiteout");
    let wh = fs::symlink_metadata(root.join("dir/victim")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
}

#[test]
fn opaque_markers_in_a_symlinked_directory_are_refused() {
    let s = Scene::new();
    for link in [
        format!("{}/sub", s.outside()),
        format!("{}/sub", s.relative_outside()),
    ] {
        let tar = Layer::new()
            .symlink("s", &link)
            .file("s/.wh..wh..opq", 0o644, b"")
            .finish();
        s.refused(&tar, &link);
    }
    let sub = s.dir.path().join("outside/sub");
    assert_eq!(get_xattr(&sub, "trusted.overlay.opaque"), None);
    // Inside, the marker makes its own directory opaque.
    let tar = Layer::new()
        .dir("d/", 0o755)
        .file("d/.wh..wh..opq", 0o644, b"")
        .finish();
    let root = s.accepted(&tar, "opaque marker");
    assert_eq!(
        get_xattr(&root.join("d"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
}

/// Policy: device nodes are kept, as docker keeps them (images ship
/// /dev/console and the like); they are created only inside the snapshot,
/// where only a container can reach them, and opening one there is up to the
/// container's device cgroup, which allows docker's list only.
#[test]
fn device_nodes_are_created_inside_only() {
    let s = Scene::new();
    let tar = Layer::new()
        .char_dev("dev/null", 1, 3)
        .block_dev("dev/sda", 8, 0)
        .fifo("dev/fifo")
        .finish();
    let root = s.accepted(&tar, "device nodes");
    let null = fs::symlink_metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let sda = fs::symlink_metadata(root.join("dev/sda")).unwrap();
    assert!(sda.file_type().is_block_device());
    assert_eq!(sda.rdev(), nix::sys::stat::makedev(8, 0));
    assert!(
        fs::symlink_metadata(root.join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let attacks = [
        Layer::new()
            .symlink("d", &s.outside())
            .block_dev("d/sda", 8, 0)
            .finish(),
        Layer::new()
            .symlink("d", &s.relative_outside())
            .char_dev("d/mem", 1, 1)
            .finish(),
        Layer::new()
            .block_dev(&format!("{UP_TO_TMP}/outside/sda"), 8, 0)
            .finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        s.refused(tar, &format!("device {i}"));
    }
}

#[test]
fn setuid_and_setgid_bits_are_kept_inside_and_never_reach_outside() {
    let s = Scene::new();
    let tar = Layer::new()
        .file("bin/su", 0o4755, b"su")
        .file("bin/wall", 0o2755, b"wall")
        .file("bin/both", 0o6711, b"both")
        .dir("shared/", 0o2775)
        .dir("tmp/", 0o1777)
        .symlink("s", &format!("{}/victim", s.outside()))
        .file("s", 0o4755, b"replaced")
        .finish();
    let root = s.accepted(&tar, "setuid");
    let mode = |p: &str| fs::symlink_metadata(root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("bin/su"), 0o4755);
    assert_eq!(mode("bin/wall"), 0o2755);
    assert_eq!(mode("bin/both"), 0o6711);
    assert_eq!(mode("shared"), 0o2775);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("s"), 0o4755);
    let victim = s.dir.path().join("outside/victim");
    assert_eq!(fs::metadata(victim).unwrap().mode() & 0o7777, 0o644);
    let tar = Layer::new()
        .symlink("l", &s.outside())
        .file("l/victim", 0o4755, b"pwned")
        .finish();
    s.refused(&tar, "setuid through a symlink");
}

#[test]
fn pax_paths_cannot_escape() {
    let s = Scene::new();
    let escape = format!("{UP_TO_TMP}/outside/victim");
    let attacks = [
        Layer::new()
            .pax_entry(EntryType::Regular, &escape, None, b"pwned")
            .finish(),
        Layer::new()
            .file("target", 0o644, b"x")
            .pax_entry(EntryType::Link, "h", Some(&escape), b"")
            .finish(),
        Layer::new()
            .pax_entry(
                EntryType::Directory,
                &format!("{UP_TO_TMP}/outside/new/"),
                None,
                b"",
            )
            .finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        let msg = s.refused(tar, &format!("pax {i}"));
        assert!(msg.contains("'..'"), "{msg}");
    }
    // The PAX path wins over the ustar name, and an absolute one lands inside.
    let absolute = format!("{}/victim", s.outside());
    let tar = Layer::new()
        .pax_entry(EntryType::Regular, &absolute, None, b"pax")
        .finish();
    let root = s.accepted(&tar, "absolute pax path");
    assert_eq!(
        fs::read(root.join(absolute.trim_start_matches('/'))).unwrap(),
        b"pax"
    );
    assert!(!root.join("placeholder").exists());
}

#[test]
fn gnu_long_names_cannot_escape() {
    let s = Scene::new();
    let long_dir = "x".repeat(120);
    let escape = format!("{long_dir}/../../{UP_TO_TMP}/outside/victim");
    assert!(escape.len() > 100);
    let attacks = [
        Layer::new()
            .gnu_long_entry(EntryType::Regular, &escape, None, b"pwned")
            .finish(),
        Layer::new()
            .file("target", 0o644, b"x")
            .gnu_long_entry(
                EntryType::Link,
                &format!("{long_dir}/h"),
                Some(&escape),
                b"",
            )
            .finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        let msg = s.refused(tar, &format!("gnu long name {i}"));
        assert!(msg.contains("'..'"), "{msg}");
    }
    let fine = format!("{long_dir}/file");
    let tar = Layer::new()
        .gnu_long_entry(EntryType::Regular, &fine, None, b"long")
        .finish();
    let root = s.accepted(&tar, "long name");
    assert_eq!(fs::read(root.join(fine)).unwrap(), b"long");
}

#[test]
fn very_long_paths_are_refused_and_deep_nesting_is_safe() {
    let s = Scene::new();
    let too_long = format!("{}/f", "a/".repeat(2100));
    let tar = Layer::new()
        .pax_entry(EntryType::Regular, &too_long, None, b"x")
        .finish();
    let msg = s.refused(&tar, "path beyond PATH_MAX");
    assert!(msg.contains("PATH_MAX"), "{msg}");

    // 1900 levels (3.8 kB of path): accepted, then the whole tree replaced
    // by a file, which removes it without recursion or an fd per level.
    let deep = format!("{}f", "d/".repeat(1900));
    let tar = Layer::new()
        .pax_entry(EntryType::Regular, &deep, None, b"deep")
        .file("d", 0o644, b"flat")
        .finish();
    let root = s.accepted(&tar, "deep tree replaced");
    assert_eq!(fs::read(root.join("d")).unwrap(), b"flat");

    // A deep tree in a layer that then fails is cleaned up whole.
    let tar = Layer::new()
        .pax_entry(EntryType::Regular, &deep, None, b"deep")
        .file("../evil", 0o644, b"x")
        .finish();
    s.refused(&tar, "deep tree then a bad entry");
}

#[test]
fn nothing_can_replace_the_snapshot_root() {
    let s = Scene::new();
    let attacks = [
        Layer::new().symlink(".", &s.outside()).finish(),
        Layer::new().symlink("./", &s.relative_outside()).finish(),
        Layer::new().file("./", 0o644, b"").finish(),
        Layer::new().file(".", 0o644, b"").finish(),
        Layer::new()
            .file("x", 0o644, b"")
            .hardlink(".", "x")
            .finish(),
        Layer::new().char_dev("/", 1, 3).finish(),
        Layer::new().fifo("./.").finish(),
    ];
    for (i, tar) in attacks.iter().enumerate() {
        let msg = s.refused(tar, &format!("root {i}"));
        assert!(msg.contains("root"), "{msg}");
    }
    // The root's own metadata may change, and only inside.
    let tar = Layer::new().dir("./", 0o750).finish();
    let root = s.accepted(&tar, "root metadata");
    assert_eq!(fs::metadata(&root).unwrap().mode() & 0o7777, 0o750);
}

/// The iterative tree removal (used for replaced directories, failed
/// extractions and garbage collection) on a tree deeper than the fd limit:
/// an fd per level (std's `remove_dir_all`) or a stack frame per level would
/// fail.
#[test]
fn remove_tree_handles_trees_deeper_than_the_fd_limit() {
    let (soft, _) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let depth = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .clamp(5000, 100_000)
        + 100;
    // tmpfs when there is one: a deep tree is slow to build on a disk.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let top: OwnedFd = fs::File::open(dir.path()).unwrap().into();
    mkdirat(&top, "t", Mode::S_IRWXU).unwrap();
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut cur = openat(&top, "t", flags, Mode::empty()).unwrap();
    for i in 0..depth {
        mkdirat(&cur, "n", Mode::S_IRWXU).unwrap();
        if i % 100 == 0 {
            let f = openat(
                &cur,
                "file",
                OFlag::O_CREAT | OFlag::O_WRONLY,
                Mode::S_IRUSR,
            )
            .unwrap();
            drop(f);
        }
        cur = openat(&cur, "n", flags, Mode::empty()).unwrap();
    }
    drop(cur);
    crate::runtime::image::extract::remove_tree(top.as_fd(), "t".as_ref()).unwrap();
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}
