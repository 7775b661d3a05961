//! A real image: the host's statically linked busybox with applet symlinks.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::fixtures::*;
use crate::runtime::image::{ImageStore, import};

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: [&str; 24] = [
    "sh", "ash", "ls", "cat", "echo", "env", "true", "false", "sleep", "mkdir", "rm", "cp", "mv",
    "ln", "ps", "id", "uname", "hostname", "grep", "sed", "wc", "head", "tail", "wget",
];

/// A ~2 MB rootfs: /bin/busybox, applet symlinks, the usual directories.
pub fn busybox_rootfs() -> Vec<u8> {
    let binary = fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX} is required for this test ({e}): apt-get install busybox-static")
    });
    let mut layer = Layer::new();
    layer.dir("./", 0o755);
    for dir in [
        "bin/", "sbin/", "usr/", "usr/bin/", "etc/", "root/", "proc/", "sys/", "dev/",
    ] {
        layer.dir(dir, 0o755);
    }
    layer.dir("tmp/", 0o1777);
    layer.file("bin/busybox", 0o755, &binary);
    for applet in APPLETS {
        layer.symlink(&format!("bin/{applet}"), "/bin/busybox");
    }
    layer.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n");
    layer.file("etc/group", 0o644, b"root:x:0:\n");
    layer.finish()
}

#[test]
fn imports_the_host_busybox_as_an_image() {
    let (_dir, store) = new_store();
    let tar = busybox_rootfs();
    let changes = strings(&["CMD [\"sh\"]"]);
    let id = import(&store, &tar[..], Some("busybox:host"), &changes, None).unwrap();
    let image = ImageStore::new(&store).resolve("busybox:host").unwrap();
    assert_eq!(image.id, id);
    let root = &image.layer_dirs[0];
    let sh = root.join("bin/sh");
    assert_eq!(fs::read_link(&sh).unwrap(), Path::new("/bin/busybox"));
    let binary = fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!(binary.len(), fs::metadata(BUSYBOX).unwrap().len());
    assert_eq!(binary.mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read(root.join("bin/busybox")).unwrap(),
        fs::read(BUSYBOX).unwrap()
    );
    assert_eq!(
        image.config.config().as_ref().unwrap().cmd().as_deref(),
        Some(&strings(&["sh"])[..])
    );
}
