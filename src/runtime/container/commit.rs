//! `commit`: a container's changes become a new image, one layer on top of
//! the container's image.
//!
//! The layer is the upper dir as [`diff::scan`] classifies it, written as a
//! tar in docker's layer format (whiteouts as `.wh.NAME`, opaque directories
//! as `DIR/.wh..wh..opq`) into the content store, uncompressed, so its digest
//! is its diff_id. The snapshot is then unpacked from that very blob by the
//! same extractor a pull uses, so it is exactly what a later pull of the
//! layer would produce. Config and manifest follow, the tag last: a crash
//! leaves at worst unreferenced blobs and snapshots.
//!
//! A running container is frozen for the walk (unless `--pause=false`) and
//! thawed as soon as the layer is written, on every path out.

use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use oci_spec::image::{Config, Descriptor, ImageManifest, MediaType};
use serde_json::{Map, Value, json};

use super::ContainerError;
use super::diff::{self, DiffError, Node};
use super::fstree::{self, Kind, TarOut};
use super::lifecycle::{self, Container};
use super::record::{self, Status};
use crate::runtime::image::changes::{self, Change};
use crate::runtime::image::config;
use crate::runtime::image::content::ContentStore;
use crate::runtime::image::refs::{ImageRecord, Refs};
use crate::runtime::image::snapshot;
use crate::runtime::image::{Digest, Image, ImageError, ImageId, ImageStore, Reference};
use crate::runtime::store::Store;

/// Keys of the image's runtime config that commit derives from the container;
/// any other key of the parent's config (Healthcheck, OnBuild, ...) is kept.
const MANAGED_KEYS: [&str; 9] = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
];

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("cannot commit container {container}: its image {image} is unusable: {source}")]
    Parent {
        container: String,
        image: String,
        #[source]
        source: ImageError,
    },
    #[error("cannot write the layer of container {container}: {source}")]
    Layer {
        container: String,
        #[source]
        source: io::Error,
    },
}

/// Everything `commit` can be told besides the container. The default
/// pauses a running container, as docker does.
#[derive(Debug, Clone)]
pub struct CommitOptions<'a> {
    /// `name[:tag]` for the new image; a name alone gets `:latest`.
    pub reference: Option<&'a str>,
    pub author: Option<&'a str>,
    pub message: Option<&'a str>,
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`, ...).
    pub changes: &'a [String],
    /// Freeze a running container while its layer is written.
    pub pause: bool,
}

impl Default for CommitOptions<'_> {
    fn default() -> Self {
        CommitOptions {
            reference: None,
            author: None,
            message: None,
            changes: &[],
            pause: true,
        }
    }
}

/// The layer written, when the container changed anything.
struct Layer {
    diff_id: Digest,
    blob_size: u64,
    unpacked: u64,
}

/// Like `docker commit`: returns the new image's ID.
pub fn commit(
    store: &Store,
    c: &Container,
    options: &CommitOptions<'_>,
) -> Result<ImageId, CommitError> {
    // Everything cheap is checked before the container is paused.
    let reference = options.reference.map(parse_tag).transpose()?;
    let changes = changes::parse_all(options.changes).map_err(ImageError::from)?;
    let parent = parent_image(store, c)?;
    let _content = store.lock_shared("content").map_err(ImageError::from)?;
    let layer = {
        let _frozen = Freeze::new(store, c, options.pause)?;
        write_layer(store, c)?
    };
    if let Some(l) = &layer {
        unpack_layer(store, &parent, l)?;
    }
    let build = Build {
        store,
        c,
        parent: &parent,
        changes: &changes,
        options,
        layer: layer.as_ref(),
    };
    let image_config = build.config()?;
    let id = register(&build, &image_config, reference.as_ref())?;
    let image_ref = reference.as_ref().map(Reference::familiar);
    c.record.event(
        store.root(),
        "commit",
        &[
            ("comment", options.message.unwrap_or_default().to_string()),
            ("imageID", id.to_string()),
            ("imageRef", image_ref.unwrap_or_default()),
        ],
    );
    Ok(id)
}

/// The snapshot, unpacked from the stored blob exactly as a pull would.
fn unpack_layer(store: &Store, parent: &Image, layer: &Layer) -> Result<(), ImageError> {
    let blob = ContentStore::new(store).open(&layer.diff_id)?;
    snapshot::unpack(store, parent.chain.last(), &layer.diff_id, blob)?;
    Ok(())
}

fn parse_tag(text: &str) -> Result<Reference, ImageError> {
    let reference = Reference::parse(text)?;
    if reference.digest().is_some() || reference.tag_key().is_none() {
        return Err(ImageError::DigestTag {
            reference: reference.familiar(),
        });
    }
    Ok(reference)
}

fn parent_image(store: &Store, c: &Container) -> Result<Image, CommitError> {
    let wrap = |source: ImageError| CommitError::Parent {
        container: c.record.name.clone(),
        image: c.record.image.clone(),
        source,
    };
    let id = Digest::parse(&c.record.image_id).map_err(|e| wrap(e.into()))?;
    let image = ImageStore::new(store).get(&id).map_err(wrap)?;
    image.check_layers().map_err(wrap)?;
    Ok(image)
}

/// Freezes a running container for as long as it lives. A container the
/// user paused stays paused; a stopped one needs nothing.
struct Freeze<'a> {
    store: &'a Store,
    id: Option<String>,
}

impl<'a> Freeze<'a> {
    fn new(store: &'a Store, c: &Container, wanted: bool) -> Result<Freeze<'a>, ContainerError> {
        if !wanted || c.state.status != Status::Running {
            return Ok(Freeze { store, id: None });
        }
        // Marked first: a commit killed once it has frozen the container
        // leaves a freeze the next command undoes.
        lifecycle::mark_commit_freeze(store, &c.record.id)?;
        if let Err(e) = lifecycle::pause(store, c) {
            lifecycle::clear_commit_freeze(store, &c.record.id);
            return Err(e);
        }
        Ok(Freeze {
            store,
            id: Some(c.record.id.clone()),
        })
    }
}

impl Drop for Freeze<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let result = lifecycle::load(self.store, &id).and_then(|now| {
            if now.state.status == Status::Paused {
                lifecycle::unpause(self.store, &now)
            } else {
                Ok(())
            }
        });
        lifecycle::clear_commit_freeze(self.store, &id);
        if let Err(e) = result {
            tracing::warn!("cannot unpause container {id} after commit: {e}");
        }
    }
}

/// Writes the container's changes as a layer blob; None when there are none
/// (docker then records an empty layer in the history only).
fn write_layer(store: &Store, c: &Container) -> Result<Option<Layer>, CommitError> {
    let upper = record::container_dir(store.root(), &c.record.id).join("upper");
    let (nodes, _) = diff::scan(&upper, &c.record.config.layers)?;
    if nodes.iter().all(|n| n.hidden) {
        return Ok(None);
    }
    let layer_err = |source: io::Error| CommitError::Layer {
        container: c.record.name.clone(),
        source,
    };
    let root = diff::open_host_dir(&upper)?;
    let blob = ContentStore::new(store)
        .writer()
        .map_err(ImageError::from)?;
    let mut out = TarOut::new(BufWriter::with_capacity(1 << 16, blob));
    out.reject_metacopy = true;
    write_nodes(&mut out, root.as_fd(), b"", &nodes).map_err(layer_err)?;
    let unpacked = out.content_bytes;
    let mut buffered = out.finish().map_err(layer_err)?;
    buffered.flush().map_err(layer_err)?;
    let blob = buffered
        .into_inner()
        .map_err(|e| layer_err(e.into_error()))?;
    let (diff_id, blob_size) = blob.commit(None).map_err(ImageError::from)?;
    Ok(Some(Layer {
        diff_id,
        blob_size,
        unpacked,
    }))
}

/// The tar entries of `nodes` (the entries of the upper directory `dir`),
/// parents before children, names sorted.
pub(super) fn write_nodes<W: Write>(
    out: &mut TarOut<W>,
    dir: BorrowedFd<'_>,
    prefix: &[u8],
    nodes: &[Node],
) -> io::Result<()> {
    for node in nodes.iter().filter(|n| !n.hidden) {
        let path = diff::join(prefix, node.name.as_bytes());
        if node.is_whiteout() {
            out.whiteout(&path, &node.st)?;
            continue;
        }
        if fstree::kind(&node.st) != Kind::Dir {
            out.node(dir, &node.name, &path, &node.st)?;
            continue;
        }
        let sub = match fstree::open_dir(dir, &node.name) {
            Ok(fd) => fd,
            // Gone or replaced by a live container since the scan.
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => continue,
            Err(nix::errno::Errno::ELOOP) => continue,
            Err(e) => return Err(e.into()),
        };
        out.dir(sub.as_fd(), &path)?;
        if node.opaque {
            out.opaque(&path, &node.st)?;
        }
        write_nodes(out, sub.as_fd(), &path, &node.children)?;
    }
    Ok(())
}

/// What the new image is made of.
struct Build<'a> {
    store: &'a Store,
    c: &'a Container,
    parent: &'a Image,
    changes: &'a [Change],
    options: &'a CommitOptions<'a>,
    layer: Option<&'a Layer>,
}

impl Build<'_> {
    /// The parent's config with the container's runtime settings, the
    /// changes, the new layer and a history entry. Built on the parent's JSON
    /// so fields berth does not model (Healthcheck, OnBuild, ...) survive.
    fn config(&self) -> Result<Value, CommitError> {
        let mut root = self.parent_json()?;
        let created = config::rfc3339(SystemTime::now());
        let cmd = self.runtime_sections(&mut root)?;
        root.insert("container".into(), json!(self.c.record.id));
        root.insert("created".into(), json!(created));
        match self.options.author {
            Some(a) => root.insert("author".into(), json!(a)),
            None => root.remove("author"),
        };
        if let Some(l) = self.layer {
            let diff_id = json!(l.diff_id.as_str());
            push_array(&mut root, &["rootfs", "diff_ids"], diff_id);
        }
        let created_by = cmd.unwrap_or_default().join(" ");
        let entry = history(&created, created_by, self.options, self.layer.is_none());
        push_array(&mut root, &["history"], entry);
        Ok(Value::Object(root))
    }

    fn parent_json(&self) -> Result<Map<String, Value>, CommitError> {
        let id = &self.parent.id;
        let bytes = ContentStore::new(self.store)
            .read_verified(id)
            .map_err(ImageError::from)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(invalid_config(id, "not a JSON object").into()),
        }
    }

    /// Sets `config` (the container's settings, then the changes) and
    /// `container_config` (the container as it ran); returns its command.
    fn runtime_sections(
        &self,
        root: &mut Map<String, Value>,
    ) -> Result<Option<Vec<String>>, CommitError> {
        let run = &self.c.record.config;
        let parent_exec = self.parent.config.config().clone().unwrap_or_default();
        let (entrypoint, cmd) = split_args(&run.args, parent_exec.entrypoint().as_deref());
        let ran = container_exec(self.c, &parent_exec, entrypoint.clone(), cmd.clone());
        let mut exec = ran.clone();
        apply_changes(&mut exec, self.changes);
        let mut exec_json = merge_exec(root.get("config"), &exec)?;
        if let Some(health) = &run.healthcheck {
            exec_json.insert("Healthcheck".into(), healthcheck_json(health));
        }
        root.insert("config".into(), Value::Object(exec_json));
        let container = container_config(self.c, &ran, entrypoint, cmd.clone())?;
        root.insert("container_config".into(), container);
        Ok(cmd)
    }
}

fn invalid_config(id: &Digest, reason: &str) -> ImageError {
    ImageError::InvalidConfig {
        digest: id.clone(),
        reason: reason.to_string(),
    }
}

/// The container's argv back into entrypoint and command. The record keeps
/// only the argv: it starts with the image's entrypoint unless `--entrypoint`
/// (a single word) replaced it.
fn split_args(
    args: &[String],
    image_entrypoint: Option<&[String]>,
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let nonempty = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    match image_entrypoint.filter(|e| !e.is_empty()) {
        Some(ep) if args.starts_with(ep) => (Some(ep.to_vec()), nonempty(&args[ep.len()..])),
        Some(_) => match args.split_first() {
            Some((first, rest)) => (Some(vec![first.clone()]), nonempty(rest)),
            None => (None, None),
        },
        None => (None, nonempty(args)),
    }
}

/// The container's runtime settings as an image config section.
fn container_exec(
    c: &Container,
    parent: &Config,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
) -> Config {
    let run = &c.record.config;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    // berth records "/" for an unset working dir; the image did not ask for it.
    let working_dir = match (run.working_dir.as_str(), parent.working_dir()) {
        ("/", None) => None,
        (dir, _) => nonempty(dir),
    };
    let mut exec = parent.clone();
    exec.set_env(Some(run.env.clone()).filter(|e| !e.is_empty()))
        .set_entrypoint(entrypoint)
        .set_cmd(cmd)
        .set_working_dir(working_dir)
        .set_user(nonempty(&run.user))
        .set_labels(
            Some(run.labels.clone().into_iter().collect())
                .filter(|l: &std::collections::HashMap<_, _>| !l.is_empty()),
        )
        .set_stop_signal(run.stop_signal.clone());
    exec
}

/// docker's merge: an ENTRYPOINT given without a CMD drops the container's
/// command, which was an argument to the old entrypoint.
fn apply_changes(exec: &mut Config, changes: &[Change]) {
    let new_entrypoint = changes
        .iter()
        .any(|c| matches!(c, Change::Entrypoint(v) if !v.is_empty()));
    let new_cmd = changes.iter().any(|c| matches!(c, Change::Cmd(_)));
    if new_entrypoint && !new_cmd {
        exec.set_cmd(None);
    }
    changes::apply(exec, changes);
}

/// The parent's `config` object with the managed keys replaced by `exec`'s.
fn merge_exec(parent: Option<&Value>, exec: &Config) -> Result<Map<String, Value>, CommitError> {
    let mut out = match parent {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let ours = match serde_json::to_value(exec) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => {
            return Err(ImageError::Build {
                what: "config",
                reason: "the runtime config does not serialize to an object".into(),
            }
            .into());
        }
    };
    for key in MANAGED_KEYS {
        match ours.get(key).filter(|v| !v.is_null()) {
            Some(v) => out.insert(key.to_string(), v.clone()),
            None => out.remove(key),
        };
    }
    Ok(out)
}

/// docker's `container_config`: the container as it ran, before the changes.
fn container_config(
    c: &Container,
    exec: &Config,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
) -> Result<Value, CommitError> {
    let run = &c.record.config;
    let mut out = merge_exec(None, exec)?;
    out.insert("Hostname".into(), json!(run.hostname));
    out.insert("Domainname".into(), json!(run.domainname));
    out.insert("Tty".into(), json!(run.tty));
    out.insert("OpenStdin".into(), json!(run.open_stdin));
    out.insert("Image".into(), json!(c.record.image));
    out.insert("Entrypoint".into(), json!(entrypoint));
    out.insert("Cmd".into(), json!(cmd));
    Ok(Value::Object(out))
}

/// docker's Healthcheck, durations in nanoseconds.
fn healthcheck_json(h: &crate::runtime::monitor::health::HealthConfig) -> Value {
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    json!({
        "Test": h.test,
        "Interval": ns(h.interval),
        "Timeout": ns(h.timeout),
        "StartPeriod": ns(h.start_period),
        "StartInterval": ns(h.start_interval),
        "Retries": h.retries,
    })
}

fn history(created: &str, created_by: String, options: &CommitOptions<'_>, empty: bool) -> Value {
    let mut h = Map::new();
    h.insert("created".into(), json!(created));
    h.insert("created_by".into(), json!(created_by));
    if let Some(a) = options.author {
        h.insert("author".into(), json!(a));
    }
    if let Some(m) = options.message {
        h.insert("comment".into(), json!(m));
    }
    if empty {
        h.insert("empty_layer".into(), json!(true));
    }
    Value::Object(h)
}

/// Appends `value` to the array at `path`, creating objects and the array.
fn push_array(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for key in parents {
        let slot = cur.entry(key.to_string()).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        let Value::Object(map) = slot else { return };
        cur = map;
    }
    let slot = cur.entry(last.to_string()).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    if let Value::Array(items) = slot {
        items.push(value);
    }
}

/// Writes config and manifest, then records the image (and its tag).
fn register(
    build: &Build<'_>,
    image_config: &Value,
    reference: Option<&Reference>,
) -> Result<ImageId, CommitError> {
    let content = ContentStore::new(build.store);
    let (config_digest, config_size) = config::put_json(&content, image_config, "config")?;
    let mut layers = parent_layers(&content, build.parent)?;
    if let Some(l) = build.layer {
        layers.push(config::descriptor(
            MediaType::ImageLayer,
            &l.diff_id,
            l.blob_size,
        )?);
    }
    let manifest = config::manifest(
        config::descriptor(MediaType::ImageConfig, &config_digest, config_size)?,
        layers,
    )?;
    let (manifest_digest, _) = config::put_json(&content, &manifest, "manifest")?;
    let record = ImageRecord {
        manifest: manifest_digest,
        size: build.parent.size + build.layer.map_or(0, |l| l.unpacked),
    };
    Refs::new(build.store).add_image(&config_digest, record, reference)?;
    Ok(config_digest)
}

/// The parent manifest's layer descriptors, reused as they are (the blobs
/// are already in the store, compressed or not).
fn parent_layers(
    content: &ContentStore<'_>,
    parent: &Image,
) -> Result<Vec<Descriptor>, ImageError> {
    let bytes = content.read_verified(&parent.manifest)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| ImageError::Build {
            what: "manifest",
            reason: format!("the parent manifest {} is invalid: {e}", parent.manifest),
        })?;
    Ok(manifest.layers().clone())
}

#[cfg(test)]
mod tests;
