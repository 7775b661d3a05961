//! Garbage collection over synthetic stores.

use std::fs;
use std::sync::mpsc;
use std::time::Duration;

use super::fixtures::*;
use super::scenes::*;
use crate::runtime::image::content::ContentStore;
use crate::runtime::image::gc::collect;
use crate::runtime::image::refs::Refs;
use crate::runtime::image::snapshot::ChainId;
use crate::runtime::image::{Digest, ImageStore};

/// A snapshot directory no image or container names, with `bytes` of data.
fn stray_snapshot(store: &crate::runtime::store::Store, seed: &str, bytes: usize) -> ChainId {
    let chain = ChainId::next(None, &Digest::of_bytes(seed.as_bytes()));
    let dir = store.snapshots_dir().join(chain.hex());
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/data"), vec![7u8; bytes]).unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("link")).unwrap();
    chain
}

#[test]
fn only_unreferenced_blobs_and_snapshots_are_collected() {
    let (_dir, store) = new_store();
    let a = imported(&store, Some("a"), b"aaa", 1_700_000_000, &[]);
    let b = imported(&store, None, b"bbb", 1_700_000_100, &[]);
    let (live_blobs, live_snapshots) = contents(&store);
    let (garbage, _) = ContentStore::new(&store).put_bytes(b"garbage").unwrap();
    let stray = stray_snapshot(&store, "stray", 10);

    let reclaimed = collect(&store).unwrap();
    assert_eq!(reclaimed.blobs, [garbage]);
    assert_eq!(reclaimed.snapshots, [stray]);
    assert_eq!(reclaimed.bytes, 7 + 10);
    assert_eq!(reclaimed.temps, 0);
    assert_eq!(contents(&store), (live_blobs, live_snapshots));
    for image in [&a, &b] {
        ImageStore::new(&store)
            .get(&image.id)
            .unwrap()
            .check_layers()
            .unwrap();
    }
    // The symlink inside the stray snapshot was removed, not followed.
    assert!(fs::metadata("/etc/passwd").is_ok());
    assert_eq!(collect(&store).unwrap(), Default::default());
}

#[test]
fn a_removed_image_frees_what_only_it_used() {
    let (_dir, store) = new_store();
    let base = layer("base", b"shared base");
    let one = layered(
        &store,
        &[base.clone(), layer("one", b"first top")],
        vec![step("base", false), step("one", false)],
        Some("one"),
    );
    let two = layered(
        &store,
        &[base, layer("two", b"second top")],
        vec![step("base", false), step("two", false)],
        Some("two"),
    );
    assert_eq!(one.chain[0], two.chain[0]);
    Refs::new(&store)
        .update(|index| {
            index.remove_tag("docker.io/library/one:latest");
            index.images.remove(&one.id);
            Ok(())
        })
        .unwrap();
    let reclaimed = collect(&store).unwrap();
    assert_eq!(reclaimed.snapshots, [one.chain[1].clone()]);
    let manifest = &one.manifest;
    let top_blob = Digest::of_bytes(&layer("one", b"first top"));
    let mut expected = vec![one.id.clone(), manifest.clone(), top_blob];
    expected.sort();
    let mut got = reclaimed.blobs.clone();
    got.sort();
    assert_eq!(got, expected);
    let two = ImageStore::new(&store).resolve("two").unwrap();
    two.check_layers().unwrap();
}

#[test]
fn snapshots_a_container_uses_outlive_its_image() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("a"), b"aaa", 1_700_000_000, &[]);
    let id = container(&store, &image, false);
    Refs::new(&store)
        .update(|index| {
            index.remove_tag("docker.io/library/a:latest");
            index.images.remove(&image.id);
            Ok(())
        })
        .unwrap();
    let reclaimed = collect(&store).unwrap();
    assert_eq!(reclaimed.blobs.len(), 3, "config, manifest and layer blob");
    assert!(reclaimed.snapshots.is_empty());
    assert!(image.layer_dirs[0].is_dir());
    fs::remove_dir_all(store.containers_dir().join(id)).unwrap();
    let reclaimed = collect(&store).unwrap();
    assert_eq!(reclaimed.snapshots, image.chain);
    assert!(!image.layer_dirs[0].exists());
}

#[test]
fn abandoned_temp_files_go_and_live_ones_stay() {
    let (_dir, store) = new_store();
    let me = std::process::id();
    // pid_max is at most 2^22: this writer cannot be alive.
    let dead = 1 << 23;
    let tmp = store.tmp_dir();
    let snaps = store.snapshots_dir();
    fs::write(tmp.join(format!("blob-{dead}-1-0")), b"12345").unwrap();
    fs::write(tmp.join(format!("blob-{me}-2-0")), b"live").unwrap();
    let old = tmp.join(format!("load-{me}-3-0"));
    fs::write(&old, b"old").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    fs::create_dir_all(snaps.join(format!("tmp-{dead}-4-0/a/b"))).unwrap();
    fs::write(snaps.join(format!("tmp-{dead}-4-0/a/b/f")), b"123").unwrap();
    fs::create_dir(snaps.join(format!("tmp-{me}-5-0"))).unwrap();
    fs::write(
        store.root().join(format!(".images.json.tmp-{dead}-6-0")),
        b"{}",
    )
    .unwrap();
    fs::write(store.root().join("unrelated"), b"kept").unwrap();

    let reclaimed = collect(&store).unwrap();
    assert_eq!(reclaimed.temps, 4);
    assert_eq!(reclaimed.bytes, 5 + 3 + 3 + 2);
    let mut left: Vec<String> = leftovers(&store);
    left.sort();
    assert_eq!(
        left,
        [
            format!("snapshots/tmp-{me}-5-0"),
            format!("tmp/blob-{me}-2-0")
        ]
    );
    assert!(store.root().join("unrelated").exists());
}

#[test]
fn unreadable_records_keep_what_they_might_reference() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("a"), b"aaa", 1_700_000_000, &[]);
    let (garbage, _) = ContentStore::new(&store).put_bytes(b"garbage").unwrap();
    let stray = stray_snapshot(&store, "stray", 1);
    // The manifest is gone: which layer blobs are live is unknown.
    fs::remove_file(ContentStore::new(&store).path(&image.manifest)).unwrap();
    let reclaimed = collect(&store).unwrap();
    assert!(reclaimed.blobs.is_empty());
    assert_eq!(reclaimed.snapshots, [stray]);
    assert!(ContentStore::new(&store).exists(&garbage));

    // A container record that cannot be parsed might use any snapshot.
    let stray = stray_snapshot(&store, "stray again", 1);
    let dir = store.containers_dir().join("0".repeat(64));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.json"), b"{not json").unwrap();
    assert!(collect(&store).unwrap().snapshots.is_empty());
    assert!(store.snapshots_dir().join(stray.hex()).is_dir());
}

#[test]
fn collection_waits_for_content_writers() {
    let (_dir, store) = new_store();
    ContentStore::new(&store).put_bytes(b"garbage").unwrap();
    let writer = store.lock_shared("content").unwrap();
    let (done, finished) = mpsc::channel();
    let other = store.clone();
    let handle = std::thread::spawn(move || {
        let reclaimed = collect(&other).unwrap();
        done.send(reclaimed.blobs.len()).unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        finished.try_recv().is_err(),
        "gc ran while a writer was active"
    );
    drop(writer);
    handle.join().unwrap();
    assert_eq!(finished.recv().unwrap(), 1);
}
