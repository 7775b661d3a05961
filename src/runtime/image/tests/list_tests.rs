//! `images` listing and filters, and `history`, over synthetic stores.

use chrono::{DateTime, Utc};

use super::fixtures::*;
use super::scenes::*;
use crate::runtime::image::list::{ImageFilter, ListError, Summary, list};
use crate::runtime::image::{ImageError, ImageStore};
use crate::runtime::store::Store;

/// `name:tag` of every row (`<none>` for untagged), in listing order.
fn rows(store: &Store, filter: &ImageFilter) -> Vec<String> {
    let images = ImageStore::new(store);
    list(&images, filter)
        .unwrap()
        .iter()
        .flat_map(|s: &Summary| {
            if s.tags.is_empty() {
                return vec!["<none>".to_string()];
            }
            s.tags.iter().map(|t| t.familiar()).collect()
        })
        .collect()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// old (tagged twice), mid (untagged), new (labelled, in a registry).
fn three_images(store: &Store) {
    let old = imported(store, Some("busybox:1.36"), b"old", 1_000, &[]);
    crate::runtime::image::Refs::new(store)
        .tag(
            &crate::runtime::image::Reference::parse("busybox").unwrap(),
            &old.id,
        )
        .unwrap();
    imported(store, None, b"mid", 2_000, &[]);
    let label = strings(&["LABEL tier=web owner=me"]);
    imported(
        store,
        Some("localhost:5000/team/app:2"),
        b"new",
        3_000,
        &label,
    );
}

#[test]
fn images_are_listed_newest_first_with_their_tags_sorted() {
    let (_dir, store) = new_store();
    three_images(&store);
    assert_eq!(
        rows(&store, &ImageFilter::default()),
        [
            "localhost:5000/team/app:2",
            "<none>",
            "busybox:1.36",
            "busybox:latest"
        ]
    );
    let images = ImageStore::new(&store);
    let summaries = list(&images, &ImageFilter::default()).unwrap();
    let old = &summaries[2];
    assert_eq!(
        old.repo_digests(),
        [format!("busybox@{}", old.image.manifest)]
    );
    assert!(summaries[1].repo_digests().is_empty());
}

#[test]
fn dangling_and_reference_filters() {
    let (_dir, store) = new_store();
    three_images(&store);
    let dangling = |d| ImageFilter {
        dangling: Some(d),
        ..ImageFilter::default()
    };
    assert_eq!(rows(&store, &dangling(true)), ["<none>"]);
    assert_eq!(
        rows(&store, &dangling(false)),
        [
            "localhost:5000/team/app:2",
            "busybox:1.36",
            "busybox:latest"
        ]
    );
    let reference = |patterns: &[&str]| ImageFilter {
        references: strings(patterns),
        ..ImageFilter::default()
    };
    assert_eq!(
        rows(&store, &reference(&["busy*"])),
        ["busybox:1.36", "busybox:latest"]
    );
    // Only matching tags of an image are kept; untagged images never match.
    assert_eq!(rows(&store, &reference(&["*:latest"])), ["busybox:latest"]);
    assert_eq!(
        rows(&store, &reference(&["busybox:1.*", "localhost:5000/*/app"])),
        ["localhost:5000/team/app:2", "busybox:1.36"]
    );
    assert!(rows(&store, &reference(&["nothing*"])).is_empty());
    let images = ImageStore::new(&store);
    assert!(matches!(
        list(&images, &reference(&["[bad"])),
        Err(ListError::BadPattern { .. })
    ));
}

#[test]
fn label_and_time_filters() {
    let (_dir, store) = new_store();
    three_images(&store);
    let label = |k: &str, v: Option<&str>| ImageFilter {
        labels: vec![(k.to_string(), v.map(str::to_string))],
        ..ImageFilter::default()
    };
    assert_eq!(
        rows(&store, &label("tier", None)),
        ["localhost:5000/team/app:2"]
    );
    assert_eq!(
        rows(&store, &label("tier", Some("web"))),
        ["localhost:5000/team/app:2"]
    );
    assert!(rows(&store, &label("tier", Some("db"))).is_empty());
    let before = ImageFilter {
        before: Some(at(2_000)),
        ..ImageFilter::default()
    };
    assert_eq!(rows(&store, &before), ["busybox:1.36", "busybox:latest"]);
    let since = ImageFilter {
        since: Some(at(2_000)),
        ..ImageFilter::default()
    };
    assert_eq!(rows(&store, &since), ["localhost:5000/team/app:2"]);
    let until = ImageFilter {
        until: Some(at(2_500)),
        dangling: Some(true),
        ..ImageFilter::default()
    };
    assert_eq!(rows(&store, &until), ["<none>"]);
}

#[test]
fn history_pairs_steps_with_layers_newest_first() {
    let (_dir, store) = new_store();
    let image = layered(
        &store,
        &[layer("a", &[1u8; 1000]), layer("b", &[2u8; 30])],
        vec![
            step("ADD a", false),
            step("ENV x=1", true),
            step("ADD b", false),
            step("CMD [\"sh\"]", true),
        ],
        Some("multi"),
    );
    let history = image.history().unwrap();
    let summary: Vec<(&str, u64, bool)> = history
        .iter()
        .map(|h| (h.created_by.as_str(), h.size, h.empty_layer))
        .collect();
    assert_eq!(
        summary,
        [
            ("CMD [\"sh\"]", 0, true),
            ("ADD b", 30, false),
            ("ENV x=1", 0, true),
            ("ADD a", 1000, false),
        ]
    );
    assert_eq!(history[0].created.as_deref(), Some("2023-11-14T22:13:20Z"));
}

#[test]
fn history_with_more_steps_than_layers_is_an_error() {
    let (_dir, store) = new_store();
    let image = layered(
        &store,
        &[layer("a", b"a")],
        vec![step("ADD a", false), step("ADD b", false)],
        None,
    );
    let err = image.history().unwrap_err();
    assert!(matches!(err, ImageError::InvalidConfig { .. }), "{err}");
    assert!(
        err.to_string().contains("too many non-empty layers"),
        "{err}"
    );
}
