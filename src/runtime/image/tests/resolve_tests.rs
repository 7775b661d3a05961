use super::fixtures::*;
use crate::runtime::image::refs::{ImageRecord, Refs};
use crate::runtime::image::{Digest, ImageError, ImageStore, import_with};
use crate::runtime::store::Store;

#[test]
fn resolve_by_reference_id_and_prefix() {
    let (_dir, store) = new_store();
    let id = import_with(&store, &sample_rootfs()[..], &options(Some("busybox"), &[])).unwrap();
    let images = ImageStore::new(&store);
    let manifest = images.get(&id).unwrap().manifest;
    let by_digest = format!("busybox@{manifest}");
    let short = id.short().to_string();
    let sha_prefix = format!("sha256:{}", &id.hex()[..8]);
    for name in [
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/library/busybox:latest",
        id.as_str(),
        id.hex(),
        &short,
        &id.hex()[..5],
        &sha_prefix,
        &by_digest,
    ] {
        let image = images
            .resolve(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(image.id, id, "{name}");
        assert_eq!(image.tags, ["docker.io/library/busybox:latest"]);
        assert_eq!(image.layer_dirs.len(), 1);
        image.check_layers().unwrap();
    }
    let image = images.resolve("busybox").unwrap();
    assert_eq!(
        image.reference.as_deref(),
        Some("docker.io/library/busybox:latest")
    );
}

#[test]
fn unknown_images_read_like_docker() {
    let (_dir, store) = new_store();
    let images = ImageStore::new(&store);
    let err = images.resolve("nosuch").unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "Unable to find image 'nosuch:latest' locally"
    );
    let err = images.resolve("localhost:5000/a/b:1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unable to find image 'localhost:5000/a/b:1' locally"
    );
    let err = images.resolve("3f57d9401f8d").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unable to find image '3f57d9401f8d:latest' locally"
    );
    let full = Digest::of_bytes(b"x");
    assert!(images.resolve(full.as_str()).unwrap_err().is_not_found());
    assert!(images.resolve(full.hex()).unwrap_err().is_not_found());
    let err = images.resolve("Bad Name").unwrap_err();
    assert!(matches!(err, ImageError::Reference(_)), "{err}");
}

#[test]
fn ambiguous_prefix_is_an_error() {
    let (_dir, store) = new_store();
    let a = Digest::from_hex(&format!("abcd0{}", "0".repeat(59))).unwrap();
    let b = Digest::from_hex(&format!("abcd1{}", "1".repeat(59))).unwrap();
    Refs::new(&store)
        .update(|index| {
            for id in [&a, &b] {
                let record = ImageRecord {
                    manifest: Digest::of_bytes(id.as_str().as_bytes()),
                    size: 0,
                };
                index.images.insert(id.clone(), record);
            }
            Ok(())
        })
        .unwrap();
    let err = ImageStore::new(&store).resolve("abcd").unwrap_err();
    assert!(matches!(err, ImageError::Ambiguous { .. }), "{err}");
    assert!(err.to_string().contains("abcd00000000"), "{err}");
    // Too short to be taken as an id: treated as a name.
    assert!(
        ImageStore::new(&store)
            .resolve("abc")
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn list_has_a_row_per_tag_and_untagged_images() {
    let (_dir, store) = new_store();
    let tagged = import_with(&store, &sample_rootfs()[..], &options(Some("x:1"), &[])).unwrap();
    let images = ImageStore::new(&store);
    Refs::new(&store)
        .tag(
            &crate::runtime::image::Reference::parse("x:2").unwrap(),
            &tagged,
        )
        .unwrap();
    let changes = strings(&["USER nobody"]);
    let untagged = import_with(&store, &sample_rootfs()[..], &options(None, &changes)).unwrap();
    let list = images.list().unwrap();
    let rows: Vec<(String, Option<String>)> = list
        .iter()
        .map(|i| (i.short_id().to_string(), i.reference.clone()))
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.contains(&(tagged.short().into(), Some("docker.io/library/x:1".into()))));
    assert!(rows.contains(&(tagged.short().into(), Some("docker.io/library/x:2".into()))));
    assert!(rows.contains(&(untagged.short().into(), None)));
}

#[test]
fn readonly_store_on_a_missing_root_sees_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_readonly(dir.path().join("never-created"));
    let images = ImageStore::new(&store);
    assert!(images.list().unwrap().is_empty());
    assert!(images.resolve("busybox").unwrap_err().is_not_found());
    assert!(
        crate::runtime::image::snapshot::list(&store)
            .unwrap()
            .is_empty()
    );
    assert!(images.content().list().unwrap().is_empty());
    assert!(!dir.path().join("never-created").exists());
}

#[test]
fn missing_snapshot_is_reported() {
    let (_dir, store) = new_store();
    let id = import_with(&store, &sample_rootfs()[..], &options(None, &[])).unwrap();
    let image = ImageStore::new(&store).get(&id).unwrap();
    std::fs::remove_dir_all(&image.layer_dirs[0]).unwrap();
    let err = image.check_layers().unwrap_err();
    assert!(matches!(err, ImageError::MissingLayer { .. }), "{err}");
}
