//! `system df`, `system prune` and `container prune` over real containers (root).

mod support;

use support::cli::berth_with_input;
use support::runtime::Fixture;

fn df_row(f: &Fixture, kind: &str) -> Vec<String> {
    let r = f.berth(&["system", "df"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} row in {}", r.stdout));
    line.split("   ")
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn df_counts_and_prune_reclaims() {
    let f = Fixture::new();
    let r = f.berth(&[
        "run",
        "--name",
        "writer",
        "bb",
        "sh",
        "-c",
        "dd if=/dev/zero of=/blob bs=1k count=500 2>/dev/null",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = f.berth(&["run", "-d", "--name", "sleeper", "bb", "sleep", "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let images = df_row(&f, "Images");
    assert_eq!(&images[1..3], ["1", "1"], "{images:?}");
    let containers = df_row(&f, "Containers");
    assert_eq!(&containers[1..3], ["2", "1"], "{containers:?}");
    assert!(
        containers[3].starts_with("512") && containers[3].ends_with("kB"),
        "{containers:?}"
    );
    assert!(
        containers[4].ends_with("(100%)"),
        "only the stopped one is reclaimable: {containers:?}"
    );

    // Declined: nothing goes.
    let r = berth_with_input(&f.root, &["container", "prune"], "n\n");
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with("WARNING! This will remove all stopped containers."),
        "{}",
        r.stdout
    );
    assert_eq!(f.containers().len(), 2);

    let r = f.berth(&["system", "prune", "-f"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("Deleted Containers:\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Total reclaimed space: 512"),
        "{}",
        r.stdout
    );
    assert_eq!(f.containers().len(), 1, "the running container stays");
    let r = f.berth(&["ps", "-a", "--format", "json"]);
    assert!(
        r.stdout.contains("sleeper") && !r.stdout.contains("writer"),
        "{}",
        r.stdout
    );

    // -a: the image is still used by the running container, so it stays.
    let r = f.berth(&["system", "prune", "-a", "-f"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Total reclaimed space: 0B\n");
    assert_eq!(f.berth(&["rm", "-f", "sleeper"]).code, 0);
    let r = f.berth(&["system", "prune", "-a", "-f"]);
    assert!(
        r.stdout
            .contains("Deleted Images:\nuntagged: bb:latest\ndeleted: sha256:"),
        "{}",
        r.stdout
    );
    let images = df_row(&f, "Images");
    assert_eq!(&images[1..4], ["0", "0", "0B"], "{images:?}");
}
