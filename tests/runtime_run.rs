//! `berth run` end to end, as root, on a busybox image built from the host's
//! busybox: isolation, limits, exit codes, and cleanup, asserted from inside the
//! container and from the host.

mod support;

use std::path::Path;

use support::runtime::Fixture;

#[test]
fn the_command_is_pid_1_and_the_hostname_is_set() {
    let f = Fixture::new();
    let run = f.sh(&["-h", "myhost"], "echo $$; hostname; cat /etc/hostname");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "1\nmyhost\nmyhost\n");
}

#[test]
fn capabilities_seccomp_and_no_new_privs_match_docker() {
    let f = Fixture::new();
    let run = f.sh(
        &[],
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
    assert_eq!(run.stdout, expected);
}

#[test]
fn a_non_root_user_has_no_effective_capabilities() {
    let f = Fixture::new();
    let run = f.sh(
        &["-u", "web"],
        "id; grep -E '^(CapEff|CapBnd):' /proc/self/status",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The kernel keeps supplementary groups sorted.
    assert!(
        run.stdout
            .starts_with("uid=1000(web) gid=1000(web) groups=10(wheel),1000(web)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        run.stdout
    );
}

#[test]
fn cap_add_and_drop_change_the_set() {
    let f = Fixture::new();
    let run = f.sh(
        &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"],
        "grep CapEff /proc/self/status",
    );
    assert_eq!(run.stdout, "CapEff:\t0000000000001000\n", "{}", run.stderr);
}

#[test]
fn dev_has_exactly_dockers_devices() {
    let f = Fixture::new();
    let run = f.sh(
        &[],
        "ls /dev | tr '\\n' ' '; echo; echo hi > /dev/null && head -c 4 /dev/zero | wc -c",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n4\n"
    );
}

#[test]
fn the_memory_limit_holds_and_the_oom_kill_is_recorded() {
    let f = Fixture::new();
    // dd allocates and fills a 64 MiB buffer: four times the limit.
    let run = f.berth(&[
        "run",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "--name",
        "hog",
        "bb",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(run.code, 137, "{} {}", run.stdout, run.stderr);
    let id = f.containers().into_iter().next().unwrap_or_default();
    let state = f.state(&id);
    assert_eq!(state["oom_killed"], true, "{state}");
    assert_eq!(state["exit_code"], 137);
    assert_eq!(state["status"], "exited");
}

#[test]
fn the_pids_limit_holds() {
    let f = Fixture::new();
    let run = f.sh(
        &["--pids-limit", "8"],
        "for i in $(seq 1 20); do sleep 2 & done 2>&1; echo started",
    );
    assert!(
        run.stderr.contains("can't fork") || run.stdout.contains("can't fork"),
        "{} {}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn read_only_rootfs_holds() {
    let f = Fixture::new();
    let run = f.sh(
        &["--read-only"],
        "touch /x 2>&1; touch /tmp/x 2>&1; echo ok > /dev/shm/x && echo shm-ok",
    );
    assert!(
        run.stdout.contains("touch: /x: Read-only file system"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("touch: /tmp/x: Read-only file system"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("shm-ok"), "{}", run.stdout);
}

#[test]
fn exit_codes_follow_docker() {
    let f = Fixture::new();
    assert_eq!(f.sh(&[], "exit 0").code, 0);
    assert_eq!(f.sh(&[], "exit 1").code, 1);
    assert_eq!(f.sh(&[], "exit 42").code, 42);
    let not_found = f.berth(&["run", "--rm", "bb", "nope"]);
    assert_eq!(not_found.code, 127);
    assert!(
        not_found
            .stderr
            .contains("exec: \"nope\": executable file not found in $PATH"),
        "{}",
        not_found.stderr
    );
    let not_exec = f.berth(&["run", "--rm", "bb", "/etc/passwd"]);
    assert_eq!(not_exec.code, 126);
    assert!(
        not_exec.stderr.contains("permission denied"),
        "{}",
        not_exec.stderr
    );
    let bad_flag = f.berth(&["run", "--rm", "--memory", "12zz", "bb", "true"]);
    assert_eq!(bad_flag.code, 125);
    assert!(
        bad_flag.stderr.contains("invalid argument \"12zz\""),
        "{}",
        bad_flag.stderr
    );
    let no_image = f.berth(&["run", "--rm", "ghost:1", "true"]);
    assert_eq!(no_image.code, 125);
    assert!(
        no_image
            .stderr
            .contains("Unable to find image 'ghost:1' locally"),
        "{}",
        no_image.stderr
    );
    assert!(
        f.containers().is_empty(),
        "left behind: {:?}",
        f.containers()
    );
}

#[test]
fn a_failed_start_leaves_no_cgroup_or_process() {
    let f = Fixture::new();
    let run = f.berth(&["run", "--name", "broken", "bb", "nope"]);
    assert_eq!(run.code, 127);
    let ids = f.containers();
    assert_eq!(ids.len(), 1, "docker keeps the created container");
    let state = f.state(&ids[0]);
    assert_eq!(state["status"], "created");
    assert_eq!(state["exit_code"], 127);
    for controller in ["memory", "pids", "cpu", "freezer"] {
        let cg = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("berth")
            .join(&ids[0]);
        assert!(!cg.exists(), "cgroup left: {}", cg.display());
    }
}

#[test]
fn workdir_user_env_and_entrypoint() {
    let f = Fixture::new();
    let run = f.berth(&[
        "run",
        "--rm",
        "-w",
        "/srv/app",
        "-u",
        "1000:10",
        "-e",
        "A=1",
        "-e",
        "B=two",
        "bb",
        "sh",
        "-c",
        "pwd; id -u; id -g; echo $A$B; echo $HOME",
    ]);
    // HOME comes from the passwd entry of the uid, as in docker.
    assert_eq!(
        run.stdout, "/srv/app\n1000\n10\n1two\n/home/web\n",
        "{}",
        run.stderr
    );
    let run = f.berth(&["run", "--rm", "--entrypoint", "echo", "bb", "a", "b"]);
    assert_eq!(run.stdout, "a b\n");
}

#[test]
fn a_dev_null_symlink_in_the_image_cannot_reach_the_host() {
    let outside = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let target = outside.path().join("victim");
    let target_text = target.to_string_lossy().into_owned();
    let f = Fixture::with_image(move |root| {
        let _ = std::fs::create_dir_all(root.join("dev"));
        let _ = std::os::unix::fs::symlink(&target_text, root.join("dev/null"));
        let _ = std::os::unix::fs::symlink(&target_text, root.join("etc/hosts"));
    });
    let run = f.sh(
        &[],
        "echo pwned > /dev/null; echo pwned >> /etc/hosts; echo done",
    );
    assert_eq!(run.stdout, "done\n", "{}", run.stderr);
    assert!(!target.exists(), "the container wrote a host file");
}

#[test]
fn network_none_has_only_loopback_and_host_shares() {
    let f = Fixture::new();
    let run = f.sh(&["--network", "none"], "ls /sys/class/net | tr '\\n' ' '");
    assert_eq!(run.stdout, "lo ", "{}", run.stderr);
    let links = || -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Parallel tests add and remove veths: compare the links there throughout.
    let before = links();
    let run = f.sh(&["--network", "host"], "ls /sys/class/net");
    let after = links();
    let seen: Vec<&str> = run.stdout.lines().collect();
    for link in before.iter().filter(|l| after.contains(l)) {
        assert!(seen.contains(&link.as_str()), "{link}: {}", run.stderr);
    }
}

#[test]
fn detached_run_prints_the_id_and_create_start_work() {
    let f = Fixture::new();
    let run = f.berth(&["run", "-d", "bb", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    wait_exited(&f, &id);
    let created = f.berth(&["create", "--name", "later", "bb", "sh", "-c", "exit 7"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let id2 = created.stdout.trim().to_string();
    assert_eq!(f.state(&id2)["status"], "created");
    let started = f.berth(&["start", "-a", "later"]);
    assert_eq!(started.code, 7);
    let started = f.berth(&["start", "-a", &id2[..12]]);
    assert_eq!(started.code, 7, "a unique id prefix names the container");
}

#[test]
fn names_are_unique() {
    let f = Fixture::new();
    assert_eq!(f.berth(&["create", "--name", "one", "bb", "true"]).code, 0);
    let again = f.berth(&["create", "--name", "one", "bb", "true"]);
    assert_eq!(again.code, 125);
    assert!(
        again
            .stderr
            .contains("The container name \"/one\" is already in use"),
        "{}",
        again.stderr
    );
}

fn wait_exited(f: &Fixture, id: &str) {
    for _ in 0..200 {
        if f.state(id)["status"] == "exited" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("container {id} did not exit: {}", f.state(id));
}

#[test]
fn security_opts_turn_off_no_new_privs_and_seccomp() {
    let f = Fixture::new();
    let run = f.sh(
        &["--security-opt", "no-new-privileges=false"],
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
    );
    assert_eq!(
        run.stdout, "NoNewPrivs:\t0\nSeccomp:\t2\n",
        "{}",
        run.stderr
    );
    let run = f.sh(
        &["--security-opt", "seccomp=unconfined"],
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
    );
    assert_eq!(
        run.stdout, "NoNewPrivs:\t1\nSeccomp:\t0\n",
        "{}",
        run.stderr
    );
    // A device the host has and a default container does not.
    let host_only = host_block_device();
    let probe = format!(
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep -q ' /sys sysfs rw' /proc/mounts && echo sys-rw; test -b /dev/{host_only} && echo has-{host_only}"
    );
    let run = f.sh(&["--privileged"], &probe);
    assert!(run.stdout.contains("Seccomp:\t0"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("CapEff:\t00000000a80425fb"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("sys-rw"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("has-{host_only}")),
        "{}",
        run.stdout
    );
    let plain = f.sh(&[], &probe);
    assert!(
        !plain.stdout.contains("sys-rw") && !plain.stdout.contains("has-"),
        "{}",
        plain.stdout
    );
    let bad = f.sh(&["--security-opt", "apparmor=x"], "true");
    assert_eq!(bad.code, 125);
}

#[test]
fn init_reaps_orphans_and_passes_the_exit_status() {
    let f = Fixture::new();
    // Without --init the command is pid 1; with it, the command is pid 2 and the
    // orphaned background sleeps are reaped, so none is left a zombie.
    let run = f.sh(
        &["--init"],
        "echo $$; (sleep 0.1 &) ; sleep 0.3; ps -o stat,comm | grep -c Z; exit 5",
    );
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(run.stdout, "2\n0\n");
    let plain = f.sh(&[], "echo $$");
    assert_eq!(plain.stdout, "1\n");
}

#[test]
fn tty_is_a_real_pty_that_follows_the_terminal_size() {
    let f = Fixture::new();
    let berth_bin = env!("CARGO_BIN_EXE_berth");
    let root = f.root.display().to_string();
    // `script` gives berth a real terminal of 33x101.
    let inner = format!(
        "stty rows 33 cols 101; {berth_bin} --root {root} run --rm -it bb sh -c 'tty; stty size; echo $TERM; exit 4'"
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output();
    let Ok(out) = out else {
        panic!("script(1) is needed for this test")
    };
    // script(1) turns its own stdin's end into a NUL, echoed as "^@"
    // wherever it lands; that is the harness, not the container.
    let text = String::from_utf8_lossy(&out.stdout).replace("^@", "");
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("/dev/pts/0\r\n33 101\r\nxterm\r\n"),
        "{text:?}"
    );
}

/// The OCI runtime config berth writes for a start is one runc accepts and runs
/// with the same isolation.
#[test]
fn runc_runs_the_oci_spec_berth_generates() -> Result<(), Box<dyn std::error::Error>> {
    let f = Fixture::new();
    let script = "echo hello-from-$(hostname); grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; cat /proc/keys | wc -c";
    let created = f.berth(&[
        "create",
        "--name",
        "peer",
        "-h",
        "peerhost",
        "-m",
        "64m",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let id = created.stdout.trim().to_string();
    let ours = f.berth(&["start", "-a", "peer"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let spec_path = f.root.join("containers").join(&id).join("config.oci.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec_path)?)?;
    let bundle = f.work.path().join("bundle");
    std::fs::create_dir_all(&bundle)?;
    spec["root"]["path"] = f.work.path().join("bb-rootfs").display().to_string().into();
    let runc_id = format!("berth-peer-{}", std::process::id());
    spec["linux"]["cgroupsPath"] = format!("berth-peer/{runc_id}").into();
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec)?,
    )?;
    let state = f.work.path().join("runc-state");
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&runc_id)
        .stdin(std::process::Stdio::null())
        .output()?;
    let runc_out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "runc failed: {}{}",
        runc_out,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        runc_out, ours.stdout,
        "runc and berth ran the same container differently"
    );
    assert!(
        runc_out.starts_with("hello-from-peerhost\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n0\n"),
        "{runc_out}"
    );
    Ok(())
}

/// The first block device in the host's /dev (every test machine has a disk).
fn host_block_device() -> String {
    use std::os::unix::fs::FileTypeExt;
    let found = std::fs::read_dir("/dev").ok().and_then(|entries| {
        entries.flatten().find_map(|e| {
            let is_block = e.file_type().is_ok_and(|t| t.is_block_device());
            is_block.then(|| e.file_name().to_string_lossy().into_owned())
        })
    });
    match found {
        Some(name) => name,
        None => panic!("the host has no block device in /dev"),
    }
}

#[test]
fn an_image_without_a_command_needs_one() {
    let f = Fixture::new();
    let tar = f.work.path().join("bb.tar").display().to_string();
    assert_eq!(f.berth(&["import", &tar, "nocmd"]).code, 0);
    let run = f.berth(&["run", "--rm", "nocmd"]);
    assert_eq!(run.code, 125);
    assert!(
        run.stderr.contains("no command specified"),
        "{}",
        run.stderr
    );
    assert!(f.containers().is_empty());
    assert_eq!(f.berth(&["run", "--rm", "nocmd", "true"]).code, 0);
}

#[test]
fn tty_input_reaches_the_container() {
    let f = Fixture::new();
    let berth_bin = env!("CARGO_BIN_EXE_berth");
    let root = f.root.display().to_string();
    let inner = format!("{berth_bin} --root {root} run --rm -it bb sh -c 'read x; echo got-$x'");
    let child = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        panic!("script(1) is needed for this test")
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = std::io::Write::write_all(&mut stdin, b"hello\n");
    }
    let out = child.wait_with_output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(text.contains("got-hello"), "{text:?}");
}

#[test]
fn signals_start_at_their_defaults() {
    let f = Fixture::new();
    // An ignored SIGPIPE (Rust's own setting) must not leak into containers:
    // `yes | head` would never end.
    let run = f.sh(
        &[],
        "grep -E '^(SigBlk|SigIgn):' /proc/self/status; yes | head -c 10 | wc -c",
    );
    assert_eq!(
        run.stdout, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n10\n",
        "{}",
        run.stderr
    );
}
