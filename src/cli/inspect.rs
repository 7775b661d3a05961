//! `inspect`: docker-like JSON for containers and images, and `-f` templates with
//! Go-template field paths (`{{.State.Status}}`, `{{json .Config.Env}}`).

use std::path::Path;

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::output::go_json;
use super::{CliError, engine, print};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record::{self, Status};
use crate::runtime::image::{Image, ImageStore, Reference};
use crate::runtime::monitor::logfile::log_path;
use crate::runtime::store::Store;

/// docker's zero time, for a container that never started or never finished.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using a Go-template field path, e.g. {{.State.Status}}
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of this type
    #[arg(long = "type", value_parser = ["container", "image"])]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn container_json(store: &Store, c: &Container) -> Value {
    let r = &c.record;
    let s = &c.state;
    let cfg = &r.config;
    let dir = record::container_dir(store.root(), &r.id);
    let lower: Vec<String> = cfg
        .layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let mut value = json!({
        "Id": r.id,
        "Created": r.created,
        "Path": cfg.args.first().cloned().unwrap_or_default(),
        "Args": cfg.args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status == Status::Running || s.status == Status::Paused,
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": s.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "Health": s.health,
        },
        "Image": r.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": log_path(&dir, &r.id),
        "Name": format!("/{}", r.name),
        "RestartCount": s.restart_count,
        "Driver": "overlay2",
        "Config": {
            "Hostname": cfg.hostname,
            "Domainname": cfg.domainname,
            "User": cfg.user,
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "Env": cfg.env,
            "Cmd": cfg.args,
            "Image": r.image,
            "WorkingDir": cfg.working_dir,
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
            "ExposedPorts": super::port::exposed_ports(cfg),
        },
        "HostConfig": {
            "NetworkMode": cfg.network_mode,
            "RestartPolicy": restart_policy(&cfg.restart_policy),
            "AutoRemove": cfg.auto_remove,
            "CapAdd": cfg.cap_add,
            "CapDrop": cfg.cap_drop,
            "Privileged": cfg.privileged,
            "ReadonlyRootfs": cfg.read_only,
            "SecurityOpt": security_opts(c),
            "Init": cfg.init,
            "Memory": cfg.memory.unwrap_or(0),
            "MemorySwap": cfg.memory_swap.unwrap_or(0),
            "NanoCpus": cfg.cpus.map_or(0, |c| (c * 1e9).round() as i64),
            "CpuShares": cfg.cpu_shares.unwrap_or(0),
            "PidsLimit": cfg.pids_limit,
            "PortBindings": super::port::port_bindings(cfg),
            "PublishAllPorts": cfg.publish_all,
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": lower.join(":"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
                "MergedDir": dir.join("rootfs"),
            }
        },
        "Mounts": [],
        "NetworkSettings": super::network::settings_json(store, c),
    });
    value["NetworkSettings"]["Ports"] = super::port::network_ports(c);
    super::volume::add_inspect_fields(&mut value, store, cfg);
    value
}

fn restart_policy(text: &str) -> Value {
    match text.split_once(':') {
        Some((name, n)) => {
            json!({"Name": name, "MaximumRetryCount": n.parse::<u32>().unwrap_or(0)})
        }
        None => json!({"Name": text, "MaximumRetryCount": 0}),
    }
}

fn security_opts(c: &Container) -> Vec<String> {
    let mut out = Vec::new();
    if !c.record.config.no_new_privileges {
        out.push("no-new-privileges=false".to_string());
    }
    if !c.record.config.seccomp {
        out.push("seccomp=unconfined".to_string());
    }
    out
}

/// docker's image inspect object. `RepoDigests` are `name@<manifest>` for
/// each tagged repository; berth records no parent images (`Parent` is
/// empty); the config blob is read again for the docker-only `comment`.
pub fn image_json(images: &ImageStore<'_>, image: &Image) -> Value {
    let config = serde_json::to_value(&image.config).unwrap_or_default();
    let raw: Value = images
        .content()
        .read_verified(&image.id)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let index = images.refs().load().unwrap_or_default();
    let tags: Vec<Reference> = image
        .tags
        .iter()
        .filter_map(|t| Reference::parse(t).ok())
        .collect();
    let mut repos: Vec<String> = tags.iter().map(Reference::familiar_name).collect();
    repos.dedup();
    let lower: Vec<String> = image
        .layer_dirs
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    json!({
        "Id": image.id.to_string(),
        "RepoTags": tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "RepoDigests": repos.iter().map(|r| format!("{r}@{}", image.manifest)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": image_comment(&raw, &config),
        "Created": image.created,
        "Author": config["author"].as_str().unwrap_or_default(),
        "Config": match &config["config"] {
            Value::Null => json!({}),
            c => c.clone(),
        },
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Size": image.size,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": lower.join(":")}},
        "RootFS": {"Type": "layers", "Layers": config["rootfs"]["diff_ids"]},
        "Metadata": {"LastTagTime": index.last_tag_time(&image.id).unwrap_or(ZERO_TIME)},
    })
}

/// docker keeps the commit message in the config's `comment`; berth's own
/// imports keep it in the newest history entry.
fn image_comment(raw: &Value, config: &Value) -> String {
    let newest = config["history"]
        .as_array()
        .and_then(|h| h.last())
        .map(|h| &h["comment"]);
    raw["comment"]
        .as_str()
        .or_else(|| newest.and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

pub fn inspect(args: &InspectArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match lookup(&store, name, args.kind.as_deref()) {
            Some(v) => found.push(v),
            None => {
                eprintln!("Error: No such object: {name}");
                failed = true;
            }
        }
    }
    write_inspected(args.format.as_deref(), found)?;
    Ok(if failed { 1 } else { 0 })
}

/// Each object through the template, or all of them as a JSON array indented
/// like docker's (four spaces, Go's escaping).
pub fn write_inspected(format: Option<&str>, found: Vec<Value>) -> Result<(), CliError> {
    let text = match format {
        Some(template) => found
            .iter()
            .map(|v| render_template(template, v).map(|t| format!("{t}\n")))
            .collect::<Result<String, String>>()
            .map_err(engine)?,
        None => format!("{}\n", go_json(&indented(&Value::Array(found)))),
    };
    print(&text)
}

fn indented(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    match value.serialize(&mut serializer) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => value.to_string(),
    }
}

fn lookup(store: &Store, name: &str, kind: Option<&str>) -> Option<Value> {
    if kind != Some("image")
        && let Ok(c) = lifecycle::find(store, name)
    {
        return Some(container_json(store, &c));
    }
    let images = ImageStore::new(store);
    if kind != Some("container")
        && let Ok(image) = images.resolve(name)
    {
        return Some(image_json(&images, &image));
    }
    None
}

/// Go-template subset: literal text, `{{.Field.Path}}` and `{{json .Field}}`.
pub fn render_template(template: &str, value: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {template:?}"))?;
        out.push_str(&action(after[..close].trim(), value)?);
        rest = &after[close + 2..];
    }
    out.push_str(&rest.replace("\\n", "\n"));
    Ok(out)
}

fn action(text: &str, value: &Value) -> Result<String, String> {
    let (as_json, path) = match text.strip_prefix("json ") {
        Some(p) => (true, p.trim()),
        None => (false, text),
    };
    let path = path
        .strip_prefix('.')
        .ok_or_else(|| format!("template: unsupported action {{{{{text}}}}}"))?;
    let mut v = value;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        v = v
            .get(key)
            .ok_or_else(|| format!("template: can't evaluate field {key}"))?;
    }
    Ok(if as_json { v.to_string() } else { go_text(v) })
}

/// How Go's text/template prints a value.
fn go_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let v = json!({"State": {"Status": "running", "Pid": 42}, "Config": {"Env": ["A=1", "B=2"]}, "Name": "/x"});
        assert_eq!(
            render_template("{{.State.Status}}", &v),
            Ok("running".into())
        );
        assert_eq!(
            render_template("{{ .State.Pid }} {{.Name}}", &v),
            Ok("42 /x".into())
        );
        assert_eq!(
            render_template("{{json .Config.Env}}", &v),
            Ok("[\"A=1\",\"B=2\"]".into())
        );
        assert_eq!(
            render_template("{{.Config.Env}}", &v),
            Ok("[A=1 B=2]".into())
        );
        assert!(render_template("{{.Nope}}", &v).is_err());
        assert!(render_template("{{.State", &v).is_err());
    }
}
