//! The upper dir -> layer translation, on trees built by hand (no container).
//! Whiteouts and trusted.* xattrs need root; those tests skip without it.

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use tar::EntryType;

use super::*;
use crate::runtime::container::diff::{ChangeKind, changes, open_host_dir, scan};
use crate::runtime::image::snapshot;

/// A v2 file capability granting CAP_NET_BIND_SERVICE (bit 10).
const CAP_NET_BIND: [u8; 20] = [0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root (whiteouts, trusted.* xattrs)");
            return;
        }
    };
}

fn set_xattr(path: &Path, key: &str, value: &[u8]) {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let k = CString::new(key).unwrap();
    // SAFETY: NUL-terminated path and key, value valid for its length.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr {key} on {}", path.display());
}

fn get_xattr(path: &Path, key: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let k = CString::new(key).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: as above; buf valid for its length.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

fn whiteout(path: &Path) {
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
}

fn write(path: &Path, data: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn mkdir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Two image layers and an upper dir with every kind of change.
struct Tree {
    _dir: tempfile::TempDir,
    layers: Vec<PathBuf>,
    upper: PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let (base, top, upper) = (
        dir.path().join("l0"),
        dir.path().join("l1"),
        dir.path().join("upper"),
    );
    for d in [&base, &top, &upper] {
        mkdir(d);
    }
    for d in ["bin", "etc", "x/sub", "proc"] {
        mkdir(&base.join(d));
    }
    write(&base.join("bin/ls"), "ls");
    write(&base.join("bin/cat"), "cat");
    write(&base.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    write(&base.join("x/a"), "a");
    write(&base.join("x/sub/b"), "b");
    write(&base.join("old"), "old");
    // The top layer deletes /old and adds /etc/group.
    whiteout(&top.join("old"));
    mkdir(&top.join("etc"));
    write(&top.join("etc/group"), "root:x:0:\n");

    write(&upper.join("new"), "new");
    mkdir(&upper.join("etc"));
    write(
        &upper.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nweb:x:1:1::/:/bin/sh\n",
    );
    write(&upper.join("etc/hosts"), "");
    write(&upper.join("etc/resolv.conf"), "");
    mkdir(&upper.join("bin"));
    whiteout(&upper.join("bin/ls"));
    mkdir(&upper.join("x"));
    set_xattr(&upper.join("x"), "trusted.overlay.opaque", b"y");
    write(&upper.join("x/n"), "n");
    mkdir(&upper.join("x/sub"));
    write(&upper.join("x/sub/c"), "c");
    write(&upper.join("hl1"), "linked");
    fs::hard_link(upper.join("hl1"), upper.join("hl2")).unwrap();
    symlink("/etc/passwd", upper.join("sym")).unwrap();
    mknod(
        &upper.join("fifo"),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o644),
        0,
    )
    .unwrap();
    write(&upper.join("caps"), "binary");
    set_xattr(&upper.join("caps"), "security.capability", &CAP_NET_BIND);
    set_xattr(&upper.join("caps"), "user.note", b"kept");
    set_xattr(&upper.join("caps"), "user.overlay.opaque", b"y");
    set_xattr(
        &upper.join("etc"),
        "trusted.overlay.origin",
        b"host-specific",
    );
    // berth's mount target for an image without /sys.
    mkdir(&upper.join("sys"));
    Tree {
        _dir: dir,
        layers: vec![base, top],
        upper,
    }
}

fn lines(t: &Tree) -> Vec<String> {
    changes(&t.upper, &t.layers)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect()
}

#[test]
fn diff_lists_docker_lines_parents_first_and_hides_berths_files() {
    require_root!();
    let t = tree();
    assert_eq!(
        lines(&t),
        [
            "C /bin",
            "D /bin/ls",
            "A /caps",
            "C /etc",
            "C /etc/passwd",
            "A /fifo",
            "A /hl1",
            "A /hl2",
            "A /new",
            "A /sym",
            "C /x",
            "D /x/a",
            "A /x/n",
            "C /x/sub",
            "D /x/sub/b",
            "A /x/sub/c",
        ]
    );
}

#[test]
fn placeholders_alone_are_no_change() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper) = (dir.path().join("l0"), dir.path().join("upper"));
    mkdir(&lower.join("etc"));
    write(&lower.join("etc/hosts"), "127.0.0.1 image\n");
    write(&lower.join("etc/passwd"), "root\n");
    mkdir(&upper.join("etc"));
    // An unchanged copy-up of the image's file, and two fresh placeholders.
    fs::copy(lower.join("etc/hosts"), upper.join("etc/hosts")).unwrap();
    write(&upper.join("etc/hostname"), "");
    write(&upper.join("etc/resolv.conf"), "");
    mkdir(&upper.join("proc"));
    assert!(
        changes(&upper, std::slice::from_ref(&lower))
            .unwrap()
            .is_empty()
    );
    let (nodes, _) = scan(&upper, std::slice::from_ref(&lower)).unwrap();
    assert!(nodes.iter().all(|n| n.hidden));

    // A placeholder the user filled is a change like any other.
    write(&upper.join("etc/hostname"), "mine\n");
    let got: Vec<String> = changes(&upper, &[lower])
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(got, ["C /etc", "A /etc/hostname"]);
}

/// Every entry of a tar: (path, type, link target, pax xattrs).
fn entries(bytes: &[u8]) -> Vec<(String, EntryType, String, Vec<String>)> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                xattrs.push(ext.unwrap().key().unwrap().to_string());
            }
        }
        out.push((path, entry.header().entry_type(), link, xattrs));
    }
    out
}

fn layer_bytes(t: &Tree) -> Vec<u8> {
    let (nodes, _) = scan(&t.upper, &t.layers).unwrap();
    let root = open_host_dir(&t.upper).unwrap();
    let mut out = TarOut::new(Vec::new());
    out.reject_metacopy = true;
    write_nodes(&mut out, root.as_fd(), b"", &nodes).unwrap();
    out.finish().unwrap()
}

#[test]
fn layer_has_whiteouts_opaque_markers_and_hardlinks() {
    require_root!();
    let t = tree();
    let got = entries(&layer_bytes(&t));
    let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "bin/",
            "bin/.wh.ls",
            "caps",
            "etc/",
            "etc/passwd",
            "fifo",
            "hl1",
            "hl2",
            "new",
            "sym",
            "x/",
            "x/.wh..wh..opq",
            "x/n",
            "x/sub/",
            "x/sub/c",
        ]
    );
    let find = |name: &str| got.iter().find(|e| e.0 == name).unwrap();
    assert_eq!(find("bin/.wh.ls").1, EntryType::Regular);
    assert_eq!(find("hl2").1, EntryType::Link);
    assert_eq!(find("hl2").2, "hl1");
    assert_eq!(find("sym").1, EntryType::Symlink);
    assert_eq!(find("sym").2, "/etc/passwd");
    assert_eq!(find("fifo").1, EntryType::Fifo);
    assert_eq!(
        find("caps").3,
        ["SCHILY.xattr.security.capability", "SCHILY.xattr.user.note"]
    );
    // overlayfs's own bookkeeping never leaves the host.
    assert!(find("etc/").3.is_empty(), "{:?}", find("etc/").3);
}

#[test]
fn layer_unpacks_to_the_same_overlay_tree() {
    require_root!();
    let t = tree();
    let bytes = layer_bytes(&t);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    let diff_id = Digest::of_bytes(&bytes);
    let chain = snapshot::unpack(&store, None, &diff_id, bytes.as_slice()).unwrap();
    let snap = snapshot::path(&store, &chain);

    let ls = fs::symlink_metadata(snap.join("bin/ls")).unwrap();
    assert_eq!(ls.mode() & libc::S_IFMT, libc::S_IFCHR);
    assert_eq!(ls.rdev(), 0);
    assert_eq!(
        get_xattr(&snap.join("x"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(get_xattr(&snap.join("x/sub"), "trusted.overlay.opaque").is_none());
    assert!(get_xattr(&snap.join("etc"), "trusted.overlay.origin").is_none());
    let (a, b) = (
        fs::metadata(snap.join("hl1")).unwrap(),
        fs::metadata(snap.join("hl2")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(
        get_xattr(&snap.join("caps"), "security.capability").as_deref(),
        Some(&CAP_NET_BIND[..])
    );
    assert_eq!(
        get_xattr(&snap.join("caps"), "user.note").as_deref(),
        Some(&b"kept"[..])
    );
    let mut passwd = String::new();
    fs::File::open(snap.join("etc/passwd"))
        .unwrap()
        .read_to_string(&mut passwd)
        .unwrap();
    assert!(passwd.contains("web:x:1:1"));
    assert!(!snap.join("etc/hosts").exists());
    assert!(!snap.join("sys").exists());
}

#[test]
fn lower_view_honours_whiteouts_and_opaque_layers() {
    require_root!();
    let t = tree();
    // /old is deleted by the top layer: a new /old in the upper is an add.
    write(&t.upper.join("old"), "again");
    let got = lines(&t);
    assert!(got.contains(&"A /old".to_string()), "{got:?}");
    // /etc/group comes from the top layer: it counts as the image's.
    write(&t.upper.join("etc/group"), "changed\n");
    let got = lines(&t);
    assert!(got.contains(&"C /etc/group".to_string()), "{got:?}");
}

#[test]
fn split_args_recovers_entrypoint_and_command() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let ep = v(&["/entry", "--flag"]);
    assert_eq!(
        split_args(&v(&["/entry", "--flag", "run"]), Some(&ep)),
        (Some(ep.clone()), Some(v(&["run"])))
    );
    assert_eq!(
        split_args(&v(&["/entry", "--flag"]), Some(&ep)),
        (Some(ep.clone()), None)
    );
    // --entrypoint replaced the image's (docker takes one word there).
    assert_eq!(
        split_args(&v(&["sh", "-c", "x"]), Some(&ep)),
        (Some(v(&["sh"])), Some(v(&["-c", "x"])))
    );
    assert_eq!(
        split_args(&v(&["sh", "-c", "x"]), None),
        (None, Some(v(&["sh", "-c", "x"])))
    );
}

#[test]
fn entrypoint_change_without_cmd_drops_the_command() {
    let mut exec = Config::default();
    exec.set_cmd(Some(vec!["old".into()]));
    let parsed = changes::parse_all(&["ENTRYPOINT [\"/new\"]".to_string()]).unwrap();
    apply_changes(&mut exec, &parsed);
    assert_eq!(
        exec.entrypoint().as_deref(),
        Some(&["/new".to_string()][..])
    );
    assert_eq!(exec.cmd(), &None);

    let mut exec = Config::default();
    exec.set_entrypoint(Some(vec!["/ep".into()]));
    let parsed = changes::parse_all(&["CMD [\"echo\",\"hi\"]".to_string()]).unwrap();
    apply_changes(&mut exec, &parsed);
    assert_eq!(exec.entrypoint().as_deref(), Some(&["/ep".to_string()][..]));
    assert_eq!(
        exec.cmd().as_deref(),
        Some(&["echo".to_string(), "hi".to_string()][..])
    );
}

#[test]
fn config_keeps_unmodelled_parent_fields() {
    let parent = json!({"Healthcheck": {"Test": ["NONE"]}, "Cmd": ["old"], "OnBuild": ["RUN x"]});
    let mut exec = Config::default();
    exec.set_cmd(Some(vec!["new".into()]));
    let merged = merge_exec(Some(&parent), &exec).unwrap();
    assert_eq!(merged["Cmd"], json!(["new"]));
    assert_eq!(merged["Healthcheck"], json!({"Test": ["NONE"]}));
    assert_eq!(merged["OnBuild"], json!(["RUN x"]));

    let mut root = Map::new();
    push_array(&mut root, &["rootfs", "diff_ids"], json!("sha256:a"));
    push_array(&mut root, &["rootfs", "diff_ids"], json!("sha256:b"));
    assert_eq!(root["rootfs"]["diff_ids"], json!(["sha256:a", "sha256:b"]));
}

#[test]
fn change_kinds_print_as_docker_letters() {
    let c = crate::runtime::container::diff::Change {
        kind: ChangeKind::Deleted,
        path: "/x".into(),
    };
    assert_eq!(c.to_string(), "D /x");
}
