//! `rmi` and `image prune` rules over synthetic stores.

use super::fixtures::*;
use super::scenes::*;
use crate::runtime::image::refs::Refs;
use crate::runtime::image::remove::{Removal, RemoveError, prune, remove};
use crate::runtime::image::{Image, ImageStore, Reference};
use crate::runtime::store::Store;

fn untagged(t: &str) -> Removal {
    Removal::Untagged(t.to_string())
}

fn deleted(image: &Image) -> Vec<Removal> {
    let mut out = vec![Removal::Deleted(image.id.to_string())];
    out.extend(
        image
            .chain
            .iter()
            .rev()
            .map(|c| Removal::Deleted(c.to_string())),
    );
    out
}

fn tag(store: &Store, image: &Image, name: &str) {
    Refs::new(store)
        .tag(&Reference::parse(name).unwrap(), &image.id)
        .unwrap();
}

fn exists(store: &Store, image: &Image) -> bool {
    ImageStore::new(store).get(&image.id).is_ok()
}

#[test]
fn a_tag_of_an_image_with_other_tags_is_only_untagged() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("bb"), b"x", 1_700_000_000, &[]);
    tag(&store, &image, "bb:v2");
    tag(&store, &image, "other/name:1");
    assert_eq!(
        remove(&store, "bb", false).unwrap(),
        [untagged("bb:latest")]
    );
    assert_eq!(
        remove(&store, "docker.io/other/name:1", false).unwrap(),
        [untagged("other/name:1")]
    );
    let left = ImageStore::new(&store).get(&image.id).unwrap();
    assert_eq!(left.tags, ["docker.io/library/bb:v2"]);
    left.check_layers().unwrap();
}

#[test]
fn the_last_tag_takes_the_image_and_its_content_with_it() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("bb:v1"), b"x", 1_700_000_000, &[]);
    let mut expected = vec![untagged("bb:v1")];
    expected.extend(deleted(&image));
    assert_eq!(remove(&store, "bb:v1", false).unwrap(), expected);
    assert!(!exists(&store, &image));
    assert_eq!(contents(&store), (Vec::new(), Vec::new()));
    assert!(Refs::new(&store).load().unwrap().tagged.is_empty());
}

#[test]
fn an_id_with_several_tags_needs_force() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("bb"), b"x", 1_700_000_000, &[]);
    tag(&store, &image, "cc");
    let short = image.short_id().to_string();
    let err = remove(&store, &short, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )
    );
    assert!(err.is_user_error());
    let mut expected = vec![untagged("bb:latest"), untagged("cc:latest")];
    expected.extend(deleted(&image));
    assert_eq!(remove(&store, image.id.as_str(), true).unwrap(), expected);
    // An untagged image goes by ID without force.
    let loose = imported(&store, None, b"y", 1_700_000_000, &[]);
    assert_eq!(
        remove(&store, &loose.id.hex()[..8], false).unwrap(),
        deleted(&loose)
    );
}

#[test]
fn a_stopped_container_blocks_removal_unless_forced_and_keeps_its_layers() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("bb"), b"x", 1_700_000_000, &[]);
    let cid = container(&store, &image, false);
    let short = image.short_id().to_string();
    let err = remove(&store, "bb", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to remove repository reference \"bb\" (must force) - container {} is using its referenced image {short}",
            &cid[..12]
        )
    );
    let err = remove(&store, &short, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}",
            &cid[..12]
        )
    );
    assert!(exists(&store, &image));
    // Forced: tag and image go, the container's layer stays.
    let removed = remove(&store, "bb", true).unwrap();
    assert_eq!(
        removed,
        [
            untagged("bb:latest"),
            Removal::Deleted(image.id.to_string())
        ]
    );
    assert!(!exists(&store, &image));
    assert!(image.layer_dirs[0].is_dir());
}

#[test]
fn a_running_container_blocks_deletion_even_when_forced() {
    let (_dir, store) = new_store();
    let image = imported(&store, Some("bb"), b"x", 1_700_000_000, &[]);
    let cid = container(&store, &image, true);
    let short = image.short_id().to_string();
    let expected = format!(
        "conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}",
        &cid[..12]
    );
    for force in [false, true] {
        let err = remove(&store, &short, force).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // By tag and forced: untagged, but the image stays for the container.
    assert_eq!(remove(&store, "bb", true).unwrap(), [untagged("bb:latest")]);
    let left = ImageStore::new(&store).get(&image.id).unwrap();
    assert!(left.tags.is_empty());
}

#[test]
fn unknown_names_and_digest_references() {
    let (_dir, store) = new_store();
    let err = remove(&store, "nosuch", false).unwrap_err();
    assert_eq!(err.to_string(), "No such image: nosuch:latest");
    assert!(matches!(err, RemoveError::NoSuchImage { .. }));
    let image = imported(&store, Some("bb:1"), b"x", 1_700_000_000, &[]);
    tag(&store, &image, "bb:2");
    tag(&store, &image, "cc:1");
    let by_digest = format!("bb@{}", image.manifest);
    assert_eq!(
        remove(&store, &by_digest, false).unwrap(),
        [untagged("bb:1"), untagged("bb:2")]
    );
    let left = ImageStore::new(&store).get(&image.id).unwrap();
    assert_eq!(left.tags, ["docker.io/library/cc:1"]);
    let err = remove(&store, &by_digest, false).unwrap_err();
    assert_eq!(err.to_string(), format!("No such image: {by_digest}"));
}

#[test]
fn prune_takes_dangling_images_or_with_all_every_unused_one() {
    let (_dir, store) = new_store();
    let tagged = imported(&store, Some("kept"), b"1", 1_700_000_000, &[]);
    let dangling = imported(&store, None, b"2", 1_700_000_001, &[]);
    let used = imported(&store, None, b"3", 1_700_000_002, &[]);
    let used_tagged = imported(&store, Some("used"), b"4", 1_700_000_003, &[]);
    container(&store, &used, false);
    container(&store, &used_tagged, true);

    let pruned = prune(&store, false).unwrap();
    assert_eq!(pruned.removed, deleted(&dangling));
    assert!(pruned.reclaimed > 0);
    assert!(!exists(&store, &dangling));
    assert!(exists(&store, &tagged) && exists(&store, &used));

    let pruned = prune(&store, true).unwrap();
    let mut expected = vec![untagged("kept:latest")];
    expected.extend(deleted(&tagged));
    assert_eq!(pruned.removed, expected);
    assert!(exists(&store, &used) && exists(&store, &used_tagged));
    assert_eq!(prune(&store, true).unwrap().removed, []);
}
