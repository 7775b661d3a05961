//! The container escape suite (issue 8): one test per attack, each run from
//! inside a container by a small hostile program (`tests/support/
//! escape_helper.c`, built static at test time), each failing if its defense
//! is removed (docs/SECURITY.md says which defense each one proves). Root only.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use support::cli::Run;
use support::escape::{self, Victim, must};
use support::runtime::Fixture;

/// CVE-2019-5736 during `run`: with `--init`, pid 1 of the container stays a
/// berth process for its whole life. A container process that opens its
/// /proc/1/exe must not reach the host's berth binary, nor ptrace it (host
/// processes are not in the pid namespace at all; berth's own are
/// non-dumpable).
#[test]
fn run_init_exe_is_out_of_reach() {
    let f = escape::fixture(|_| {});
    let victim = Victim::new(&f);
    let script = "esc ptrace 1; esc exe-watch 1500";
    let run = victim.berth(&f, &["run", "--rm", "--init", "bb", "sh", "-c", script]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("ptrace=EPERM\n"), "{}", run.stdout);
    assert!(run.stdout.contains("watched"), "{}", run.stdout);
    assert_eq!(victim.sightings(&run.stdout), Vec::<String>::new());
    assert!(victim.unchanged(), "the host's berth binary was written");
}

/// CVE-2019-5736 during `exec`: a container process watches /proc while
/// berth execs into the container again and again; the exec's process is
/// berth until its execve and must be out of reach all that time.
#[test]
fn exec_exe_is_out_of_reach() {
    let f = escape::fixture(|_| {});
    let victim = Victim::new(&f);
    let run = victim.berth(
        &f,
        &[
            "run",
            "-d",
            "--name",
            "esc-exe",
            "bb",
            "esc",
            "exe-watch",
            "600000",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for _ in 0..40 {
        let exec = victim.berth(&f, &["exec", "esc-exe", "true"]);
        assert_eq!(exec.code, 0, "{}", exec.stderr);
    }
    let logs = victim.berth(&f, &["logs", "esc-exe"]);
    let _ = victim.berth(&f, &["rm", "-f", "esc-exe"]);
    assert_eq!(victim.sightings(&logs.stdout), Vec::<String>::new());
    assert!(victim.unchanged(), "the host's berth binary was written");
}

/// CVE-2024-21626: `-w /proc/self/fd/N` (given, or through a symlink in the
/// image) must never leave the process in a host directory, for run and exec.
#[test]
fn a_working_dir_through_proc_self_fd_stays_inside() {
    let f = escape::fixture(|root| {
        for n in 3..10 {
            let link = format!("/proc/self/fd/{n}");
            must(std::os::unix::fs::symlink(
                link,
                root.join(format!("wd{n}")),
            ));
        }
    });
    let run = f.berth(&["run", "-d", "--name", "esc-wd", "bb", "sleep", "600"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for n in 3..10 {
        for dir in [format!("/proc/self/fd/{n}"), format!("/wd{n}")] {
            let run = f.berth(&["run", "--rm", "-w", &dir, "bb", "esc", "cwd"]);
            assert_stays_inside(&run, "run", &dir);
            let exec = f.berth(&["exec", "-w", &dir, "esc-wd", "esc", "cwd"]);
            assert_stays_inside(&exec, "exec", &dir);
        }
    }
}

/// Refused (docker's 125, or 126 from exec) naming the directory, or
/// started inside the container.
fn assert_stays_inside(run: &Run, verb: &str, dir: &str) {
    match run.code {
        0 => assert!(
            run.stdout.contains("top=ours"),
            "{verb} -w {dir}: {}",
            run.stdout
        ),
        125 | 126 => assert!(
            run.stdout.is_empty() && run.stderr.contains(dir),
            "{verb} -w {dir}: {}{}",
            run.stdout,
            run.stderr
        ),
        code => panic!("{verb} -w {dir}: exit {code}: {}{}", run.stdout, run.stderr),
    }
}

/// Only stdio reaches the command, for run, exec and a detached container.
#[test]
fn only_stdio_is_inherited_by_run_and_exec() {
    let f = Fixture::new();
    // `; true` keeps sh itself running (it would exec a lone last command).
    let script = "ls /proc/$$/fd; true";
    let run = f.sh(&[], script);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "0\n1\n2\n"),
        "{}",
        run.stderr
    );
    let run = f.berth(&["run", "-d", "--name", "esc-fds", "bb", "sleep", "600"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exec = f.berth(&["exec", "esc-fds", "sh", "-c", script]);
    assert_eq!(
        (exec.code, exec.stdout.as_str()),
        (0, "0\n1\n2\n"),
        "{}",
        exec.stderr
    );
    let exec = f.berth(&["exec", "esc-fds", "ls", "/proc/1/fd"]);
    assert_eq!(exec.stdout, "0\n1\n2\n", "{}", exec.stderr);
}

/// CVE-2021-30465 style: a container keeps exchanging a directory of a
/// shared volume with a symlink while berth starts another container whose
/// volume is mounted onto that directory, 30 times. The symlink names a host
/// path (the second container's rootfs seen from the host, which a mount made
/// by following it would show as /escaped): berth resolves targets inside the
/// rootfs, so the volume is only ever found at /data/d (or where the link
/// leads inside the rootfs), and no host mount appears.
#[test]
fn a_mount_target_swapped_for_a_symlink_stays_inside() {
    let f = escape::fixture(|root| must(std::fs::create_dir_all(root.join("escaped"))));
    for volume in ["esc-shared", "esc-other"] {
        let run = f.berth(&["volume", "create", volume]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let other = f.root.join("volumes/esc-other/_data/marker");
    must(std::fs::write(&other, "other\n"));
    let check = "[ -e /escaped/marker ] && echo ESCAPED; cat /data/d/marker 2>/dev/null; true";
    let create = f.berth(&[
        "create",
        "--name",
        "esc-target",
        "-v",
        "esc-shared:/data",
        "-v",
        "esc-other:/data/d",
        "bb",
        "sh",
        "-c",
        check,
    ]);
    assert_eq!(create.code, 0, "{}", create.stderr);
    let id = create.stdout.trim().to_string();
    let link = f.root.join("containers").join(&id).join("rootfs/escaped");
    let script = format!(
        "mkdir -p /w/d && ln -sfn {} /w/l && esc swap /w/d /w/l 600000",
        link.display()
    );
    let before = escape::host_mount_points();
    let run = f.berth(&[
        "run",
        "-d",
        "--name",
        "esc-swapper",
        "-v",
        "esc-shared:/w",
        "bb",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let started = f.root.join("volumes/esc-shared/_data/l");
    assert!(escape::wait_for(&started, 60), "the swapper never started");
    let mut outcomes = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let start = f.berth(&["start", "-a", "esc-target"]);
        assert!(
            !start.stdout.contains("ESCAPED"),
            "a mount left the rootfs: {}",
            start.stdout
        );
        assert!(
            start.code == 0 || start.code == 125,
            "{}{}",
            start.stdout,
            start.stderr
        );
        let seen = if start.stdout.contains("other") {
            "at /data/d"
        } else {
            "elsewhere"
        };
        *outcomes.entry((start.code, seen)).or_insert(0) += 1;
    }
    let _ = f.berth(&["rm", "-f", "esc-swapper", "esc-target"]);
    let root = f.work.path().to_string_lossy().into_owned();
    let new: Vec<String> = escape::host_mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&root) && !before.contains(m) && !m.ends_with("/netns"))
        .collect();
    assert_eq!(new, Vec::<String>::new(), "host mounts appeared");
    eprintln!("starts (exit code, where the volume was): {outcomes:?}");
    assert!(
        outcomes.keys().any(|k| k.0 == 0),
        "no start succeeded: {outcomes:?}"
    );
}

/// CVE-2018-15664: a container exchanges a directory with a symlink to / in
/// a loop while the host copies through that directory in both directions.
/// The paths exist on the host (a secret to read, a directory to write into)
/// and, as decoys, in the container: only the container's are ever reached.
#[test]
fn cp_through_a_racing_symlink_stays_inside() {
    let f = escape::fixture(|_| {});
    let host_dir = f.work.path().join("hostside");
    must(std::fs::create_dir_all(&host_dir));
    must(std::fs::write(host_dir.join("secret"), "HOST SECRET\n"));
    let h = host_dir.display().to_string();
    let script = format!(
        "mkdir -p /w/d{h} {h} && echo decoy > /w/d{h}/secret && echo inside > {h}/secret && \
         ln -s / /w/l && esc swap /w/d /w/l 600000"
    );
    let run = f.berth(&["run", "-d", "--name", "esc-cp", "bb", "sh", "-c", &script]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let upper = f
        .root
        .join("containers")
        .join(run.stdout.trim())
        .join("upper/w/l");
    assert!(escape::wait_for(&upper, 60), "the swapper never started");
    let planted = f.work.path().join("planted");
    must(std::fs::write(&planted, "planted\n"));
    let planted = planted.display().to_string();
    let src = format!("esc-cp:/w/d{h}/secret");
    let dest = format!("esc-cp:/w/d{h}/");
    let mut reads = std::collections::BTreeMap::new();
    for _ in 0..40 {
        let out = f.berth(&["cp", &src, "-"]);
        assert!(!out.stdout.contains("HOST SECRET"), "cp read a host file");
        let what = ["decoy", "inside"]
            .into_iter()
            .find(|w| out.stdout.contains(w));
        *reads.entry(what.unwrap_or("error")).or_insert(0) += 1;
        let _ = f.berth(&["cp", &planted, &dest]);
        assert!(!host_dir.join("planted").exists(), "cp wrote a host file");
    }
    let _ = f.berth(&["rm", "-f", "esc-cp"]);
    eprintln!("cp reads: {reads:?}");
    assert!(
        reads.contains_key("decoy"),
        "no copy went through: {reads:?}"
    );
}

/// CVE-2019-14271: `cp` must load nothing from the container. The image's
/// nsswitch.conf names an NSS module whose constructor leaves a marker in
/// whatever root it runs in; cp in and out of a running and a stopped
/// container must never run it.
#[test]
fn cp_loads_nothing_from_the_container() {
    let lib = escape::nss_module();
    let f = escape::fixture(move |root| {
        must(std::fs::write(
            root.join("etc/nsswitch.conf"),
            "passwd: evil\ngroup: evil\nhosts: evil\n",
        ));
        for dir in [
            "lib",
            "lib64",
            "usr/lib",
            "lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu",
        ] {
            must(std::fs::create_dir_all(root.join(dir)));
            must(std::fs::copy(&lib, root.join(dir).join("libnss_evil.so.2")));
        }
    });
    let file = f.work.path().join("payload");
    must(std::fs::write(&file, "payload\n"));
    let file = file.display().to_string();
    let run = f.berth(&["run", "-d", "--name", "esc-nss", "bb", "sleep", "600"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let upper = f
        .root
        .join("containers")
        .join(run.stdout.trim())
        .join("upper");
    for round in ["running", "stopped"] {
        let into = f.berth(&["cp", &file, "esc-nss:/tmp/"]);
        assert_eq!(into.code, 0, "{round}: {}", into.stderr);
        let out = f.berth(&["cp", "esc-nss:/etc/passwd", "-"]);
        assert_eq!(out.code, 0, "{round}: {}", out.stderr);
        assert!(
            !upper.join("nss-loaded").exists(),
            "{round}: cp loaded the container's NSS module"
        );
        let stop = f.berth(&["stop", "-t", "0", "esc-nss"]);
        assert_eq!(stop.code, 0, "{}", stop.stderr);
    }
    assert!(
        upper.join("tmp/payload").exists(),
        "the copies did not happen"
    );
}

/// An image whose /dev/null is a symlink to a host path, /dev/console a
/// regular file and /dev/zero a device node of /dev/mem: the container gets
/// docker's real devices, and the host path is untouched.
#[test]
fn hostile_dev_entries_in_the_image_are_replaced() {
    let outside = must(tempfile::tempdir());
    let target = outside.path().join("victim");
    let target_text = target.to_string_lossy().into_owned();
    let f = escape::fixture(move |root| {
        let dev = root.join("dev");
        must(std::os::unix::fs::symlink(&target_text, dev.join("null")));
        must(std::os::unix::fs::symlink(
            &target_text,
            dev.join("console"),
        ));
        must(std::fs::write(dev.join("tty"), "not a tty\n"));
        let mem = nix::sys::stat::makedev(1, 1);
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
        must(nix::sys::stat::mknod(
            &dev.join("zero"),
            nix::sys::stat::SFlag::S_IFCHR,
            mode,
            mem,
        ));
    });
    let run = f.sh(
        &[],
        "esc dev /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/console; \
         echo pwned > /dev/null; echo pwned > /dev/console 2>/dev/null; true",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "/dev/null c 1:3\n/dev/zero c 1:5\n/dev/full c 1:7\n/dev/random c 1:8\n\
         /dev/urandom c 1:9\n/dev/tty c 5:0\n/dev/console - 0:0\n"
    );
    assert!(!target.exists(), "the container wrote a host file");
}

/// CVE-2022-24769: berth itself runs with inheritable and ambient
/// capabilities here; no container process, root or not, run or exec, may
/// get any.
#[test]
fn inheritable_and_ambient_capabilities_are_empty() {
    let f = Fixture::new();
    let status = "grep -E '^Cap(Inh|Amb):' /proc/self/status";
    let empty = "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n";
    for user in ["root", "web"] {
        let run = berth_with_caps(&f, &["run", "--rm", "-u", user, "bb", "sh", "-c", status]);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, empty),
            "run -u {user}: {}",
            run.stderr
        );
    }
    let run = berth_with_caps(
        &f,
        &["run", "-d", "--name", "esc-caps", "bb", "sleep", "600"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for user in ["root", "web"] {
        let exec = berth_with_caps(&f, &["exec", "-u", user, "esc-caps", "sh", "-c", status]);
        assert_eq!(
            (exec.code, exec.stdout.as_str()),
            (0, empty),
            "exec -u {user}: {}",
            exec.stderr
        );
    }
}

/// berth with CAP_NET_RAW and CAP_CHOWN inheritable and ambient, and
/// CAP_SYS_ADMIN inheritable, as a careless host might start it.
fn berth_with_caps(f: &Fixture, args: &[&str]) -> Run {
    use caps::{CapSet, Capability};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("--root")
        .arg(&f.root)
        .args(args)
        .current_dir(f.work.path());
    // SAFETY: the closure only makes capability syscalls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let set = |c: CapSet, caps: &[Capability]| {
                caps::set(None, c, &caps.iter().copied().collect())
                    .map_err(|e| std::io::Error::other(e.to_string()))
            };
            let both = [Capability::CAP_NET_RAW, Capability::CAP_CHOWN];
            set(
                CapSet::Inheritable,
                &[both[0], both[1], Capability::CAP_SYS_ADMIN],
            )?;
            set(CapSet::Ambient, &both)
        });
    }
    match cmd.output() {
        Ok(out) => out.into(),
        Err(e) => panic!("cannot run berth: {e}"),
    }
}

/// docker's masked paths are empty and its read-only paths are read-only
/// mounts, as the container's own mountinfo shows.
#[test]
fn proc_and_sys_are_masked_and_read_only() {
    use berth::runtime::security::paths::{MASKED_PATHS, READONLY_PATHS};
    let f = Fixture::new();
    let mut script = String::from("cat /proc/self/mountinfo; echo ---; ");
    for p in MASKED_PATHS {
        script.push_str(&format!(
            "[ -f {p} ] && echo \"{p} $(cat {p} | wc -c)\"; [ -d {p} ] && echo \"{p} $(ls -A {p} | wc -l)\"; "
        ));
    }
    script.push_str("echo x > /proc/sysrq-trigger 2>/dev/null && echo WRITABLE sysrq; ");
    script.push_str("echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo WRITABLE sys; true");
    let run = f.sh(&[], &script);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (mountinfo, checks) = run.stdout.split_once("---\n").unwrap_or_default();
    assert!(!checks.contains("WRITABLE"), "{checks}");
    for line in checks.lines() {
        assert!(line.ends_with(" 0"), "not masked: {line}");
    }
    let mounts: Vec<(&str, &str)> = mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            Some((*fields.get(4)?, *fields.get(5)?))
        })
        .collect();
    let mount_opts = |p: &str| mounts.iter().find(|(point, _)| *point == p).map(|m| m.1);
    for p in MASKED_PATHS {
        if checks.contains(&format!("{p} ")) {
            assert!(mount_opts(p).is_some(), "{p} is not masked by a mount");
        }
    }
    for p in READONLY_PATHS.iter().filter(|p| Path::new(p).exists()) {
        let opts = mount_opts(p).unwrap_or("");
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "{p} is not a read-only mount"
        );
    }
}

/// Seccomp blocks keyctl, bpf, mount, unshare(CLONE_NEWUSER), kexec_load and
/// module loading (ptrace is allowed inside, as in docker since kernel 4.8;
/// see `run_init_exe_is_out_of_reach` for ptrace of berth's processes). Each probe uses arguments the kernel would
/// answer with something other than EPERM, as the unconfined run proves, so
/// the EPERM of the default run comes from the filter (or, for kexec and
/// modules, from the dropped capability as well: with CAP_SYS_BOOT added,
/// kexec_load stays blocked by the filter alone).
#[test]
fn seccomp_blocks_dangerous_syscalls_from_run_and_exec() {
    let f = escape::fixture(|_| {});
    let names = [
        "keyctl",
        "bpf",
        "mount",
        "unshare_user",
        "kexec_load",
        "init_module",
        "finit_module",
    ];
    let all_eperm: String = names.iter().map(|n| format!("{n}=EPERM\n")).collect();
    let run = f.berth(&["run", "--rm", "bb", "esc", "syscalls"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, all_eperm.as_str()),
        "{}",
        run.stderr
    );
    let run = f.berth(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_BOOT",
        "bb",
        "esc",
        "syscalls",
    ]);
    assert!(run.stdout.contains("kexec_load=EPERM\n"), "{}", run.stdout);
    let run = f.berth(&["run", "-d", "--name", "esc-sys", "bb", "sleep", "600"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exec = f.berth(&["exec", "esc-sys", "esc", "syscalls"]);
    assert_eq!(exec.stdout, all_eperm, "{}", exec.stderr);
    let free = f.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "--cap-add",
        "ALL",
        "bb",
        "esc",
        "syscalls",
    ]);
    assert_eq!(free.code, 0, "{}", free.stderr);
    assert!(
        !free.stdout.contains("EPERM"),
        "a probe does not reach the kernel: {}",
        free.stdout
    );
}
