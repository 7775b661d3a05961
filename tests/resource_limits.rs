//! A container cannot exhaust the host through berth (root): a fork bomb is
//! held by the pids limit and removed cleanly, and a `cp` stream larger than
//! the space behind its destination fails with a clear error. (Log writing is
//! bounded by rotation: runtime_lifecycle.rs `log_rotation_bounds_the_log`.)

mod support;

use std::time::{Duration, Instant};

use support::cli::berth_with_input;
use support::residue::cgroups_of;
use support::runtime::Fixture;

fn ok(fx: &Fixture, args: &[&str]) -> String {
    let run = fx.berth(args);
    assert_eq!(run.code, 0, "berth {args:?}: {}{}", run.stdout, run.stderr);
    run.stdout.trim().to_string()
}

/// The number of tasks in the container's pids cgroup (v1 or v2).
fn pids_current(id: &str) -> Option<u64> {
    cgroups_of(id).iter().find_map(|g| {
        let text = std::fs::read_to_string(g.join("pids.current")).ok()?;
        text.trim().parse().ok()
    })
}

#[test]
fn a_fork_bomb_is_held_by_the_pids_limit_and_removed() {
    let fx = Fixture::new();
    let id = ok(
        &fx,
        &[
            "run",
            "-d",
            "--pids-limit",
            "64",
            "--cpus",
            "0.2",
            "bb",
            "sh",
            "-c",
            "bomb() { bomb | bomb & }; bomb; sleep 600",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut peak = 0;
    while Instant::now() < deadline && peak < 48 {
        peak = peak.max(pids_current(&id).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(peak >= 48, "the bomb should reach the limit: peak {peak}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(pids_current(&id).unwrap_or(0) <= 64);
    // The host and berth still answer, and the container goes entirely.
    let started = Instant::now();
    ok(&fx, &["ps", "-q"]);
    ok(&fx, &["rm", "-f", &id]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "rm took {:?}",
        started.elapsed()
    );
    assert!(cgroups_of(&id).is_empty(), "{:?}", cgroups_of(&id));
}

#[test]
fn a_cp_stream_larger_than_its_destination_fails_clearly() {
    let fx = Fixture::new();
    let id = ok(
        &fx,
        &[
            "run",
            "-d",
            "--tmpfs",
            "/small:size=1m",
            "bb",
            "sleep",
            "600",
        ],
    );
    // A 16 MiB file in a tar stream on cp's standard input.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(16 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    let body = vec![b'x'; 16 << 20];
    if let Err(e) = tar.append_data(&mut header, "big", body.as_slice()) {
        panic!("building the tar: {e}");
    }
    let stream = tar.into_inner().unwrap_or_default();
    let dest = format!("{id}:/small/");
    let out = berth_with_input(&fx.root, &["cp", "-", &dest], &stream);
    let stderr = &out.stderr;
    assert_eq!(out.code, 1, "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("/small"),
        "the message names the destination: {stderr}"
    );
    // The container is unharmed, and small copies still work.
    ok(&fx, &["exec", &id, "true"]);
    ok(&fx, &["exec", &id, "rm", "-f", "/small/big"]);
    let small = fx.work.path().join("note");
    if let Err(e) = std::fs::write(&small, "hello") {
        panic!("writing {}: {e}", small.display());
    }
    ok(&fx, &["cp", &small.display().to_string(), &dest]);
    assert_eq!(ok(&fx, &["exec", &id, "cat", "/small/note"]), "hello");
}
