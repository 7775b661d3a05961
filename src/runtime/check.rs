//! `berth system check`: verifies a state root and names every problem.
//!
//! The check first does what every command does on its way in (containers
//! whose monitor died are marked exited and their cgroup, network and port
//! rules released, see `lifecycle::load`), then looks for what should not be
//! there: blobs that do not hash to their name, images missing a manifest,
//! config, layer blob or snapshot, unreadable container records, temp files
//! of dead writers, partial downloads no pull holds, mounts, cgroups, leases
//! and firewall rules of containers that are not running.
//!
//! `--repair` removes only what no one can want: temp files and directories
//! of dead writers, partial downloads no pull holds, stale name claims,
//! leases and rules of dead containers. Corrupt blobs, broken images and
//! records are reported and left for the user.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde_json::Value;

use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::{create, leftovers, record};
use crate::runtime::image::gc;
use crate::runtime::image::{ContentStore, Digest, ImageStore, Refs};
use crate::runtime::network::{firewall, ipam, store as netstore};
use crate::runtime::store::{Store, StoreError};

/// Name of the per-name claims directory under `containers/`.
const NAMES_DIR: &str = "names";

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("system check: cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("system check: {0}")]
    Store(#[from] StoreError),
    #[error("system check: cannot list containers: {0}")]
    Containers(String),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CheckError + 'a {
    move |source| CheckError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What `--repair` may do about a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Nothing safe: left for the user.
    None,
    /// A dead writer's file or directory (or an unheld partial download).
    RemovePath(PathBuf),
    /// A name claim pointing at no container.
    RemoveClaim(PathBuf),
    /// Leases of dead containers on this network (by id).
    ReleaseLeases { network: String, container: String },
    /// Firewall rules of a container that is not running.
    DropRules(String),
    /// A bridge (and its rules) that no network record names.
    RemoveBridge(netstore::Orphan),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// One line naming the thing and what is wrong with it.
    pub message: String,
    pub fix: Fix,
}

impl Problem {
    fn new(message: String) -> Problem {
        Problem {
            message,
            fix: Fix::None,
        }
    }

    fn fixable(message: String, fix: Fix) -> Problem {
        Problem { message, fix }
    }
}

/// Every problem found in `store`, in a stable order.
pub fn check(store: &Store) -> Result<Vec<Problem>, CheckError> {
    // Content writers hold this shared: a garbage collection cannot delete
    // what is being looked at, and pulls go on.
    let _content = store.lock_shared("content")?;
    let containers = lifecycle::list(store).map_err(|e| CheckError::Containers(e.to_string()))?;
    let mut out = Vec::new();
    check_blobs(store, &mut out)?;
    check_images(store, &mut out);
    check_container_dirs(store, &mut out)?;
    check_names(store, &mut out)?;
    check_temps(store, &mut out)?;
    check_ingest(store, &mut out)?;
    let stopped: BTreeSet<String> = containers
        .iter()
        .filter(|c| !c.is_running())
        .map(|c| c.record.id.clone())
        .collect();
    check_mounts(store, &containers, &mut out)?;
    check_cgroups(&stopped, &mut out);
    check_leases(store, &mut out);
    check_rules(store, &containers, &mut out);
    check_bridges(store, &mut out);
    Ok(out)
}

/// Applies the safe fixes; returns a line per thing repaired.
pub fn repair(store: &Store, problems: &[Problem]) -> Vec<Result<String, String>> {
    problems
        .iter()
        .filter(|p| p.fix != Fix::None)
        .map(|p| apply(store, &p.fix).map_err(|e| format!("{}: {e}", p.message)))
        .collect()
}

fn apply(store: &Store, fix: &Fix) -> Result<String, String> {
    match fix {
        Fix::None => Ok(String::new()),
        Fix::RemovePath(path) => {
            remove_path(path).map_err(|e| e.to_string())?;
            Ok(format!("removed {}", path.display()))
        }
        Fix::RemoveClaim(path) => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if !create::drop_stale_claim(store, &name) {
                return Err(format!("the name claim {} is in use again", path.display()));
            }
            Ok(format!("released the name claim {}", path.display()))
        }
        Fix::ReleaseLeases { network, container } => {
            let _lock = netstore::lock(store).map_err(|e| e.to_string())?;
            let net = netstore::get(store, network).map_err(|e| e.to_string())?;
            ipam::release(store, &net, container).map_err(|e| e.to_string())?;
            Ok(format!(
                "released the leases of {container} on {}",
                net.name
            ))
        }
        Fix::DropRules(id) => {
            firewall::cleanup_container(store.root(), id).map_err(|e| e.to_string())?;
            Ok(format!("removed the firewall rules of container {id}"))
        }
        Fix::RemoveBridge(orphan) => {
            let _lock = netstore::lock(store).map_err(|e| e.to_string())?;
            // Looked at again under the lock: a create may have recorded it.
            let still = netstore::orphan_bridges(store).map_err(|e| e.to_string())?;
            if !still.contains(orphan) {
                return Err(format!("the bridge {} is in use again", orphan.bridge));
            }
            netstore::remove_orphan(store, orphan).map_err(|e| e.to_string())?;
            Ok(format!("removed the bridge {}", orphan.bridge))
        }
    }
}

fn remove_path(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn check_blobs(store: &Store, out: &mut Vec<Problem>) -> Result<(), CheckError> {
    let dir = store.blobs_dir();
    let content = ContentStore::new(store);
    for name in names_in(&dir)? {
        match Digest::from_hex(&name) {
            Ok(digest) => {
                if let Err(e) = content.verify(&digest) {
                    out.push(Problem::new(format!("blob {digest}: {e}")));
                }
            }
            Err(_) => out.push(Problem::new(format!(
                "{}: not a blob name in the content store",
                dir.join(&name).display()
            ))),
        }
    }
    Ok(())
}

fn check_images(store: &Store, out: &mut Vec<Problem>) {
    let index = match Refs::new(store).load() {
        Ok(i) => i,
        Err(e) => return out.push(Problem::new(format!("image index: {e}"))),
    };
    let images = ImageStore::new(store);
    for (id, rec) in &index.images {
        check_manifest(store, id, &rec.manifest, out);
        match images.get(id) {
            Ok(image) => {
                if let Err(e) = image.check_layers() {
                    out.push(Problem::new(format!("image {}: {e}", id.short())));
                }
            }
            Err(e) => out.push(Problem::new(format!("image {}: {e}", id.short()))),
        }
    }
    for (tag, target) in &index.refs {
        if !index.images.contains_key(&target.config) {
            out.push(Problem::new(format!(
                "tag {tag}: points at image {} which the index does not hold",
                target.config.short()
            )));
        }
    }
}

/// The manifest is present and verifies, and so is every blob it names.
fn check_manifest(store: &Store, id: &Digest, manifest: &Digest, out: &mut Vec<Problem>) {
    let content = ContentStore::new(store);
    let bytes = match content.read_verified(manifest) {
        Ok(b) => b,
        Err(e) => {
            return out.push(Problem::new(format!(
                "image {}: manifest {manifest}: {e}",
                id.short()
            )));
        }
    };
    let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
        return out.push(Problem::new(format!(
            "image {}: manifest {manifest} is not JSON",
            id.short()
        )));
    };
    for digest in descriptors(&json) {
        if !content.exists(&digest) {
            out.push(Problem::new(format!(
                "image {}: blob {digest} named by manifest {} is missing",
                id.short(),
                manifest.short()
            )));
        }
    }
}

/// The config and layer digests of an image manifest.
fn descriptors(manifest: &Value) -> Vec<Digest> {
    let mut items: Vec<&Value> = manifest.get("config").into_iter().collect();
    if let Some(Value::Array(layers)) = manifest.get("layers") {
        items.extend(layers);
    }
    items
        .into_iter()
        .filter_map(|d| d.get("digest").and_then(Value::as_str))
        .filter_map(|d| Digest::parse(d).ok())
        .collect()
}

fn check_container_dirs(store: &Store, out: &mut Vec<Problem>) -> Result<(), CheckError> {
    let dir = store.containers_dir();
    for name in names_in(&dir)? {
        if name == NAMES_DIR {
            continue;
        }
        let path = dir.join(&name);
        if name.starts_with(leftovers::RM_PREFIX) {
            if leftovers::abandoned(&path) {
                out.push(Problem::fixable(
                    format!("{}: left by a berth process that died", path.display()),
                    Fix::RemovePath(path),
                ));
            }
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        check_container(&path, &name, out)?;
    }
    Ok(())
}

fn check_container(dir: &Path, id: &str, out: &mut Vec<Problem>) -> Result<(), CheckError> {
    let what = format!("container {}", &id[..id.len().min(12)]);
    let record = match record::read_record(dir) {
        Ok(r) => r,
        Err(e) => {
            out.push(Problem::new(format!("{what}: {e}")));
            return Ok(());
        }
    };
    if let Err(e) = record::read_state(dir) {
        out.push(Problem::new(format!("{what} ({}): {e}", record.name)));
    }
    for sub in ["upper", "work", "rootfs"] {
        if !dir.join(sub).is_dir() {
            out.push(Problem::new(format!(
                "{what} ({}): directory {sub}/ is missing",
                record.name
            )));
        }
    }
    for layer in &record.config.layers {
        if !layer.is_dir() {
            out.push(Problem::new(format!(
                "{what} ({}): layer snapshot {} of image {} is missing",
                record.name,
                layer.display(),
                record.image
            )));
        }
    }
    for name in names_in(dir)? {
        let pid = name
            .split_once(".tmp-")
            .and_then(|(_, rest)| gc::owner_pid(rest));
        if pid.is_some_and(|p| !gc::process_exists(p)) {
            let path = dir.join(&name);
            out.push(Problem::fixable(
                format!("{what}: temp file {name} of a berth process that died"),
                Fix::RemovePath(path),
            ));
        }
    }
    Ok(())
}

/// Whether `name`'s claim for `id` has no record of that name behind it,
/// judged under the name's lock, so a create in progress is not counted.
fn stale_claim(store: &Store, name: &str, id: &str) -> bool {
    let Ok(_lock) = leftovers::lock_name(store, name) else {
        return false;
    };
    !leftovers::claim_is_live(store, name, id)
}

/// A name claim must point at a container directory.
fn check_names(store: &Store, out: &mut Vec<Problem>) -> Result<(), CheckError> {
    let dir = store.containers_dir().join(NAMES_DIR);
    for name in names_in(&dir)? {
        let path = dir.join(&name);
        let id = fs::read_to_string(&path).map_err(io_err("read", &path))?;
        let id = id.trim();
        if id.is_empty() || stale_claim(store, &name, id) {
            out.push(Problem::fixable(
                format!(
                    "container name {name:?}: claimed for {id:?}, which does not exist or goes by another name"
                ),
                Fix::RemoveClaim(path),
            ));
        }
    }
    Ok(())
}

fn check_temps(store: &Store, out: &mut Vec<Problem>) -> Result<(), CheckError> {
    let temps = gc::dead_writer_temps(store).map_err(|e| CheckError::Io {
        op: "list temp files in",
        path: store.root().to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    for path in temps {
        out.push(Problem::fixable(
            format!("{}: temp file of a berth process that died", path.display()),
            Fix::RemovePath(path),
        ));
    }
    Ok(())
}

/// A partial download is kept so the next pull resumes it; one that no pull
/// holds is reported (and removable).
fn check_ingest(store: &Store, out: &mut Vec<Problem>) -> Result<(), CheckError> {
    for name in names_in(&store.ingest_dir())? {
        if pull_in_progress(store, &name)? {
            continue;
        }
        let path = store.ingest_dir().join(&name);
        out.push(Problem::fixable(
            format!(
                "blob sha256:{name}: partial download left by an interrupted pull ({})",
                path.display()
            ),
            Fix::RemovePath(path),
        ));
    }
    Ok(())
}

/// Whether a pull holds `locks/pull-<hex>.lock`.
fn pull_in_progress(store: &Store, hex: &str) -> Result<bool, CheckError> {
    let path = store.locks_dir().join(format!("pull-{hex}.lock"));
    let file = match OpenOptions::new().read(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err("open", &path)(e)),
    };
    Ok(Flock::lock(file, FlockArg::LockExclusiveNonblock).is_err())
}

/// Mount points under the root: only a running container's (its pinned
/// network namespace) may be there.
fn check_mounts(
    store: &Store,
    containers: &[Container],
    out: &mut Vec<Problem>,
) -> Result<(), CheckError> {
    let root = fs::canonicalize(store.root()).map_err(io_err("resolve", store.root()))?;
    let running: BTreeSet<&str> = containers
        .iter()
        .filter(|c| c.is_running())
        .map(|c| c.record.id.as_str())
        .collect();
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err("read", Path::new("/proc/self/mountinfo")))?;
    for point in mount_points(&text) {
        let Ok(rel) = point.strip_prefix(&root) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if let Some(id) = container_of(rel)
            && running.contains(id.as_str())
        {
            continue;
        }
        out.push(Problem::new(format!(
            "mount {}: under the root, and no running container owns it",
            point.display()
        )));
    }
    Ok(())
}

/// Mount points of a mountinfo text (field 5, octal escapes undone).
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `containers/<id>/...` -> id.
fn container_of(rel: &Path) -> Option<String> {
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_str()?;
    let id = parts.next()?.as_os_str().to_str()?;
    (first == "containers").then(|| id.to_string())
}

fn check_cgroups(stopped: &BTreeSet<String>, out: &mut Vec<Problem>) {
    let Ok(hierarchy) = crate::runtime::cgroup::detect() else {
        return;
    };
    for id in stopped {
        let cgroup = hierarchy.open(crate::runtime::monitor::CGROUP_PARENT, id);
        for dir in cgroup.paths().into_iter().filter(|d| d.is_dir()) {
            out.push(Problem::new(format!(
                "container {}: cgroup {} left although it is not running",
                &id[..id.len().min(12)],
                dir.display()
            )));
        }
    }
}

fn check_leases(store: &Store, out: &mut Vec<Problem>) {
    let networks = match netstore::list(store) {
        Ok(n) => n,
        Err(e) => return out.push(Problem::new(format!("networks: {e}"))),
    };
    for net in networks {
        let stale = match ipam::stale(store, &net) {
            Ok(s) => s,
            Err(e) => {
                out.push(Problem::new(format!("network {}: {e}", net.name)));
                continue;
            }
        };
        for (ip, lease) in stale {
            out.push(Problem::fixable(
                format!(
                    "network {}: address {ip} still leased to container {}, which is gone or not running",
                    net.name,
                    &lease.container[..lease.container.len().min(12)]
                ),
                Fix::ReleaseLeases {
                    network: net.id.clone(),
                    container: lease.container.clone(),
                },
            ));
        }
    }
}

fn check_rules(store: &Store, containers: &[Container], out: &mut Vec<Problem>) {
    let with_rules = match firewall::containers_with_rules(store.root()) {
        Ok(ids) => ids,
        Err(e) => return out.push(Problem::new(format!("firewall: {e}"))),
    };
    for id in with_rules {
        let running = containers
            .iter()
            .any(|c| c.record.id == id && c.is_running());
        if !running {
            out.push(Problem::fixable(
                format!(
                    "container {}: firewall rules left although it is not running",
                    &id[..id.len().min(12)]
                ),
                Fix::DropRules(id),
            ));
        }
    }
}

fn check_bridges(store: &Store, out: &mut Vec<Problem>) {
    let orphans = match netstore::lock(store).and_then(|_lock| netstore::orphan_bridges(store)) {
        Ok(o) => o,
        Err(e) => return out.push(Problem::new(format!("bridges: {e}"))),
    };
    for orphan in orphans {
        let message = if orphan.root_gone {
            format!(
                "bridge {}: made by the root {}, which no longer exists",
                orphan.bridge,
                orphan.root.display()
            )
        } else {
            format!(
                "bridge {}: made by this root, but no network names it",
                orphan.bridge
            )
        };
        out.push(Problem::fixable(message, Fix::RemoveBridge(orphan)));
    }
}

/// Entry names of `dir`, sorted; an absent directory has none.
fn names_in(dir: &Path) -> Result<Vec<String>, CheckError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::image::{ImportOptions, import_with};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        (dir, store)
    }

    #[test]
    fn mountinfo_points_are_unescaped() {
        let text = "36 35 98:0 /mnt1 /a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:1 / /plain rw - tmpfs t rw\n";
        assert_eq!(
            mount_points(text),
            vec![PathBuf::from("/a b"), PathBuf::from("/plain")]
        );
    }

    #[test]
    fn an_empty_store_is_clean() {
        let (_dir, store) = store();
        let problems = check_static(&store);
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// The checks that need no root (no cgroups, mounts or iptables).
    fn check_static(store: &Store) -> Vec<Problem> {
        let mut out = Vec::new();
        check_blobs(store, &mut out).unwrap();
        check_images(store, &mut out);
        check_container_dirs(store, &mut out).unwrap();
        check_names(store, &mut out).unwrap();
        check_temps(store, &mut out).unwrap();
        check_ingest(store, &mut out).unwrap();
        out
    }

    fn import_tiny(store: &Store) -> Digest {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, "hello.txt", &b"hello"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let options = ImportOptions {
            reference: Some("tiny:1"),
            ..ImportOptions::default()
        };
        import_with(store, &tar[..], &options).unwrap()
    }

    #[test]
    fn corrupt_blobs_and_missing_snapshots_are_named() {
        let (_dir, store) = store();
        let id = import_tiny(&store);
        assert!(check_static(&store).is_empty());
        let image = ImageStore::new(&store).get(&id).unwrap();
        fs::remove_dir_all(&image.layer_dirs[0]).unwrap();
        let content = ContentStore::new(&store);
        fs::write(content.path(&image.manifest), b"tampered").unwrap();
        let text: Vec<String> = check_static(&store)
            .into_iter()
            .map(|p| p.message)
            .collect();
        let all = text.join("\n");
        assert!(all.contains(&format!("blob {}", image.manifest)), "{all}");
        assert!(all.contains(&format!("image {}", id.short())), "{all}");
        assert!(all.contains("layer"), "{all}");
    }

    #[test]
    fn dead_writers_leftovers_are_repairable_and_live_ones_kept() {
        let (_dir, store) = store();
        // pid_max is at most 2^22: this pid cannot exist.
        let dead = 1 << 23;
        let me = std::process::id();
        fs::write(store.tmp_dir().join(format!("blob-{dead}-1-0")), b"x").unwrap();
        fs::write(store.tmp_dir().join(format!("blob-{me}-1-0")), b"x").unwrap();
        fs::create_dir(
            store
                .containers_dir()
                .join(format!(".rm-{}", "d".repeat(64))),
        )
        .unwrap();
        fs::write(store.ingest_dir().join("ab".repeat(32)), b"part").unwrap();
        let names = store.containers_dir().join(NAMES_DIR);
        fs::create_dir_all(&names).unwrap();
        fs::write(names.join("web"), "f".repeat(64)).unwrap();
        let problems = check_static(&store);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().all(|p| p.fix != Fix::None), "{problems:?}");
        for result in repair(&store, &problems) {
            result.unwrap();
        }
        assert!(check_static(&store).is_empty());
        assert!(store.tmp_dir().join(format!("blob-{me}-1-0")).exists());
    }

    #[test]
    fn unreadable_container_records_are_named() {
        let (_dir, store) = store();
        let id = "c".repeat(64);
        let dir = store.containers_dir().join(&id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(record::CONFIG_FILE), b"{not json").unwrap();
        let problems = check_static(&store);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.starts_with("container cccccccccccc"));
        assert_eq!(problems[0].fix, Fix::None);
    }
}
