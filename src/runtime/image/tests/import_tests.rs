use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use nix::sys::stat::{major, minor};
use oci_spec::image::{ImageManifest, MediaType};

use super::fixtures::*;
use crate::runtime::image::snapshot::{self, ChainId};
use crate::runtime::image::{ContentStore, Digest, ImageError, ImageStore, import, import_with};

#[test]
fn plain_and_gzip_give_the_same_image() {
    let (_dir, store) = new_store();
    let tar = sample_rootfs();
    let changes = strings(&["CMD [\"sh\"]", "ENV A=1"]);
    let plain = import_with(&store, &tar[..], &options(Some("sample:plain"), &changes)).unwrap();
    let gz = import_with(
        &store,
        &gzip(&tar)[..],
        &options(Some("sample:gz"), &changes),
    )
    .unwrap();
    assert_eq!(plain, gz);
    // Layer, config, manifest; one snapshot; nothing half-written.
    assert_eq!(ContentStore::new(&store).list().unwrap().len(), 3);
    assert_eq!(snapshot::list(&store).unwrap().len(), 1);
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
    // The layer blob is the uncompressed tar itself.
    let image = ImageStore::new(&store).resolve("sample:gz").unwrap();
    let diff_id = Digest::of_bytes(&tar);
    assert_eq!(image.chain, vec![ChainId::next(None, &diff_id)]);
    assert_eq!(
        fs::read(ContentStore::new(&store).path(&diff_id)).unwrap(),
        tar
    );
}

#[test]
fn snapshot_has_every_entry_kind_with_metadata() {
    let (_dir, store) = new_store();
    let id = import(&store, &sample_rootfs()[..], None, &[], None).unwrap();
    let image = ImageStore::new(&store).get(&id).unwrap();
    let root = &image.layer_dirs[0];
    let meta = |p: &str| fs::symlink_metadata(root.join(p)).unwrap();

    assert_eq!(meta("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(meta("bin/sgid").mode() & 0o7777, 0o2711);
    assert_eq!(meta("bin/su").mtime(), MTIME as i64);
    let notes = meta("home/user/notes");
    assert_eq!((notes.uid(), notes.gid()), (1000, 1001));
    assert_eq!(notes.mode() & 0o777, 0o640);
    assert_eq!(
        fs::read(root.join("home/user/notes")).unwrap(),
        b"private notes"
    );
    // Implicit parents get 0755.
    assert_eq!(meta("home/user").mode() & 0o777, 0o755);
    assert!(meta("bin/sh").file_type().is_symlink());
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap().to_str(),
        Some("/bin/su")
    );
    assert_eq!(meta("bin/su-link").ino(), meta("bin/su").ino());
    let null = meta("dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!((major(null.rdev()), minor(null.rdev())), (1, 3));
    assert_eq!(null.mode() & 0o777, 0o666);
    assert!(meta("run/fifo").file_type().is_fifo());
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    // Directory mtimes survive the creation of their children.
    assert_eq!(meta("bin").mtime(), MTIME as i64);
    assert_eq!(meta("").mode() & 0o777, 0o755);
    // Unpacked size counts regular-file content only (hardlinks once).
    let expected: usize = [&b"#!/bin/sh\necho su\n"[..], b"sgid", b"private notes"]
        .iter()
        .map(|d| d.len())
        .sum();
    assert_eq!(image.size, expected as u64);
}

#[test]
fn importing_twice_reuses_the_snapshot() {
    let (_dir, store) = new_store();
    let tar = sample_rootfs();
    let first = import(&store, &tar[..], Some("a"), &[], None).unwrap();
    let images = ImageStore::new(&store);
    let dir = images.get(&first).unwrap().layer_dirs[0].clone();
    let inode = fs::metadata(&dir).unwrap().ino();
    // Different creation time and tag: a different image on the same layer.
    let second = import(
        &store,
        &tar[..],
        Some("b"),
        &strings(&["USER nobody"]),
        None,
    )
    .unwrap();
    assert_ne!(first, second);
    let again = images.get(&second).unwrap();
    assert_eq!(again.layer_dirs[0], dir);
    assert_eq!(fs::metadata(&dir).unwrap().ino(), inode);
    assert_eq!(snapshot::list(&store).unwrap().len(), 1);
    assert!(leftovers(&store).is_empty());
}

#[test]
fn config_and_manifest_follow_the_specs() {
    let (_dir, store) = new_store();
    let changes = strings(&[
        "CMD echo hi",
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
        "ENV PATH=/bin K=V",
        "WORKDIR /srv",
        "USER 1000:1000",
        "EXPOSE 80/tcp 53/udp",
        "LABEL org.example=yes",
        "VOLUME [\"/data\"]",
        "STOPSIGNAL SIGINT",
    ]);
    let mut opts = options(Some("localhost:5000/app:1"), &changes);
    opts.message = Some("first import");
    opts.source = Some("rootfs.tar");
    let id = import_with(&store, &sample_rootfs()[..], &opts).unwrap();
    let image = ImageStore::new(&store)
        .resolve("localhost:5000/app:1")
        .unwrap();
    assert_eq!(image.id, id);
    assert_eq!(image.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    let exec = image.config.config().clone().unwrap();
    assert_eq!(
        exec.cmd().clone().unwrap(),
        strings(&["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(
        exec.entrypoint().clone().unwrap(),
        strings(&["/bin/sh", "-c"])
    );
    assert_eq!(exec.env().clone().unwrap(), strings(&["PATH=/bin", "K=V"]));
    assert_eq!(exec.working_dir().as_deref(), Some("/srv"));
    assert_eq!(exec.user().as_deref(), Some("1000:1000"));
    let mut ports = exec.exposed_ports().clone().unwrap();
    ports.sort();
    assert_eq!(ports, strings(&["53/udp", "80/tcp"]));
    assert_eq!(exec.labels().as_ref().unwrap()["org.example"], "yes");
    assert_eq!(exec.volumes().clone().unwrap(), strings(&["/data"]));
    assert_eq!(exec.stop_signal().as_deref(), Some("SIGINT"));
    let history = image.config.history().clone().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].created_by().as_deref(),
        Some("Imported from rootfs.tar")
    );
    assert_eq!(history[0].comment().as_deref(), Some("first import"));

    // The manifest references the config (the image ID) and the layer.
    let content = ContentStore::new(&store);
    let manifest: ImageManifest =
        serde_json::from_slice(&content.read_verified(&image.manifest).unwrap()).unwrap();
    assert_eq!(manifest.schema_version(), 2);
    assert_eq!(manifest.media_type(), &Some(MediaType::ImageManifest));
    assert_eq!(manifest.config().digest().to_string(), id.to_string());
    assert_eq!(manifest.config().media_type(), &MediaType::ImageConfig);
    let layer = &manifest.layers()[0];
    assert_eq!(layer.media_type(), &MediaType::ImageLayer);
    assert_eq!(
        layer.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        layer.digest().to_string(),
        image.config.rootfs().diff_ids()[0]
    );
    assert_eq!(layer.size(), sample_rootfs().len() as u64);
}

#[test]
fn bad_change_fails_before_reading_the_input() {
    let (_dir, store) = new_store();
    let err = import(
        &store,
        &sample_rootfs()[..],
        None,
        &strings(&["RUN rm -rf /"]),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::Change(_)), "{err}");
    assert!(err.to_string().contains("RUN is not supported"), "{err}");
    assert!(ContentStore::new(&store).list().unwrap().is_empty());
    let err = import(&store, &sample_rootfs()[..], Some("Bad Ref"), &[], None).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid reference format"),
        "{err}"
    );
    let digest_ref = format!("x@{}", Digest::of_bytes(b"x"));
    let err = import(&store, &sample_rootfs()[..], Some(&digest_ref), &[], None).unwrap_err();
    assert!(matches!(err, ImageError::DigestTag { .. }), "{err}");
}

#[test]
fn other_compressions_and_garbage_are_refused_cleanly() {
    let (_dir, store) = new_store();
    let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0];
    let err = import(&store, &xz[..], None, &[], None).unwrap_err();
    assert!(err.to_string().contains("xz"), "{err}");
    let bad_zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    assert!(import(&store, &bad_zstd[..], None, &[], None).is_err());
    let mut garbage = vec![0xAAu8; 4096];
    garbage[0] = b'x';
    let err = import(&store, &garbage[..], None, &[], None).unwrap_err();
    assert!(err.to_string().contains("tar"), "{err}");
    let truncated = &sample_rootfs()[..1000];
    assert!(import(&store, truncated, None, &[], None).is_err());
    let bad_gzip = [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6];
    assert!(import(&store, &bad_gzip[..], None, &[], None).is_err());
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
    assert!(ContentStore::new(&store).list().unwrap().is_empty());
    assert!(snapshot::list(&store).unwrap().is_empty());
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_format() {
    let (_dir, store) = new_store();
    let tar = Layer::new()
        .dir("a/", 0o755)
        .file("a/.wh.gone", 0o644, b"")
        .dir("b/", 0o755)
        .file("b/.wh..wh..opq", 0o644, b"")
        .file("b/keep", 0o644, b"k")
        .file(".wh..wh.plnk", 0o644, b"")
        .file("c/.wh.implicit-parent", 0o644, b"")
        .finish();
    let diff_id = Digest::of_bytes(&tar);
    let chain = snapshot::unpack(&store, None, &diff_id, &tar[..]).unwrap();
    let root = snapshot::path(&store, &chain);
    let gone = fs::symlink_metadata(root.join("a/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(
        fs::symlink_metadata(root.join("c/implicit-parent"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(
        get_xattr(&root.join("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(get_xattr(&root.join("a"), "trusted.overlay.opaque"), None);
    assert!(root.join("b/keep").is_file());
    for name in ["a/.wh.gone", "b/.wh..wh..opq", ".wh..wh.plnk"] {
        assert!(
            fs::symlink_metadata(root.join(name)).is_err(),
            "{name} leaked"
        );
    }
}

#[test]
fn xattrs_are_kept_but_overlay_ones_are_dropped() {
    let (_dir, store) = new_store();
    let tar = Layer::new()
        .file_with_xattrs(
            "f",
            &[
                ("user.note", b"hello"),
                ("trusted.overlay.redirect", b"/etc"),
            ],
            b"data",
        )
        .finish();
    let chain = snapshot::unpack(&store, None, &Digest::of_bytes(&tar), &tar[..]).unwrap();
    let f = snapshot::path(&store, &chain).join("f");
    assert_eq!(get_xattr(&f, "user.note").as_deref(), Some(&b"hello"[..]));
    assert_eq!(get_xattr(&f, "trusted.overlay.redirect"), None);
    assert_eq!(fs::read(&f).unwrap(), b"data");
}

#[test]
fn unpack_verifies_the_diff_id_and_stacks_chain_ids() {
    let (_dir, store) = new_store();
    let base = sample_rootfs();
    let wrong = Digest::of_bytes(b"not this");
    let err = snapshot::unpack(&store, None, &wrong, &base[..]).unwrap_err();
    assert!(
        err.to_string().contains("does not match its diff id"),
        "{err}"
    );
    assert!(snapshot::list(&store).unwrap().is_empty());
    assert!(leftovers(&store).is_empty());

    let base_id = Digest::of_bytes(&base);
    let c1 = snapshot::unpack(&store, None, &base_id, &base[..]).unwrap();
    let top = Layer::new().file("etc/motd", 0o644, b"hi").finish();
    let top_id = Digest::of_bytes(&top);
    let c2 = snapshot::unpack(&store, Some(&c1), &top_id, &top[..]).unwrap();
    assert_eq!(c2, ChainId::chain(&[base_id.clone(), top_id])[1]);
    // The upper snapshot holds only its own layer's files.
    let upper = snapshot::path(&store, &c2);
    assert!(upper.join("etc/motd").is_file());
    assert!(!upper.join("bin").exists());
    // Re-unpacking an existing snapshot still verifies the stream.
    assert!(snapshot::unpack(&store, None, &base_id, &top[..]).is_err());
    assert_eq!(
        snapshot::unpack(&store, None, &base_id, &base[..]).unwrap(),
        c1
    );
}

#[test]
fn later_entries_replace_earlier_ones_without_following_links() {
    let (_dir, store) = new_store();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("target");
    fs::write(&target, b"original").unwrap();
    let tar = Layer::new()
        .symlink("x", target.to_str().unwrap())
        .file("x", 0o644, b"replaced")
        .file("d", 0o644, b"file first")
        .dir("d/", 0o700)
        .file("d/inner", 0o644, b"in")
        .dir("e/", 0o755)
        .file("e/child", 0o644, b"c")
        .file("e", 0o600, b"now a file")
        .finish();
    let chain = snapshot::unpack(&store, None, &Digest::of_bytes(&tar), &tar[..]).unwrap();
    let root = snapshot::path(&store, &chain);
    assert_eq!(fs::read(&target).unwrap(), b"original");
    assert_eq!(fs::read(root.join("x")).unwrap(), b"replaced");
    assert_eq!(
        fs::symlink_metadata(root.join("d")).unwrap().mode() & 0o777,
        0o700
    );
    assert_eq!(fs::read(root.join("d/inner")).unwrap(), b"in");
    assert_eq!(fs::read(root.join("e")).unwrap(), b"now a file");
}

#[test]
fn record_padding_after_the_end_of_archive_is_part_of_the_layer() {
    let (_dir, store) = new_store();
    // GNU tar pads archives to 10 KiB records; those zeros are hashed too.
    let mut tar = sample_rootfs();
    tar.resize(tar.len().div_ceil(10240) * 10240 + 10240, 0);
    let diff_id = Digest::of_bytes(&tar);
    snapshot::unpack(&store, None, &diff_id, &tar[..]).unwrap();
    let id = import(&store, &tar[..], None, &[], None).unwrap();
    let image = ImageStore::new(&store).get(&id).unwrap();
    assert_eq!(image.config.rootfs().diff_ids()[0], diff_id.as_str());
}

#[test]
fn concurrent_imports_share_the_snapshot_and_keep_both_tags() {
    let (_dir, store) = new_store();
    let tar = sample_rootfs();
    std::thread::scope(|s| {
        for tag in ["c:1", "c:2", "c:3"] {
            let (store, tar) = (&store, &tar);
            s.spawn(move || import(store, &tar[..], Some(tag), &[], None).unwrap());
        }
    });
    assert_eq!(snapshot::list(&store).unwrap().len(), 1);
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
    let images = ImageStore::new(&store);
    for tag in ["c:1", "c:2", "c:3"] {
        images.resolve(tag).unwrap();
    }
}
