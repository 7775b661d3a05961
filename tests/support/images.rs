//! Test images built from the host's static busybox (`busybox-static`).

use std::path::{Path, PathBuf};

use super::cli::{Run, berth};

pub const BUSYBOX: &str = "/bin/busybox";

/// Writes a busybox rootfs (applet links, passwd and group) into `dir/rootfs`,
/// `extra` adding files to it, and tars it to `dir/<name>.tar`.
pub fn busybox_tar(dir: &Path, name: &str, extra: impl Fn(&Path)) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: apt-get install busybox-static"
    );
    let root = dir.join(format!("{name}-rootfs"));
    for sub in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        must(std::fs::create_dir_all(root.join(sub)));
    }
    must(std::fs::copy(BUSYBOX, root.join("bin/busybox")));
    for applet in [
        "sh", "echo", "cat", "ls", "hostname", "sleep", "true", "false", "id", "touch", "grep",
        "head", "tail", "seq", "wc", "readlink", "env", "pwd", "mkdir", "rm", "kill", "ps", "dd",
        "wget", "httpd", "date", "test",
    ] {
        must(std::os::unix::fs::symlink(
            "busybox",
            root.join("bin").join(applet),
        ));
    }
    must(std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\nweb:x:1000:1000:web:/home/web:/bin/sh\n",
    ));
    must(std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nwheel:x:10:web\n",
    ));
    extra(&root);
    let tar_path = dir.join(format!("{name}.tar"));
    let file = must(std::fs::File::create(&tar_path));
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    must(builder.append_dir_all(".", &root));
    must(builder.finish());
    tar_path
}

/// Imports a busybox image as `name` (with `CMD ["sh"]`) into `root`.
pub fn import_busybox(root: &Path, work: &Path, name: &str, extra: impl Fn(&Path)) -> Run {
    let tar = busybox_tar(work, name, extra);
    let tar = tar.to_string_lossy().into_owned();
    berth(root, work, &["import", "-c", "CMD [\"sh\"]", &tar, name])
}

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("building the test image: {e}"),
    }
}
