//! `save` and `load`: round trips, the docker (< 25 and ≥ 25) and OCI layouts,
//! and bad archives that must change nothing.

use std::fs;
use std::io::Read;

use oci_spec::image::Arch;
use serde_json::{Value, json};
use tar::{EntryType, Header};

use super::fixtures::*;
use crate::runtime::image::archive::{self, ArchiveError, LoadedImage};
use crate::runtime::image::reference::Reference;
use crate::runtime::image::refs::Refs;
use crate::runtime::image::snapshot;
use crate::runtime::image::{ContentStore, Digest, ImageStore, import_with};
use crate::runtime::store::Store;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn save(store: &Store, names: &[&str]) -> Vec<u8> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    archive::save(store, &names, &mut out).unwrap();
    out
}

fn load(store: &Store, bytes: &[u8]) -> Result<Vec<LoadedImage>, ArchiveError> {
    archive::load(store, bytes, &mut |_, _| {})
}

fn tags(image: &LoadedImage) -> Vec<String> {
    image.tags.iter().map(|t| t.reference.familiar()).collect()
}

/// The members of a tar: name, content, mtime, mode.
fn entries(tar: &[u8]) -> Vec<(String, Vec<u8>, u64, u32)> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let (mtime, mode) = (
            entry.header().mtime().unwrap(),
            entry.header().mode().unwrap(),
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, data, mtime, mode));
    }
    out
}

fn member(tar: &[u8], name: &str) -> Value {
    let (_, data, _, _) = entries(tar).into_iter().find(|e| e.0 == name).unwrap();
    serde_json::from_slice(&data).unwrap()
}

/// Builds archives by hand, members in the order given.
struct Archive(tar::Builder<Vec<u8>>);

impl Archive {
    fn new() -> Archive {
        Archive(tar::Builder::new(Vec::new()))
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Archive {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn json(&mut self, name: &str, value: &Value) -> &mut Archive {
        self.file(name, &serde_json::to_vec(value).unwrap())
    }

    fn blob(&mut self, data: &[u8]) -> &mut Archive {
        self.file(
            &format!("blobs/sha256/{}", Digest::of_bytes(data).hex()),
            data,
        )
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Archive {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Symlink);
        h.set_path(name).unwrap();
        h.set_link_name(target).unwrap();
        h.set_size(0);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

fn config_json(arch: &str, cmd: &str, diff_ids: &[&Digest]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.as_str()).collect::<Vec<_>>()},
    }))
    .unwrap()
}

fn host_arch() -> String {
    Arch::default().to_string()
}

fn descriptor(media_type: &str, data: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of_bytes(data).as_str(), "size": data.len()})
}

fn oci_manifest(config: &[u8], layers: &[(&str, &[u8])]) -> Vec<u8> {
    let layers: Vec<Value> = layers.iter().map(|(t, d)| descriptor(t, d)).collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers,
    }))
    .unwrap()
}

fn assert_untouched(store: &Store) {
    assert!(Refs::new(store).load().unwrap().images.is_empty());
    assert!(ContentStore::new(store).list().unwrap().is_empty());
    assert!(snapshot::list(store).unwrap().is_empty());
    assert!(leftovers(store).is_empty(), "{:?}", leftovers(store));
}

/// Two images on one layer: `sample:v1` (also tagged `sample:also`) and
/// `other:v1`.
fn two_images(store: &Store) -> (Digest, Digest) {
    let tar = sample_rootfs();
    let cmd = strings(&["CMD [\"sh\"]"]);
    let user = strings(&["USER nobody"]);
    let first = import_with(store, &tar[..], &options(Some("sample:v1"), &cmd)).unwrap();
    Refs::new(store)
        .tag(&Reference::parse("sample:also").unwrap(), &first)
        .unwrap();
    let second = import_with(store, &tar[..], &options(Some("other:v1"), &user)).unwrap();
    (first, second)
}

#[test]
fn save_then_load_gives_the_same_images_tags_and_layers() {
    let (_dir, store) = new_store();
    let (first, second) = two_images(&store);
    let bytes = save(&store, &["sample", "other:v1"]);

    let (_dir2, fresh) = new_store();
    let loaded = load(&fresh, &bytes).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, first);
    assert_eq!(tags(&loaded[0]), ["sample:also", "sample:v1"]);
    assert_eq!(loaded[1].id, second);
    assert_eq!(tags(&loaded[1]), ["other:v1"]);
    assert!(
        loaded
            .iter()
            .flat_map(|i| &i.tags)
            .all(|t| t.replaced.is_none())
    );

    let (before, after) = (ImageStore::new(&store), ImageStore::new(&fresh));
    for name in ["sample:v1", "sample:also", "other:v1"] {
        let (a, b) = (before.resolve(name).unwrap(), after.resolve(name).unwrap());
        b.check_layers().unwrap();
        assert_eq!(
            (a.id, a.manifest, a.chain, a.size),
            (b.id, b.manifest, b.chain, b.size)
        );
    }
    let content = |s: &Store| ContentStore::new(s).list().unwrap();
    assert_eq!(content(&store), content(&fresh));
    assert_eq!(snapshot::list(&fresh).unwrap().len(), 1);
    let root = &after.resolve("other:v1").unwrap().layer_dirs[0];
    assert_eq!(
        fs::read(root.join("home/user/notes")).unwrap(),
        b"private notes"
    );
    assert!(leftovers(&fresh).is_empty(), "{:?}", leftovers(&fresh));

    // Loading again changes nothing; a tag that pointed elsewhere moves.
    Refs::new(&fresh)
        .tag(&Reference::parse("other:v1").unwrap(), &first)
        .unwrap();
    let again = load(&fresh, &bytes).unwrap();
    assert!(again[0].tags.iter().all(|t| t.replaced.is_none()));
    assert_eq!(again[1].tags[0].replaced, Some(first));
    assert_eq!(content(&store), content(&fresh));
}

#[test]
fn the_archive_is_deterministic_and_in_moby_layout() {
    let (_dir, store) = new_store();
    let (first, _) = two_images(&store);
    let bytes = save(&store, &["sample:v1"]);
    assert_eq!(bytes, save(&store, &["sample:v1"]));

    let listed = entries(&bytes);
    let names: Vec<&str> = listed.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(listed.iter().all(|e| e.2 == 0), "mtimes must be 0");
    assert_eq!(names[..2], ["blobs/", "blobs/sha256/"]);
    assert_eq!(
        names[names.len() - 4..],
        ["index.json", "manifest.json", "oci-layout", "repositories"]
    );

    let image = ImageStore::new(&store).get(&first).unwrap();
    let layer = format!("blobs/sha256/{}", image.chain[0].hex());
    assert_eq!(
        member(&bytes, "manifest.json"),
        json!([{
            "Config": format!("blobs/sha256/{}", first.hex()),
            "RepoTags": ["sample:v1"],
            "Layers": [layer],
        }])
    );
    assert_eq!(
        member(&bytes, "repositories"),
        json!({"sample": {"v1": image.chain[0].hex()}})
    );
    let index = member(&bytes, "index.json");
    assert_eq!(index["mediaType"], OCI_INDEX);
    let m = &index["manifests"][0];
    assert_eq!(m["digest"], image.manifest.as_str());
    assert_eq!(
        m["annotations"]["io.containerd.image.name"],
        "docker.io/library/sample:v1"
    );
    assert_eq!(m["annotations"]["org.opencontainers.image.ref.name"], "v1");
    assert_eq!(m["platform"]["os"], "linux");
    // Blobs are stored bytes, unchanged.
    let cs = ContentStore::new(&store);
    for (name, data, _, _) in &listed {
        if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(
                data,
                &fs::read(cs.path(&Digest::from_hex(hex).unwrap())).unwrap()
            );
        }
    }
}

#[test]
fn an_image_saved_by_id_loads_untagged() {
    let (_dir, store) = new_store();
    let (first, _) = two_images(&store);
    let bytes = save(&store, &[first.short()]);
    assert_eq!(member(&bytes, "manifest.json")[0]["RepoTags"], Value::Null);
    assert!(entries(&bytes).iter().all(|e| e.0 != "repositories"));
    assert!(
        member(&bytes, "index.json")["manifests"][0]
            .get("annotations")
            .is_none()
    );

    let (_dir2, fresh) = new_store();
    let loaded = load(&fresh, &bytes).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, first);
    assert!(loaded[0].tags.is_empty());
    assert!(Refs::new(&fresh).list().unwrap().is_empty());
    ImageStore::new(&fresh)
        .get(&first)
        .unwrap()
        .check_layers()
        .unwrap();
}

#[test]
fn unknown_images_are_named() {
    let (_dir, store) = new_store();
    two_images(&store);
    let err = archive::save(&store, &["nope:1".to_string()], Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope:1");
}

#[test]
fn a_gzipped_archive_loads() {
    let (_dir, store) = new_store();
    let (first, _) = two_images(&store);
    let bytes = gzip(&save(&store, &["sample:v1"]));
    let (_dir2, fresh) = new_store();
    let loaded = load(&fresh, &bytes).unwrap();
    assert_eq!(loaded[0].id, first);
    assert_eq!(tags(&loaded[0]), ["sample:v1"]);
}

/// docker < 25: `<hex>.json` configs, `<dir>/layer.tar` layers (one a symlink
/// to another's), no manifest blobs; metadata last, as docker writes it.
fn legacy_archive(layer_a: &[u8], layer_b: &[u8], diff_a: &Digest) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let diff_b = Digest::of_bytes(layer_b);
    let one = config_json(&host_arch(), "sh", &[diff_a, &diff_b]);
    let two = config_json(&host_arch(), "true", &[diff_a]);
    let (d1, d2, d3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
    let tar = Archive::new()
        .file(&format!("{d1}/VERSION"), b"1.0")
        .file(&format!("{d1}/json"), b"{}")
        .file(&format!("{d1}/layer.tar"), layer_a)
        .file(&format!("{d2}/layer.tar"), layer_b)
        .symlink(&format!("{d3}/layer.tar"), &format!("../{d1}/layer.tar"))
        .file(&format!("{}.json", Digest::of_bytes(&one).hex()), &one)
        .file(&format!("{}.json", Digest::of_bytes(&two).hex()), &two)
        .json(
            "manifest.json",
            &json!([
                {"Config": format!("{}.json", Digest::of_bytes(&one).hex()),
                 "RepoTags": ["legacy:one"],
                 "Layers": [format!("{d1}/layer.tar"), format!("{d2}/layer.tar")]},
                {"Config": format!("{}.json", Digest::of_bytes(&two).hex()),
                 "RepoTags": ["legacy:two", "docker.io/other/name:x"],
                 "Layers": [format!("{d3}/layer.tar")]},
            ]),
        )
        .json("repositories", &json!({"legacy": {"one": d2}}))
        .finish();
    (tar, one, two)
}

#[test]
fn the_legacy_docker_layout_loads_with_a_built_manifest() {
    let layer_a = sample_rootfs();
    let layer_b = Layer::new().file("etc/motd", 0o644, b"hello\n").finish();
    let (tar, one, two) = legacy_archive(&layer_a, &layer_b, &Digest::of_bytes(&layer_a));
    let (_dir, store) = new_store();
    let loaded = load(&store, &tar).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, Digest::of_bytes(&one));
    assert_eq!(tags(&loaded[0]), ["legacy:one"]);
    assert_eq!(loaded[1].id, Digest::of_bytes(&two));
    assert_eq!(tags(&loaded[1]), ["legacy:two", "other/name:x"]);

    let images = ImageStore::new(&store);
    let image = images.resolve("legacy:one").unwrap();
    image.check_layers().unwrap();
    assert_eq!(
        fs::read(image.layer_dirs[1].join("etc/motd")).unwrap(),
        b"hello\n"
    );
    assert_eq!(
        images.resolve("other/name:x").unwrap().chain[0],
        image.chain[0]
    );
    // The built manifest is a docker schema2 manifest over the stored blobs.
    let cs = ContentStore::new(&store);
    let manifest: Value =
        serde_json::from_slice(&cs.read_verified(&image.manifest).unwrap()).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(manifest["config"]["digest"], image.id.as_str());
    assert_eq!(
        manifest["layers"][1]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar"
    );
    assert_eq!(
        manifest["layers"][1]["digest"],
        Digest::of_bytes(&layer_b).as_str()
    );
    assert_eq!(
        fs::read(cs.path(&Digest::of_bytes(&layer_b))).unwrap(),
        layer_b
    );
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));

    // And berth saves it back out in the new layout, which loads again.
    let saved = save(&store, &["legacy"]);
    let (_dir2, fresh) = new_store();
    let again = load(&fresh, &saved).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(
        ImageStore::new(&fresh)
            .resolve("legacy:one")
            .unwrap()
            .manifest,
        image.manifest
    );
}

#[test]
fn an_oci_layout_loads_this_platform_and_names_from_annotations() {
    let layer = sample_rootfs();
    let layer_gz = gzip(&layer);
    let diff_id = Digest::of_bytes(&layer);
    let config = config_json(&host_arch(), "sh", &[&diff_id]);
    let manifest = oci_manifest(&config, &[(OCI_LAYER_GZIP, &layer_gz)]);
    // Another platform's manifest, whose layer is absent: picking it would fail.
    let foreign_config = config_json("other", "sh", &[&diff_id]);
    let foreign = oci_manifest(&foreign_config, &[(OCI_LAYER, b"absent")]);
    let mut foreign_desc = descriptor(OCI_MANIFEST, &foreign);
    foreign_desc["platform"] = json!({"os": "linux", "architecture": "other"});
    let mut host_desc = descriptor(OCI_MANIFEST, &manifest);
    host_desc["platform"] = json!({"os": "linux", "architecture": host_arch()});
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [foreign_desc, host_desc],
    }))
    .unwrap();
    // A second, single-platform image on the same layer, stored uncompressed.
    let plain_config = config_json(&host_arch(), "true", &[&diff_id]);
    let plain = oci_manifest(&plain_config, &[(OCI_LAYER, &layer)]);
    let mut named = descriptor(OCI_INDEX, &nested);
    named["annotations"] = json!({"org.opencontainers.image.ref.name": "example.com/app:1.0"});
    let mut bare_tag = descriptor(OCI_MANIFEST, &plain);
    bare_tag["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    let tar = Archive::new()
        .json(
            "index.json",
            &json!({"schemaVersion": 2, "manifests": [named, bare_tag]}),
        )
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .blob(&nested)
        .blob(&manifest)
        .blob(&foreign)
        .blob(&config)
        .blob(&foreign_config)
        .blob(&layer_gz)
        .blob(&plain)
        .blob(&plain_config)
        .blob(&layer)
        .finish();

    let (_dir, store) = new_store();
    let loaded = load(&store, &tar).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, Digest::of_bytes(&config));
    assert_eq!(tags(&loaded[0]), ["example.com/app:1.0"]);
    assert_eq!(loaded[1].id, Digest::of_bytes(&plain_config));
    assert!(loaded[1].tags.is_empty(), "a bare tag names no repository");
    let images = ImageStore::new(&store);
    let app = images.resolve("example.com/app:1.0").unwrap();
    assert_eq!(app.manifest, Digest::of_bytes(&manifest));
    app.check_layers().unwrap();
    let untagged = images.get(&Digest::of_bytes(&plain_config)).unwrap();
    assert_eq!(untagged.chain, app.chain);
    assert_eq!(snapshot::list(&store).unwrap().len(), 1);
    let cs = ContentStore::new(&store);
    assert!(cs.exists(&Digest::of_bytes(&layer_gz)) && cs.exists(&diff_id));
    assert!(
        !cs.exists(&Digest::of_bytes(&foreign)),
        "other platforms are not kept"
    );
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
}

/// docker ≥ 25 on containerd: manifest.json plus an index.json naming a
/// multi-platform index of which only this platform's manifest is present.
#[test]
fn a_docker_archive_keeps_its_manifest_when_the_index_is_partial() {
    let layer_gz = gzip(&sample_rootfs());
    let diff_id = Digest::of_bytes(&sample_rootfs());
    let config = config_json(&host_arch(), "sh", &[&diff_id]);
    let manifest = oci_manifest(&config, &[(OCI_LAYER_GZIP, &layer_gz)]);
    let mut absent = descriptor(OCI_MANIFEST, b"not in the archive");
    absent["platform"] = json!({"os": "linux", "architecture": "other"});
    let multi = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [absent, descriptor(OCI_MANIFEST, &manifest)],
    }))
    .unwrap();
    let blob = |d: &[u8]| format!("blobs/sha256/{}", Digest::of_bytes(d).hex());
    let tar = Archive::new()
        .blob(&config)
        .blob(&layer_gz)
        .blob(&manifest)
        .blob(&multi)
        .json("index.json", &json!({"schemaVersion": 2, "manifests": [descriptor(OCI_INDEX, &multi)]}))
        .json(
            "manifest.json",
            &json!([{"Config": blob(&config), "RepoTags": ["multi:1"], "Layers": [blob(&layer_gz)]}]),
        )
        .finish();
    let (_dir, store) = new_store();
    let loaded = load(&store, &tar).unwrap();
    assert_eq!(tags(&loaded[0]), ["multi:1"]);
    let image = ImageStore::new(&store).resolve("multi:1").unwrap();
    assert_eq!(image.manifest, Digest::of_bytes(&manifest));
    image.check_layers().unwrap();
}

#[test]
fn a_corrupt_blob_is_rejected_and_nothing_is_registered() {
    let (_dir, store) = new_store();
    let (first, _) = two_images(&store);
    let mut bytes = save(&store, &["sample:v1"]);
    let layer = ImageStore::new(&store).get(&first).unwrap().chain[0]
        .hex()
        .to_string();
    let name = format!("blobs/sha256/{layer}");
    let offset = {
        let mut archive = tar::Archive::new(&bytes[..]);
        let entry = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_string_lossy() == name)
            .unwrap();
        entry.raw_file_position() as usize
    };
    bytes[offset + 600] ^= 0xff;

    let (_dir2, fresh) = new_store();
    let err = load(&fresh, &bytes).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Mismatch { member, .. } if *member == name),
        "{err}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    assert_untouched(&fresh);
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_rejected() {
    let layer_a = sample_rootfs();
    let layer_b = Layer::new().file("etc/motd", 0o644, b"hello\n").finish();
    // The config promises other content for layer a.
    let (tar, _, _) = legacy_archive(&layer_a, &layer_b, &Digest::of_bytes(b"something else"));
    let (_dir, store) = new_store();
    let err = load(&store, &tar).unwrap_err();
    assert!(matches!(err, ArchiveError::DiffId { .. }), "{err}");
    assert!(err.to_string().contains("/layer.tar"), "{err}");
    assert_untouched(&store);
}

#[test]
fn missing_blobs_and_missing_manifests_are_named() {
    let layer = sample_rootfs();
    let config = config_json(&host_arch(), "sh", &[&Digest::of_bytes(&layer)]);
    let manifest = oci_manifest(&config, &[(OCI_LAYER, &layer)]);
    let tar = Archive::new()
        .json(
            "index.json",
            &json!({"schemaVersion": 2, "manifests": [descriptor(OCI_MANIFEST, &manifest)]}),
        )
        .blob(&manifest)
        .blob(&config)
        .finish();
    let (_dir, store) = new_store();
    let err = load(&store, &tar).unwrap_err();
    let layer_name = format!("blobs/sha256/{}", Digest::of_bytes(&layer).hex());
    assert!(
        matches!(&err, ArchiveError::Missing { member, .. } if *member == layer_name),
        "{err}"
    );
    assert_untouched(&store);

    let tar = Archive::new().file("hello.txt", b"hi").finish();
    assert!(matches!(load(&store, &tar), Err(ArchiveError::NoManifest)));
    assert!(matches!(load(&store, b""), Err(ArchiveError::Empty)));
    assert!(matches!(
        load(&store, &[7u8; 600]),
        Err(ArchiveError::NotTar { .. })
    ));
    assert_untouched(&store);
}
