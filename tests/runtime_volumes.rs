//! Volumes, binds and tmpfs mounts end to end, as root: data that outlives
//! containers, docker's copy-up, `--volumes-from`, read-only mounts, the
//! volume verbs, and mount targets that try to leave the rootfs.

mod support;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use support::cli::{Run, berth_with_input};
use support::images::busybox_tar;
use support::runtime::Fixture;

fn ok(run: &Run) -> &str {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    &run.stdout
}

fn volume_names(f: &Fixture) -> Vec<String> {
    let run = f.berth(&["volume", "ls", "-q"]);
    ok(&run).lines().map(String::from).collect()
}

/// Adds busybox applets the default test image lacks.
fn applets(root: &Path, names: &[&str]) {
    for name in names {
        let _ = symlink("busybox", root.join("bin").join(name));
    }
}

#[test]
fn a_named_volume_outlives_its_container_and_keeps_data() {
    let f = Fixture::new();
    ok(&f.berth(&[
        "run",
        "--name",
        "writer",
        "-v",
        "keep:/d",
        "bb",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]));
    ok(&f.berth(&["rm", "-v", "writer"]));
    assert_eq!(volume_names(&f), ["keep"], "rm -v leaves named volumes");
    let data = f.root.join("volumes/keep/_data/f");
    assert_eq!(std::fs::read_to_string(data).unwrap_or_default(), "kept\n");
    let run = f.sh(&["-v", "keep:/elsewhere"], "cat /elsewhere/f");
    assert_eq!(ok(&run), "kept\n");
    let inspect = f.berth(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}}",
        "keep",
    ]);
    assert_eq!(
        ok(&inspect).trim(),
        format!(
            "keep local local {}",
            f.root.join("volumes/keep/_data").display()
        )
    );
}

#[test]
fn copy_up_fills_a_fresh_volume_once_and_nocopy_skips_it() {
    let f = Fixture::with_image(|root| {
        applets(root, &["stat"]);
        let seed = root.join("seed");
        let _ = std::fs::create_dir_all(seed.join("sub"));
        let _ = std::fs::write(seed.join("hello"), "from the image\n");
        let _ =
            std::fs::set_permissions(seed.join("hello"), std::fs::Permissions::from_mode(0o640));
        let _ = std::os::unix::fs::chown(seed.join("hello"), Some(1000), Some(1000));
        let _ = std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o750));
        let _ = symlink("/etc/passwd", seed.join("link"));
    });
    let run = f.sh(
        &["-v", "fresh:/seed"],
        "cat /seed/hello; stat -c '%u:%g %a' /seed/hello /seed; readlink /seed/link; ls /seed",
    );
    assert_eq!(
        ok(&run),
        "from the image\n1000:1000 640\n0:0 750\n/etc/passwd\nhello\nlink\nsub\n"
    );
    let link = f.root.join("volumes/fresh/_data/link");
    assert!(
        std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()),
        "the symlink is copied as a link"
    );
    // A volume that already has content is left as it is.
    ok(&f.sh(&["-v", "fresh:/seed"], "echo changed > /seed/hello"));
    let run = f.sh(&["-v", "fresh:/seed"], "cat /seed/hello");
    assert_eq!(ok(&run), "changed\n");
    // nocopy, both spellings.
    let run = f.sh(&["-v", "bare:/seed:nocopy"], "ls /seed | wc -l");
    assert_eq!(ok(&run).trim(), "0");
    let run = f.sh(
        &["--mount", "type=volume,src=bare2,dst=/seed,volume-nocopy"],
        "ls /seed | wc -l",
    );
    assert_eq!(ok(&run).trim(), "0");
    // Only the container's first start copies: emptied, it stays empty.
    ok(&f.berth(&[
        "create",
        "--name",
        "once",
        "-v",
        "v3:/seed",
        "bb",
        "sh",
        "-c",
        "ls /seed | wc -l; rm -rf /seed/*",
    ]));
    assert_eq!(ok(&f.berth(&["start", "-a", "once"])).trim(), "3");
    assert_eq!(ok(&f.berth(&["start", "-a", "once"])).trim(), "0");
}

#[test]
fn image_volumes_become_anonymous_volumes_that_rm_v_removes() {
    let f = Fixture::new();
    let tar = busybox_tar(f.work.path(), "withvol", |root| {
        let _ = std::fs::create_dir_all(root.join("cache"));
        let _ = std::fs::write(root.join("cache/seeded"), "yes\n");
    });
    ok(&f.berth(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "VOLUME /cache",
        &tar.display().to_string(),
        "withvol",
    ]));
    ok(&f.berth(&[
        "run",
        "--name",
        "c1",
        "-v",
        "named:/n",
        "-v",
        "/anon",
        "withvol",
        "cat",
        "/cache/seeded",
    ]));
    let names = volume_names(&f);
    assert_eq!(names.len(), 3, "{names:?}");
    let anonymous: Vec<&String> = names.iter().filter(|n| n.len() == 64).collect();
    assert_eq!(anonymous.len(), 2, "{names:?}");
    let volumes = f.berth(&[
        "inspect",
        "-f",
        "{{json .Config.Volumes}} {{json .HostConfig.Binds}}",
        "c1",
    ]);
    assert_eq!(
        ok(&volumes).trim(),
        "{\"/anon\":{},\"/cache\":{}} [\"named:/n\"]"
    );
    let labels = f.berth(&["volume", "inspect", "-f", "{{json .Labels}}", anonymous[0]]);
    assert_eq!(ok(&labels).trim(), "{\"com.docker.volume.anonymous\":\"\"}");
    ok(&f.berth(&["rm", "-v", "c1"]));
    assert_eq!(volume_names(&f), ["named"]);
    // run --rm takes its anonymous volumes along too.
    ok(&f.berth(&["run", "--rm", "-v", "/scratch", "withvol", "true"]));
    assert_eq!(volume_names(&f), ["named"]);
    // A plain rm leaves them (dangling) for a prune.
    ok(&f.berth(&["run", "--name", "c2", "withvol", "true"]));
    ok(&f.berth(&["rm", "c2"]));
    let dangling = f.berth(&["volume", "ls", "-q", "-f", "dangling=true"]);
    assert_eq!(ok(&dangling).lines().count(), 2);
}

#[test]
fn volumes_from_shares_and_ro_makes_it_read_only() {
    let f = Fixture::new();
    let host = f.work.path().join("shared-host");
    ok(&f.berth(&[
        "create",
        "--name",
        "source",
        "-v",
        "shared:/shared",
        "-v",
        &format!("{}:/h", host.display()),
        "bb",
    ]));
    assert!(host.is_dir(), "-v makes a missing host directory");
    let run = f.sh(
        &["--volumes-from", "source"],
        "echo hi > /shared/a && echo there > /h/b && cat /shared/a /h/b",
    );
    assert_eq!(ok(&run), "hi\nthere\n");
    assert_eq!(
        std::fs::read_to_string(host.join("b")).unwrap_or_default(),
        "there\n"
    );
    let run = f.sh(
        &["--volumes-from", "source:ro"],
        "cat /shared/a; { echo x > /shared/c; } 2>&1; { echo x > /h/c; } 2>&1; true",
    );
    assert!(
        ok(&run).starts_with("hi\nsh: can't create /shared/c: Read-only file system\nsh: can't create /h/c: Read-only file system"),
        "{}",
        run.stdout
    );
    let from = f.berth(&[
        "create",
        "--name",
        "user",
        "--volumes-from",
        "source:ro",
        "bb",
    ]);
    ok(&from);
    let inspect = f.berth(&["inspect", "-f", "{{json .HostConfig.VolumesFrom}}", "user"]);
    assert_eq!(ok(&inspect), "[\"source:ro\"]\n");
    let mounts = f.berth(&["inspect", "-f", "{{json .Mounts}}", "user"]);
    let mounts: serde_json::Value = serde_json::from_str(ok(&mounts)).unwrap_or_default();
    assert_eq!(mounts.as_array().map(Vec::len), Some(2), "{mounts}");
    assert!(
        mounts
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m["RW"] == false),
        "{mounts}"
    );
    let missing = f.berth(&["run", "--rm", "--volumes-from", "nope", "bb", "true"]);
    assert_eq!(missing.code, 125);
    assert!(
        missing.stderr.contains("No such container: nope"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_read_only_bind_stays_read_only_and_volumes_stay_writable_on_a_read_only_root() {
    let f = Fixture::new();
    let host = f.work.path().join("ro-src");
    std::fs::create_dir_all(&host).unwrap_or_default();
    std::fs::write(host.join("f"), "host\n").unwrap_or_default();
    let bind = format!("{}:/h:ro", host.display());
    let run = f.sh(
        &["-v", &bind],
        "cat /h/f; { echo x > /h/new; } 2>&1; touch /h/f 2>&1; true",
    );
    assert_eq!(
        ok(&run),
        "host\nsh: can't create /h/new: Read-only file system\ntouch: /h/f: Read-only file system\n"
    );
    assert!(!host.join("new").exists());
    let mount = format!("type=bind,source={},target=/m,readonly", host.display());
    let run = f.sh(&["--mount", &mount], "{ echo x > /m/new; } 2>&1; true");
    assert!(ok(&run).contains("Read-only file system"), "{}", run.stdout);
    let run = f.sh(
        &[
            "--read-only",
            "-v",
            "rw:/data",
            "-v",
            &format!("{}:/hostrw", host.display()),
        ],
        "echo a > /data/a && echo b > /hostrw/b && echo written; touch /x 2>&1; true",
    );
    assert_eq!(ok(&run), "written\ntouch: /x: Read-only file system\n");
    // A file can be bound too; --mount refuses a missing source.
    let file = format!("{}:/etc/motd:ro", host.join("f").display());
    assert_eq!(ok(&f.sh(&["-v", &file], "cat /etc/motd")), "host\n");
    let missing = format!(
        "type=bind,source={},target=/x",
        host.join("absent").display()
    );
    let run = f.berth(&["run", "--rm", "--mount", &missing, "bb", "true"]);
    assert_eq!(run.code, 125);
    assert!(
        run.stderr.contains("bind source path does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn tmpfs_size_and_options_are_honored() {
    let f = Fixture::new();
    let run = f.sh(
        &["--tmpfs", "/t:size=1m,mode=1770"],
        "grep ' /t ' /proc/mounts; stat -c %a /t 2>/dev/null || ls -ld /t | cut -c1-10; \
         dd if=/dev/zero of=/t/big bs=1k count=2048 2>&1 | grep -c 'No space left'; true",
    );
    let out = ok(&run);
    assert!(
        out.starts_with("tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770 "),
        "{out}"
    );
    assert!(out.contains("drwxrwx--T") || out.contains("1770"), "{out}");
    assert!(
        out.trim_end().ends_with('1'),
        "writing past the size fails: {out}"
    );
    let run = f.sh(
        &[
            "--mount",
            "type=tmpfs,target=/m,tmpfs-size=65536,tmpfs-mode=700",
        ],
        "grep ' /m ' /proc/mounts",
    );
    assert!(ok(&run).contains("size=64k,mode=700"), "{}", run.stdout);
    let inspect = f.berth(&["create", "--name", "t", "--tmpfs", "/run:size=64k", "bb"]);
    ok(&inspect);
    let tmpfs = f.berth(&[
        "inspect",
        "-f",
        "{{json .HostConfig.Tmpfs}} {{json .Mounts}}",
        "t",
    ]);
    assert_eq!(ok(&tmpfs).trim(), "{\"/run\":\"size=64k\"} []");
    let bad = f.berth(&["run", "--rm", "--tmpfs", "/t:bogus", "bb", "true"]);
    assert_eq!(bad.code, 125);
    assert!(
        bad.stderr.contains("invalid tmpfs option \"bogus\""),
        "{}",
        bad.stderr
    );
}

#[test]
fn volume_rm_of_an_in_use_volume_fails_with_dockers_message() {
    let f = Fixture::new();
    let created = f.berth(&["create", "--name", "holder", "-v", "busy:/b", "bb"]);
    let id = ok(&created).trim().to_string();
    let run = f.berth(&["volume", "rm", "busy"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!("Error response from daemon: remove busy: volume is in use - [{id}]\n")
    );
    let run = f.berth(&["volume", "rm", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "Error response from daemon: get nope: no such volume\n"
    );
    assert_eq!(ok(&f.berth(&["volume", "rm", "-f", "nope"])), "nope\n");
    ok(&f.berth(&["rm", "holder"]));
    assert_eq!(ok(&f.berth(&["volume", "rm", "busy"])), "busy\n");
    assert!(volume_names(&f).is_empty());
}

#[test]
fn volume_verbs_create_list_filter_and_inspect() {
    let f = Fixture::new();
    assert_eq!(
        ok(&f.berth(&["volume", "create", "--label", "tier=db", "dbdata"])),
        "dbdata\n"
    );
    assert_eq!(
        ok(&f.berth(&["volume", "create", "dbdata"])),
        "dbdata\n",
        "idempotent"
    );
    let anon = f.berth(&["volume", "create"]);
    assert_eq!(ok(&anon).trim().len(), 64);
    let opts = [
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "mem",
    ];
    ok(&f.berth(&opts));
    let ls = f.berth(&["volume", "ls"]);
    assert!(
        ok(&ls).starts_with("DRIVER    VOLUME NAME\nlocal     "),
        "{}",
        ls.stdout
    );
    let filtered = f.berth(&[
        "volume",
        "ls",
        "-f",
        "label=tier=db",
        "--format",
        "{{.Name}}:{{.Labels}}",
    ]);
    assert_eq!(ok(&filtered), "dbdata:tier=db\n");
    let table = f.berth(&[
        "volume",
        "ls",
        "-f",
        "name=mem",
        "--format",
        "table {{.Name}}\\t{{.Driver}}",
    ]);
    assert_eq!(ok(&table), "VOLUME NAME   DRIVER\nmem           local\n");
    let json = f.berth(&["volume", "inspect", "dbdata"]);
    let value: serde_json::Value = serde_json::from_str(ok(&json)).unwrap_or_default();
    let v = &value[0];
    assert_eq!(v["Labels"], serde_json::json!({"tier": "db"}));
    assert_eq!(v["Options"], serde_json::json!({}));
    assert_eq!(v["Scope"], "local");
    assert!(
        v["CreatedAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    for (args, needle) in [
        (&["volume", "create", "a"][..], "volume name is too short"),
        (
            &["volume", "create", "bad/name"][..],
            "includes invalid characters for a local volume name",
        ),
        (
            &["volume", "create", "-d", "nfs", "x1"][..],
            "plugin \"nfs\" not found",
        ),
        (
            &["volume", "create", "-o", "color=red", "x2"][..],
            "invalid option: \"color\"",
        ),
    ] {
        let run = f.berth(args);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(
            run.stderr
                .starts_with("Error response from daemon: create "),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    // A volume with driver options mounts that filesystem.
    let run = f.sh(&["-v", "mem:/mem"], "grep ' /mem ' /proc/mounts");
    assert!(
        ok(&run).starts_with("tmpfs /mem tmpfs rw,relatime,size=1024k"),
        "{}",
        run.stdout
    );
    let run = f.berth(&["volume", "ls", "-f", "color=red"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "Error response from daemon: invalid filter 'color'\n"
    );
    let run = f.berth(&["volume", "inspect", "dbdata", "nope"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("\"Name\": \"dbdata\""),
        "{}",
        run.stdout
    );
}

#[test]
fn volume_prune_asks_then_removes_unused_anonymous_or_all() {
    let f = Fixture::new();
    ok(&f.berth(&["volume", "create", "named"]));
    ok(&f.berth(&["volume", "create", "--label", "keep", "kept"]));
    ok(&f.berth(&["run", "--name", "user", "-v", "/used", "bb", "true"]));
    ok(&f.berth(&[
        "run",
        "--name",
        "gone",
        "-v",
        "/free",
        "bb",
        "sh",
        "-c",
        "echo 12345 > /free/f",
    ]));
    ok(&f.berth(&["rm", "gone"]));
    assert_eq!(volume_names(&f).len(), 4);
    let declined = berth_with_input(&f.root, &["volume", "prune"], "n\n");
    assert_eq!(declined.code, 0);
    assert_eq!(
        declined.stdout,
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(volume_names(&f).len(), 4);
    let run = f.berth(&["volume", "prune", "-f"]);
    let out = ok(&run);
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.ends_with("\nTotal reclaimed space: 6B\n"), "{out}");
    assert_eq!(out.lines().count(), 4, "one anonymous volume: {out}");
    let run = f.berth(&["volume", "prune", "-a", "-f", "--filter", "label!=keep"]);
    assert_eq!(
        ok(&run),
        "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n"
    );
    let left = volume_names(&f);
    assert_eq!(
        left.len(),
        2,
        "the used anonymous volume and the kept one: {left:?}"
    );
    assert!(left.contains(&"kept".to_string()));
    let df = f.berth(&["system", "df"]);
    assert!(
        ok(&df)
            .lines()
            .any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("2")),
        "{}",
        df.stdout
    );
    ok(&f.berth(&["rm", "user"]));
    let run = f.berth(&["system", "prune", "-f", "--volumes"]);
    assert!(ok(&run).contains("Deleted Volumes:\n"), "{}", run.stdout);
    assert_eq!(volume_names(&f), ["kept"]);
}

#[test]
fn cp_into_a_stopped_container_lands_in_its_volume() {
    let f = Fixture::new();
    ok(&f.berth(&[
        "create",
        "--name",
        "box",
        "-v",
        "cpvol:/data",
        "bb",
        "cat",
        "/data/in",
    ]));
    let src = f.work.path().join("in");
    std::fs::write(&src, "copied\n").unwrap_or_default();
    ok(&f.berth(&["cp", &src.display().to_string(), "box:/data/in"]));
    let landed = f.root.join("volumes/cpvol/_data/in");
    assert_eq!(
        std::fs::read_to_string(landed).unwrap_or_default(),
        "copied\n"
    );
    assert_eq!(ok(&f.berth(&["start", "-a", "box"])), "copied\n");
    let out = f.work.path().join("out");
    ok(&f.berth(&["cp", "box:/data/in", &out.display().to_string()]));
    assert_eq!(std::fs::read_to_string(out).unwrap_or_default(), "copied\n");
}

#[test]
fn symlinked_mount_targets_never_leave_the_rootfs() {
    let outside = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let victim = outside.path().join("victim");
    let victim_text = victim.to_string_lossy().into_owned();
    let up = format!("../../../../../../../..{victim_text}");
    let inside = format!("grep -c ' {victim_text}/sub ' /proc/mounts");
    let f = Fixture::with_image(move |root| {
        let _ = symlink(&up, root.join("data"));
        let _ = symlink("/", root.join("rootlink"));
        let _ = symlink(&victim_text, root.join("abs"));
        let _ = symlink("/proc/self", root.join("proclink"));
    });
    let run = f.sh(
        &["-v", "ev:/data", "--tmpfs", "/abs/sub"],
        &format!("echo in > /data/x && cat /data/x && {inside}"),
    );
    assert_eq!(
        ok(&run),
        "in\n1\n",
        "the tmpfs is inside, at the symlink's target"
    );
    assert!(
        !victim.exists(),
        "a mount reached the host: {}",
        victim.display()
    );
    assert_eq!(
        std::fs::read_to_string(f.root.join("volumes/ev/_data/x")).unwrap_or_default(),
        "in\n",
        "the volume was mounted inside the rootfs, at the symlink's target"
    );
    let run = f.berth(&["run", "--rm", "-v", "ev:/rootlink", "bb", "true"]);
    assert_eq!(run.code, 125);
    assert!(
        run.stderr.contains("resolves to the container's root"),
        "{}",
        run.stderr
    );
    let run = f.berth(&["run", "--rm", "--tmpfs", "/proclink/x", "bb", "true"]);
    assert_eq!(run.code, 125, "{}", run.stdout);
    let run = f.berth(&["run", "--rm", "-v", "ev:/proc/x", "bb", "true"]);
    assert_eq!(run.code, 125);
    assert!(!victim.exists());
}

/// runc, given the OCI config berth wrote, mounts the same volumes, binds and
/// tmpfs the same way.
#[test]
fn runc_mounts_what_berth_mounts() -> Result<(), Box<dyn std::error::Error>> {
    let f = Fixture::new();
    let host = f.work.path().join("peer-host");
    std::fs::create_dir_all(&host)?;
    let bind = format!("{}:/h:ro", host.display());
    let script = "grep -E ' /(data|h|t) ' /proc/mounts | cut -d' ' -f2,3,4";
    // runc makes its own namespaces: the spec must not name berth's pinned one.
    let created = f.berth(&[
        "create",
        "--network",
        "none",
        "--name",
        "peer",
        "-v",
        "pv:/data",
        "-v",
        &bind,
        "--tmpfs",
        "/t:size=1m",
        "bb",
        "sh",
        "-c",
        script,
    ]);
    let id = ok(&created).trim().to_string();
    let ours = f.berth(&["start", "-a", "peer"]);
    assert!(
        ok(&ours).contains("/h ") && ours.stdout.contains(" ro,"),
        "{}",
        ours.stdout
    );
    let spec_path = f.root.join("containers").join(&id).join("config.oci.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec_path)?)?;
    spec["root"]["path"] = f.work.path().join("bb-rootfs").display().to_string().into();
    let runc_id = format!("berth-vol-peer-{}", std::process::id());
    spec["linux"]["cgroupsPath"] = format!("berth-peer/{runc_id}").into();
    let bundle = f.work.path().join("bundle");
    std::fs::create_dir_all(&bundle)?;
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec)?,
    )?;
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(f.work.path().join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&runc_id)
        .stdin(std::process::Stdio::null())
        .output()?;
    assert!(
        out.status.success(),
        "runc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), ours.stdout);
    Ok(())
}
