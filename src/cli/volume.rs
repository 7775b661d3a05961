//! `volume create|ls|inspect|rm|prune`, and the volume parts of `inspect`,
//! `system df` and `system prune`.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::disk::push_section;
use super::images::confirm;
use super::inspect::write_inspected;
use super::output::{docker_table, go_json, human_size, templated_rows};
use super::{CliError, each, engine, print};
use crate::runtime::container::record::RunConfig;
use crate::runtime::store::Store;
use crate::runtime::volume::local::{self, Pruned};
use crate::runtime::volume::{
    MountKind, MountSpec, Origin, Volume, VolumeError, VolumeRequest, Volumes,
};

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = local::DRIVER)]
    pub driver: String,
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set driver specific options (type=, device=, o=)
    #[arg(short = 'o', long = "opt")]
    pub opts: Vec<String>,
    /// The volume's name (a random one when left out)
    #[arg(long = "name", hide = true)]
    pub name_flag: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output: dangling=true|false, name=, label=KEY[=VALUE], driver=
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output: table, json, table TEMPLATE or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using a Go-template field path, e.g. {{.Mountpoint}}
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not complain about volumes that do not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (label=KEY[=VALUE], label!=KEY[=VALUE])
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

pub fn volume(cmd: &VolumeCommand, root: &Path) -> Result<i32, CliError> {
    match cmd {
        VolumeCommand::Create(args) => create(args, root),
        VolumeCommand::Ls(args) => ls(args, root),
        VolumeCommand::Inspect(args) => inspect(args, root),
        VolumeCommand::Rm(args) => rm(args, root),
        VolumeCommand::Prune(args) => prune(args, root),
    }
}

/// `KEY=VALUE` pairs; a bare `KEY` has an empty value.
fn pairs(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn create(args: &CreateArgs, root: &Path) -> Result<i32, CliError> {
    let name = match (&args.name, &args.name_flag) {
        (Some(a), Some(b)) if a != b => {
            return Err(CliError::Usage(format!(
                "conflicting options: either specify --name or provide positional arg, not both ({b} and {a})"
            )));
        }
        (Some(a), _) => Some(a.clone()),
        (None, b) => b.clone(),
    };
    for opt in &args.opts {
        if !opt.contains('=') {
            return Err(CliError::Usage(format!(
                "invalid argument \"{opt}\" for \"-o, --opt\" flag: invalid key value pair format in driver options"
            )));
        }
    }
    let store = Store::open(root).map_err(engine)?;
    let request = VolumeRequest {
        name,
        driver: args.driver.clone(),
        labels: pairs(&args.labels),
        options: pairs(&args.opts),
    };
    match Volumes::lock(&store).and_then(|v| v.create(&request)) {
        Ok(volume) => print(&format!("{}\n", volume.name)).map(|()| 0),
        Err(e) if user_error(&e) => daemon_error(&e.to_string()),
        Err(e) => Err(engine(e)),
    }
}

/// docker reports what the user got wrong as the daemon's answer, status 1;
/// berth's own failures stay engine errors (125).
fn daemon_error(message: &str) -> Result<i32, CliError> {
    eprintln!("Error response from daemon: {message}");
    Ok(1)
}

fn user_error(e: &VolumeError) -> bool {
    matches!(
        e,
        VolumeError::InvalidName { .. }
            | VolumeError::NameTooShort { .. }
            | VolumeError::UnknownDriver { .. }
            | VolumeError::DriverConflict { .. }
            | VolumeError::InvalidOption { .. }
            | VolumeError::MissingOption { .. }
    )
}

/// `volume ls` filters: one key's values are alternatives, keys all apply.
fn filter_volumes(
    volumes: Vec<Volume>,
    filters: &[String],
    users: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Volume>, String> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in filters {
        let (key, value) = f
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {f}"))?;
        if !matches!(key, "dangling" | "name" | "label" | "driver") {
            return Err(format!("invalid filter '{key}'"));
        }
        if key == "dangling" && !matches!(value, "true" | "false" | "1" | "0") {
            return Err(format!("invalid filter 'dangling={value}'"));
        }
        by_key.entry(key).or_default().push(value);
    }
    let keep = |v: &Volume| {
        by_key.iter().all(|(key, values)| {
            values.iter().any(|value| match *key {
                "dangling" => matches!(*value, "true" | "1") != users.contains_key(&v.name),
                "name" => v.name.contains(value),
                "driver" => v.driver == *value,
                _ => label_matches(&v.shown_labels(), value),
            })
        })
    };
    Ok(volumes.into_iter().filter(keep).collect())
}

fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

fn labels_text(v: &Volume) -> String {
    v.shown_labels()
        .iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The fields `volume ls --format` templates see.
fn ls_fields(store: &Store, v: &Volume) -> Value {
    json!({
        "Name": v.name, "Driver": v.driver, "Scope": "local",
        "Mountpoint": v.mountpoint(store), "Labels": labels_text(v),
        "Links": "N/A", "Size": "N/A", "Availability": "N/A", "Group": "N/A", "Status": "N/A",
    })
}

/// docker's titles for `volume ls --format 'table ...'` fields.
const VOLUME_TITLES: &[(&str, &str)] = &[("Name", "VOLUME NAME")];

fn ls(args: &LsArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let users = local::users(&store).map_err(engine)?;
    let all = local::list(&store).map_err(engine)?;
    let volumes = match filter_volumes(all, &args.filters, &users) {
        Ok(v) => v,
        Err(message) => return daemon_error(&message),
    };
    if args.quiet {
        let names: String = volumes.iter().map(|v| format!("{}\n", v.name)).collect();
        return print(&names).map(|()| 0);
    }
    let format = args.format.as_deref().unwrap_or("table").trim();
    let text = match format {
        "table" => {
            let rows: Vec<Vec<String>> = volumes
                .iter()
                .map(|v| vec![v.driver.clone(), v.name.clone()])
                .collect();
            docker_table(&["DRIVER", "VOLUME NAME"], &rows)
        }
        "json" => volumes
            .iter()
            .map(|v| format!("{}\n", go_json(&ls_fields(&store, v).to_string())))
            .collect(),
        template => {
            let rows: Vec<Value> = volumes.iter().map(|v| ls_fields(&store, v)).collect();
            templated_rows(&rows, template, VOLUME_TITLES).map_err(CliError::Usage)?
        }
    };
    print(&text)?;
    Ok(0)
}

/// docker's `volume inspect` object.
pub fn volume_json(store: &Store, v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": v.shown_labels(),
        "Mountpoint": v.mountpoint(store),
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    })
}

fn inspect(args: &InspectArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match local::get(&store, name) {
            Ok(v) => found.push(volume_json(&store, &v)),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    if !(failed && found.is_empty() && args.format.is_some()) {
        write_inspected(args.format.as_deref(), found)?;
    }
    Ok(i32::from(failed))
}

fn rm(args: &RmArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let vols = Volumes::lock(&store).map_err(engine)?;
    each(&args.names, |name| {
        vols.remove(name, args.force).map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

/// `--filter label=` / `label!=` of the prune verbs.
pub fn prune_filter(filters: &[String]) -> Result<impl Fn(&Volume) -> bool + use<>, String> {
    let mut wanted = Vec::new();
    for f in filters {
        let parsed = if let Some(v) = f.strip_prefix("label!=") {
            (false, v.to_string())
        } else if let Some(v) = f.strip_prefix("label=") {
            (true, v.to_string())
        } else {
            return Err(format!("invalid filter '{f}'"));
        };
        wanted.push(parsed);
    }
    Ok(move |v: &Volume| {
        let labels = v.shown_labels();
        wanted
            .iter()
            .all(|(want, label)| label_matches(&labels, label) == *want)
    })
}

fn prune(args: &PruneArgs, root: &Path) -> Result<i32, CliError> {
    let wanted = match prune_filter(&args.filters) {
        Ok(w) => w,
        Err(message) => return daemon_error(&message),
    };
    let which = if args.all { "all" } else { "anonymous" };
    let warning = format!(
        "WARNING! This will remove {which} local volumes not used by at least one container.\nAre you sure you want to continue?"
    );
    if !args.force && !confirm(&warning)? {
        return Ok(0);
    }
    let store = Store::open(root).map_err(engine)?;
    let pruned = prune_volumes(&store, args.all, wanted)?;
    let mut out = String::new();
    push_section(&mut out, "Deleted Volumes:", &pruned.names);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(pruned.reclaimed, 4)
    ));
    print(&out)?;
    Ok(0)
}

/// Unused volumes (anonymous ones only unless `all`) that `wanted` accepts.
pub fn prune_volumes(
    store: &Store,
    all: bool,
    wanted: impl Fn(&Volume) -> bool,
) -> Result<Pruned, CliError> {
    Volumes::lock(store)
        .and_then(|v| v.prune(all, wanted))
        .map_err(engine)
}

/// `system df`'s volume line: count, in use, bytes, bytes of unused ones.
pub fn disk_usage(store: &Store) -> Result<(usize, usize, u64, u64), CliError> {
    let users = local::users(store).map_err(engine)?;
    let volumes = local::list(store).map_err(engine)?;
    let (mut active, mut size, mut free) = (0, 0, 0);
    for v in &volumes {
        let bytes = local::size(store, v);
        size += bytes;
        if users.contains_key(&v.name) {
            active += 1;
        } else {
            free += bytes;
        }
    }
    Ok((volumes.len(), active, size, free))
}

/// The mount parts of a container's `inspect`: `Mounts`, the `HostConfig`
/// lists and `Config.Volumes`, where docker puts them.
pub fn add_inspect_fields(value: &mut Value, store: &Store, cfg: &RunConfig) {
    let mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .filter(|m| m.origin != Origin::Tmpfs)
        .map(|m| mount_point(store, m))
        .collect();
    value["Mounts"] = json!(mounts);
    let binds: Vec<&str> = cfg
        .mounts
        .iter()
        .filter(|m| m.origin == Origin::Volume && !m.anonymous)
        .map(|m| m.raw.as_str())
        .collect();
    let host = &mut value["HostConfig"];
    host["Binds"] = null_if_empty(json!(binds));
    host["VolumesFrom"] = null_if_empty(json!(cfg.volumes_from));
    let flag_mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .filter(|m| m.origin == Origin::Mount)
        .map(host_mount)
        .collect();
    if !flag_mounts.is_empty() {
        host["Mounts"] = json!(flag_mounts);
    }
    let tmpfs: BTreeMap<&str, &str> = cfg
        .mounts
        .iter()
        .filter(|m| m.origin == Origin::Tmpfs)
        .map(|m| (m.target.as_str(), m.raw.as_str()))
        .collect();
    if !tmpfs.is_empty() {
        host["Tmpfs"] = json!(tmpfs);
    }
    let anonymous: BTreeMap<&str, Value> = cfg
        .mounts
        .iter()
        .filter(|m| m.origin == Origin::Image || (m.origin == Origin::Volume && m.anonymous))
        .map(|m| (m.target.as_str(), json!({})))
        .collect();
    value["Config"]["Volumes"] = null_if_empty(json!(anonymous));
}

fn null_if_empty(v: Value) -> Value {
    let empty = match &v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if empty { Value::Null } else { v }
}

/// One entry of docker's `Mounts`.
fn mount_point(store: &Store, m: &MountSpec) -> Value {
    match m.kind {
        MountKind::Volume => json!({
            "Type": "volume", "Name": m.source,
            "Source": local::data_dir(store, &m.source),
            "Destination": m.target, "Driver": local::DRIVER, "Mode": m.mode,
            "RW": !m.read_only, "Propagation": "",
        }),
        MountKind::Bind => json!({
            "Type": "bind", "Source": m.source, "Destination": m.target,
            "Mode": m.mode, "RW": !m.read_only, "Propagation": m.propagation,
        }),
        MountKind::Tmpfs => json!({
            "Type": "tmpfs", "Source": "", "Destination": m.target,
            "Mode": "", "RW": !m.read_only, "Propagation": "",
        }),
    }
}

/// One `--mount` as docker keeps it in `HostConfig.Mounts` (empty fields left out).
fn host_mount(m: &MountSpec) -> Value {
    let mut out = json!({"Type": m.kind.as_str(), "Target": m.target});
    if !m.source.is_empty() && !m.anonymous {
        out["Source"] = json!(m.source);
    }
    if m.read_only {
        out["ReadOnly"] = json!(true);
    }
    match m.kind {
        MountKind::Bind => {
            let mut bind = json!({"Propagation": m.propagation});
            if m.non_recursive {
                bind["NonRecursive"] = json!(true);
            }
            if m.create_host_path {
                bind["CreateMountpoint"] = json!(true);
            }
            out["BindOptions"] = bind;
        }
        MountKind::Volume => {
            let mut opts = json!({});
            if m.nocopy {
                opts["NoCopy"] = json!(true);
            }
            if !m.volume_labels.is_empty() {
                opts["Labels"] = json!(m.volume_labels);
            }
            if !m.volume_options.is_empty() {
                opts["DriverConfig"] = json!({"Name": local::DRIVER, "Options": m.volume_options});
            }
            if opts.as_object().is_some_and(|o| !o.is_empty()) {
                out["VolumeOptions"] = opts;
            }
        }
        MountKind::Tmpfs => {
            let mut opts = json!({});
            for option in &m.options {
                match option.split_once('=') {
                    Some(("size", n)) => opts["SizeBytes"] = json!(n.parse::<u64>().unwrap_or(0)),
                    Some(("mode", n)) => {
                        opts["Mode"] = json!(u32::from_str_radix(n, 8).unwrap_or(0))
                    }
                    _ => {}
                }
            }
            if opts.as_object().is_some_and(|o| !o.is_empty()) {
                out["TmpfsOptions"] = opts;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)], anonymous: bool) -> Volume {
        Volume {
            name: name.into(),
            driver: "local".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            anonymous,
            ..Volume::default()
        }
    }

    fn names(v: Vec<Volume>) -> Vec<String> {
        v.into_iter().map(|v| v.name).collect()
    }

    #[test]
    fn ls_filters() {
        let all = vec![
            vol("app-data", &[("tier", "db")], false),
            vol("cache", &[], true),
            vol("logs", &[("tier", "web")], false),
        ];
        let users: BTreeMap<String, Vec<String>> =
            [("logs".to_string(), vec!["c1".to_string()])].into();
        let run = |f: &[&str]| {
            let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            filter_volumes(all.clone(), &f, &users).map(names)
        };
        assert_eq!(run(&["dangling=true"]).unwrap(), ["app-data", "cache"]);
        assert_eq!(run(&["dangling=false"]).unwrap(), ["logs"]);
        assert_eq!(run(&["name=a"]).unwrap(), ["app-data", "cache"]);
        assert_eq!(run(&["label=tier"]).unwrap(), ["app-data", "logs"]);
        assert_eq!(
            run(&["label=tier=db", "label=tier=web"]).unwrap(),
            ["app-data", "logs"]
        );
        assert_eq!(run(&["label=tier", "dangling=true"]).unwrap(), ["app-data"]);
        assert_eq!(
            run(&["label=com.docker.volume.anonymous"]).unwrap(),
            ["cache"]
        );
        assert!(run(&["dangling=maybe"]).is_err());
        assert!(run(&["color=red"]).is_err());
        assert!(run(&["nokey"]).is_err());
    }

    #[test]
    fn prune_filters() {
        let keep = prune_filter(&["label!=keep".into()]).unwrap();
        assert!(keep(&vol("a1", &[], true)));
        assert!(!keep(&vol("a2", &[("keep", "")], true)));
        assert!(prune_filter(&["until=1h".into()]).is_err());
    }

    #[test]
    fn table_templates_get_docker_headers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_readonly(dir.path());
        let render = |v: Volume, format| {
            templated_rows(&[ls_fields(&store, &v)], format, VOLUME_TITLES).unwrap()
        };
        let out = render(
            vol("data", &[("a", "b")], false),
            "table {{.Name}}\\t{{.Labels}}",
        );
        assert_eq!(out, "VOLUME NAME   LABELS\ndata          a=b\n");
        let out = render(vol("data", &[], false), "{{.Driver}}:{{.Name}}");
        assert_eq!(out, "local:data\n");
    }

    #[test]
    fn inspect_fields_follow_docker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_readonly(dir.path());
        let mounts = vec![
            MountSpec {
                kind: MountKind::Volume,
                source: "data".into(),
                target: "/d".into(),
                origin: Origin::Volume,
                raw: "data:/d".into(),
                mode: "z".into(),
                ..MountSpec::default()
            },
            MountSpec {
                kind: MountKind::Tmpfs,
                target: "/run".into(),
                origin: Origin::Tmpfs,
                raw: "size=1m".into(),
                ..MountSpec::default()
            },
            MountSpec {
                kind: MountKind::Volume,
                source: "abc".into(),
                target: "/img".into(),
                origin: Origin::Image,
                anonymous: true,
                ..MountSpec::default()
            },
            MountSpec {
                kind: MountKind::Bind,
                source: "/srv".into(),
                target: "/srv".into(),
                read_only: true,
                origin: Origin::Mount,
                propagation: "rprivate".into(),
                ..MountSpec::default()
            },
        ];
        let cfg = RunConfig {
            mounts,
            ..RunConfig::default()
        };
        let mut v = json!({"HostConfig": {}, "Config": {}, "Mounts": []});
        add_inspect_fields(&mut v, &store, &cfg);
        assert_eq!(v["Mounts"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["Mounts"][0]["Mode"], "z");
        assert_eq!(v["Mounts"][0]["Name"], "data");
        assert_eq!(v["Mounts"][2]["RW"], false);
        assert_eq!(v["Mounts"][2]["Propagation"], "rprivate");
        assert_eq!(v["HostConfig"]["Binds"], json!(["data:/d"]));
        assert_eq!(v["HostConfig"]["VolumesFrom"], Value::Null);
        assert_eq!(v["HostConfig"]["Tmpfs"], json!({"/run": "size=1m"}));
        assert_eq!(
            v["HostConfig"]["Mounts"],
            json!([{"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": true,
                    "BindOptions": {"Propagation": "rprivate"}}])
        );
        assert_eq!(v["Config"]["Volumes"], json!({"/img": {}}));
    }
}
