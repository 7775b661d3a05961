//! One service, from its (merged, interpolated, schema-valid) node to the model.

use std::collections::BTreeMap;

use super::read::At;
use super::{ports, volumes};
use crate::spec::dotenv;
use crate::spec::error::SpecError;
use crate::spec::load::Env;
use crate::spec::model::{
    Condition, Dependency, Deploy, EnvFile, FileRef, Healthcheck, Port, ResourceSpec, Resources,
    Service, ServiceNetwork, ServiceVolume, TmpfsOptions, Ulimit, VolumeKind,
};
use crate::spec::yaml::{Node, Value};

/// Service keys that berth reads into typed fields.
pub const TYPED_KEYS: &[&str] = &[
    "build",
    "command",
    "configs",
    "depends_on",
    "deploy",
    "dns",
    "dns_search",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "extra_hosts",
    "healthcheck",
    "image",
    "ipc",
    "label_file",
    "labels",
    "links",
    "mem_limit",
    "memswap_limit",
    "network_mode",
    "networks",
    "pid",
    "ports",
    "profiles",
    "restart",
    "scale",
    "secrets",
    "shm_size",
    "stop_grace_period",
    "sysctls",
    "tmpfs",
    "ulimits",
    "volumes",
    "volumes_from",
];

/// Service keys kept as written (schema-validated) for the runtime to read.
pub const PASSTHROUGH_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "domainname",
    "external_links",
    "gpus",
    "group_add",
    "hostname",
    "init",
    "isolation",
    "logging",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "models",
    "oom_kill_disable",
    "oom_score_adj",
    "pids_limit",
    "platform",
    "post_start",
    "pre_start",
    "pre_stop",
    "privileged",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "runtime",
    "security_opt",
    "stdin_open",
    "stop_signal",
    "storage_opt",
    "tty",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "working_dir",
];

pub fn service(name: &str, node: &Node, env: &Env) -> Result<Service, SpecError> {
    let base = format!("services.{name}");
    let mut svc = Service::default();
    let Some(map) = node.as_map() else {
        // `name:` with no body: a service with nothing set.
        return Ok(svc);
    };
    let mut env_files: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut label_files: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (key, value) in map.iter() {
        let path = format!("{base}.{key}");
        let at = At::new(value, &path);
        if key.starts_with("x-") || PASSTHROUGH_KEYS.contains(&key.as_str()) {
            svc.extra.insert(key.clone(), cast_passthrough(key, at)?);
            continue;
        }
        match key.as_str() {
            "image" => svc.image = at.opt_string()?,
            "build" => svc.build = Some(build(at)?),
            "command" => svc.command = at.command()?,
            "entrypoint" => svc.entrypoint = at.command()?,
            "environment" => svc.environment = environment(at, env)?,
            "env_file" => {
                svc.env_file = env_file_list(at)?;
                env_files = read_env_files(&svc.env_file, at, env)?;
            }
            "label_file" => {
                let files = env_file_list(at)?;
                label_files = read_env_files(&files, at, env)?;
            }
            "labels" => svc.labels = text_map(at.list_or_dict()?),
            "ports" => svc.ports = port_list(at)?,
            "expose" => svc.expose = at.string_or_list()?,
            "volumes" => svc.volumes = volume_list(at)?,
            "volumes_from" => svc.volumes_from = at.string_or_list()?,
            "tmpfs" => svc.tmpfs = at.string_or_list()?,
            "depends_on" => svc.depends_on = depends_on(at)?,
            "links" => svc.links = at.string_or_list()?,
            "healthcheck" => svc.healthcheck = Some(healthcheck(at)?),
            "restart" => svc.restart = Some(restart(at)?),
            "deploy" => svc.deploy = deploy(at)?,
            "scale" => set_replicas(&mut svc, at)?,
            "networks" => svc.networks = networks(at)?,
            "network_mode" => svc.network_mode = at.opt_string()?,
            "ipc" => svc.ipc = at.opt_string()?,
            "pid" => svc.pid = at.opt_string()?,
            "secrets" => svc.secrets = file_refs(at)?,
            "configs" => svc.configs = file_refs(at)?,
            "ulimits" => svc.ulimits = ulimits(at)?,
            "sysctls" => svc.sysctls = text_map(at.list_or_dict()?),
            "extra_hosts" => svc.extra_hosts = extra_hosts(at)?,
            "dns" => svc.dns = at.string_or_list()?,
            "dns_search" => svc.dns_search = at.string_or_list()?,
            "profiles" => svc.profiles = at.string_or_list()?,
            "stop_grace_period" => svc.stop_grace_period = Some(at.duration()?),
            "mem_limit" => svc.mem_limit = Some(at.bytes()?),
            "memswap_limit" => svc.memswap_limit = Some(memswap(at)?),
            "shm_size" => svc.shm_size = Some(at.bytes()?),
            "extends" => {}
            other => {
                let at_key = map.key_pos(other).unwrap_or(&value.pos).clone();
                return Err(SpecError::UnknownKey {
                    at: at_key,
                    path: base,
                    key: other.to_string(),
                });
            }
        }
    }
    // Values from env files come first; `environment` overrides them.
    for (k, v) in env_files {
        svc.environment.entry(k).or_insert(v);
    }
    for (k, v) in label_files {
        svc.labels.entry(k).or_insert(v.unwrap_or_default());
    }
    if map.get("scale").is_some() && map.get("deploy").is_some() {
        check_scale_matches(&svc, map.get("scale"), &base)?;
    }
    Ok(svc)
}

/// The schema lets numbers and booleans be written as strings (so that they can
/// be interpolated); the normalized form has the real type, as in docker compose.
fn cast_passthrough(key: &str, at: At<'_>) -> Result<serde_json::Value, SpecError> {
    let is_string = matches!(at.node.value, Value::Str(_));
    if !is_string {
        return Ok(at.node.to_json());
    }
    Ok(match key {
        "attach" | "init" | "oom_kill_disable" | "privileged" | "read_only" | "stdin_open"
        | "tty" | "use_api_socket" => at.bool()?.into(),
        "cpu_count" | "cpu_period" | "cpu_quota" | "cpu_rt_period" | "cpu_rt_runtime"
        | "cpu_shares" | "oom_score_adj" | "pids_limit" | "mem_swappiness" => at.int()?.into(),
        "cpus" | "cpu_percent" => at.float()?.into(),
        "mem_reservation" => at.bytes()?.into(),
        _ => at.node.to_json(),
    })
}

fn text_map(map: BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

fn build(at: At<'_>) -> Result<serde_json::Value, SpecError> {
    let mut json = match &at.node.value {
        Value::Str(context) => serde_json::json!({ "context": context }),
        Value::Map(_) => at.node.to_json(),
        _ => return Err(at.err("must be a build context path or a mapping")),
    };
    if let Some(obj) = json.as_object_mut() {
        obj.entry("context").or_insert_with(|| ".".into());
        obj.entry("dockerfile")
            .or_insert_with(|| "Dockerfile".into());
    }
    Ok(json)
}

/// `KEY` without a value takes the variable from the environment, as in docker compose.
fn environment(at: At<'_>, env: &Env) -> Result<BTreeMap<String, Option<String>>, SpecError> {
    let mut out = at.list_or_dict()?;
    for (key, value) in out.iter_mut() {
        if value.is_none() {
            *value = env.get(key);
            if value.is_none() {
                tracing::warn!(
                    "{}: variable {key} is not set, so the container gets none",
                    at.path
                );
            }
        }
    }
    Ok(out)
}

fn env_file_list(at: At<'_>) -> Result<Vec<EnvFile>, SpecError> {
    let one = |at: At<'_>| -> Result<EnvFile, SpecError> {
        match &at.node.value {
            Value::Map(m) => Ok(EnvFile {
                path: m
                    .get("path")
                    .and_then(Node::scalar_text)
                    .ok_or_else(|| at.err("an env_file entry needs a path"))?,
                required: match m.get("required") {
                    Some(n) => At::new(n, at.path).bool()?,
                    None => true,
                },
                format: m.get("format").and_then(Node::scalar_text),
            }),
            _ => Ok(EnvFile {
                path: at.string()?,
                required: true,
                format: None,
            }),
        }
    };
    match &at.node.value {
        Value::Seq(items) => at.each(items, one),
        Value::Null => Ok(Vec::new()),
        _ => Ok(vec![one(at)?]),
    }
}

fn read_env_files(
    files: &[EnvFile],
    at: At<'_>,
    env: &Env,
) -> Result<BTreeMap<String, Option<String>>, SpecError> {
    let mut out = BTreeMap::new();
    for file in files {
        let text = match std::fs::read_to_string(&file.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file.required => continue,
            Err(e) => return Err(at.err(format!("cannot read env file {}: {e}", file.path))),
        };
        if file.format.as_deref() == Some("raw") {
            out.extend(raw_env(&text));
            continue;
        }
        let lookup = |name: &str| env.get(name);
        let pairs = dotenv::parse(&text, &lookup).map_err(|e| SpecError::EnvFile {
            file: file.path.clone().into(),
            line: e.line,
            message: e.message,
        })?;
        out.extend(pairs);
    }
    Ok(out)
}

/// `format: raw`: `KEY=VALUE` lines taken literally, no quotes, no interpolation.
fn raw_env(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.to_string())),
            None => (l.trim().to_string(), None),
        })
        .collect()
}

fn port_list(at: At<'_>) -> Result<Vec<Port>, SpecError> {
    let Some(items) = at.node.as_seq() else {
        return Err(at.err("must be a list"));
    };
    let nested = at.each(items, |at| match &at.node.value {
        Value::Int(i) => u16::try_from(*i)
            .ok()
            .filter(|p| *p > 0)
            .map(|target| ports::parse_short(&target.to_string()))
            .unwrap_or_else(|| Err(format!("invalid port {i}: not a port number (1-65535)")))
            .map_err(|e| at.err(e)),
        Value::Str(s) => ports::parse_short(s).map_err(|e| at.err(e)),
        Value::Map(_) => long_port(at).map(|p| vec![p]),
        _ => Err(at.err("must be a port number, a string or a mapping")),
    })?;
    Ok(nested.into_iter().flatten().collect())
}

fn long_port(at: At<'_>) -> Result<Port, SpecError> {
    let mut port = Port {
        mode: "ingress".into(),
        host_ip: None,
        target: 0,
        published: None,
        protocol: "tcp".into(),
        app_protocol: None,
        name: None,
    };
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "target" => {
                let n = at.uint()?;
                port.target = u16::try_from(n)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| at.err(format!("{n} is not a port number (1-65535)")))?;
            }
            "published" => port.published = at.opt_string()?,
            "host_ip" => port.host_ip = at.opt_string()?,
            "protocol" => port.protocol = at.string()?,
            "mode" => port.mode = at.string()?,
            "app_protocol" => port.app_protocol = at.opt_string()?,
            "name" => port.name = at.opt_string()?,
            _ => {}
        }
    }
    if port.target == 0 {
        return Err(at.err("a port needs a target"));
    }
    Ok(port)
}

fn volume_list(at: At<'_>) -> Result<Vec<ServiceVolume>, SpecError> {
    let Some(items) = at.node.as_seq() else {
        return Err(at.err("must be a list"));
    };
    at.each(items, |at| match &at.node.value {
        Value::Str(s) => volumes::parse_short(s).map_err(|e| at.err(e)),
        Value::Map(_) => long_volume(at),
        _ => Err(at.err("must be a string or a mapping")),
    })
}

fn long_volume(at: At<'_>) -> Result<ServiceVolume, SpecError> {
    let mut json = at.node.to_json();
    // Sizes in tmpfs options may be written `64m`; the model keeps bytes.
    if let Some(size) = json.pointer("/tmpfs/size").cloned() {
        let text = match &size {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let bytes = crate::spec::units::parse_bytes(&text).map_err(|e| at.err(e))?;
        json["tmpfs"]["size"] = bytes.into();
    }
    let volume: ServiceVolume =
        serde_json::from_value(json).map_err(|e| at.err(format!("invalid volume: {e}")))?;
    if !volume.target.starts_with('/') {
        return Err(at.err(format!(
            "the container path {:?} must be absolute",
            volume.target
        )));
    }
    if volume.kind == VolumeKind::Tmpfs && volume.tmpfs.is_none() {
        return Ok(ServiceVolume {
            tmpfs: Some(TmpfsOptions::default()),
            ..volume
        });
    }
    Ok(volume)
}

fn depends_on(at: At<'_>) -> Result<BTreeMap<String, Dependency>, SpecError> {
    let mut out = BTreeMap::new();
    match &at.node.value {
        Value::Seq(items) => {
            for name in at.each(items, |at| at.string())? {
                out.insert(name, dependency(Condition::ServiceStarted));
            }
        }
        Value::Map(_) => {
            for (name, node, path) in at.entries()? {
                out.insert(name.to_string(), long_dependency(At::new(node, &path))?);
            }
        }
        _ => return Err(at.err("must be a list of services or a mapping")),
    }
    Ok(out)
}

fn dependency(condition: Condition) -> Dependency {
    Dependency {
        condition,
        required: true,
        restart: false,
    }
}

fn long_dependency(at: At<'_>) -> Result<Dependency, SpecError> {
    let mut dep = dependency(Condition::ServiceStarted);
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "condition" => {
                dep.condition = match at.string()?.as_str() {
                    "service_started" => Condition::ServiceStarted,
                    "service_healthy" => Condition::ServiceHealthy,
                    "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                    other => {
                        return Err(at.err(format!(
                            "unknown condition {other:?}: use service_started, service_healthy or service_completed_successfully"
                        )));
                    }
                }
            }
            "required" => dep.required = at.bool()?,
            "restart" => dep.restart = at.bool()?,
            _ => {}
        }
    }
    Ok(dep)
}

fn healthcheck(at: At<'_>) -> Result<Healthcheck, SpecError> {
    let mut hc = Healthcheck::default();
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "test" => hc.test = health_test(at)?,
            "interval" => hc.interval = Some(at.duration()?),
            "timeout" => hc.timeout = Some(at.duration()?),
            "start_period" => hc.start_period = Some(at.duration()?),
            "start_interval" => hc.start_interval = Some(at.duration()?),
            "retries" => hc.retries = Some(at.uint()?),
            "disable" => hc.disable = at.bool()?,
            _ => {}
        }
    }
    if hc.test.first().map(String::as_str) == Some("NONE") {
        hc.disable = true;
    }
    Ok(hc)
}

/// A string test runs in a shell (`CMD-SHELL`); a list says how itself.
fn health_test(at: At<'_>) -> Result<Vec<String>, SpecError> {
    match &at.node.value {
        Value::Str(s) => Ok(vec!["CMD-SHELL".into(), s.clone()]),
        Value::Seq(items) => {
            let words = at.each(items, |at| at.string())?;
            match words.first().map(String::as_str) {
                Some("CMD" | "CMD-SHELL" | "NONE") | None => Ok(words),
                Some(other) => Err(at.err(format!(
                    "a test list starts with CMD, CMD-SHELL or NONE, not {other:?}"
                ))),
            }
        }
        _ => Err(at.err("must be a string or a list")),
    }
}

fn restart(at: At<'_>) -> Result<String, SpecError> {
    let text = at.string()?;
    let ok = match text.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        None => matches!(
            text.as_str(),
            "no" | "always" | "on-failure" | "unless-stopped"
        ),
        Some(_) => false,
    };
    if !ok {
        return Err(at.err(format!(
            "invalid restart policy {text:?}: use no, always, on-failure[:max-retries] or unless-stopped"
        )));
    }
    Ok(text)
}

fn deploy(at: At<'_>) -> Result<Option<Deploy>, SpecError> {
    if at.node.is_null() {
        return Ok(None);
    }
    let mut d = Deploy::default();
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "replicas" => d.replicas = Some(replicas(at)?),
            "resources" => d.resources = Some(resources(at)?),
            _ => {
                d.extra.insert(key.to_string(), node.to_json());
            }
        }
    }
    Ok(Some(d))
}

fn replicas(at: At<'_>) -> Result<u32, SpecError> {
    let n = at.uint()?;
    u32::try_from(n).map_err(|_| at.err(format!("{n} replicas is too many")))
}

fn set_replicas(svc: &mut Service, at: At<'_>) -> Result<(), SpecError> {
    let n = replicas(at)?;
    svc.deploy.get_or_insert_with(Deploy::default).replicas = Some(n);
    Ok(())
}

fn check_scale_matches(svc: &Service, scale: Option<&Node>, base: &str) -> Result<(), SpecError> {
    let Some(scale) = scale else { return Ok(()) };
    let path = format!("{base}.scale");
    let at = At::new(scale, &path);
    let wanted = replicas(at)?;
    match svc.deploy.as_ref().and_then(|d| d.replicas) {
        Some(n) if n != wanted => Err(at.err(format!(
            "scale ({wanted}) and deploy.replicas ({n}) disagree"
        ))),
        _ => Ok(()),
    }
}

fn resources(at: At<'_>) -> Result<Resources, SpecError> {
    let mut r = Resources::default();
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "limits" => r.limits = Some(resource_spec(at)?),
            "reservations" => r.reservations = Some(resource_spec(at)?),
            _ => {}
        }
    }
    Ok(r)
}

fn resource_spec(at: At<'_>) -> Result<ResourceSpec, SpecError> {
    let mut spec = ResourceSpec::default();
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "cpus" => spec.cpus = Some(at.float()?),
            "memory" => spec.memory = Some(at.bytes()?),
            "pids" => spec.pids = Some(at.int()?),
            _ => {
                spec.extra.insert(key.to_string(), node.to_json());
            }
        }
    }
    Ok(spec)
}

fn networks(at: At<'_>) -> Result<BTreeMap<String, Option<ServiceNetwork>>, SpecError> {
    let mut out = BTreeMap::new();
    match &at.node.value {
        Value::Seq(items) => {
            for name in at.each(items, |at| at.string())? {
                out.insert(name, None);
            }
        }
        Value::Map(_) => {
            for (name, node, path) in at.entries()? {
                let at = At::new(node, &path);
                let value = if node.is_null() {
                    None
                } else {
                    Some(service_network(at)?)
                };
                out.insert(name.to_string(), value);
            }
        }
        _ => return Err(at.err("must be a list of networks or a mapping")),
    }
    Ok(out)
}

fn service_network(at: At<'_>) -> Result<ServiceNetwork, SpecError> {
    let mut net = ServiceNetwork::default();
    for (key, node, path) in at.entries()? {
        let at = At::new(node, &path);
        match key {
            "aliases" => net.aliases = at.string_or_list()?,
            "ipv4_address" => net.ipv4_address = at.opt_string()?,
            "ipv6_address" => net.ipv6_address = at.opt_string()?,
            _ => {
                net.extra.insert(key.to_string(), node.to_json());
            }
        }
    }
    Ok(net)
}

fn file_refs(at: At<'_>) -> Result<Vec<FileRef>, SpecError> {
    let Some(items) = at.node.as_seq() else {
        return Err(at.err("must be a list"));
    };
    at.each(items, |at| match &at.node.value {
        Value::Map(_) => {
            let mut r = FileRef {
                source: String::new(),
                target: None,
                uid: None,
                gid: None,
                mode: None,
            };
            for (key, node, path) in at.entries()? {
                let at = At::new(node, &path);
                match key {
                    "source" => r.source = at.string()?,
                    "target" => r.target = at.opt_string()?,
                    "uid" => r.uid = at.opt_string()?,
                    "gid" => r.gid = at.opt_string()?,
                    "mode" => r.mode = Some(file_mode(at)?),
                    _ => {}
                }
            }
            Ok(r)
        }
        _ => Ok(FileRef {
            source: at.string()?,
            target: None,
            uid: None,
            gid: None,
            mode: None,
        }),
    })
}

/// Modes are written in octal as strings (`"0440"`) or as decimal numbers.
fn file_mode(at: At<'_>) -> Result<u32, SpecError> {
    let parsed = match &at.node.value {
        Value::Int(i) => u32::try_from(*i).ok(),
        Value::Str(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
        _ => None,
    };
    parsed.ok_or_else(|| at.err("a file mode is an octal string like \"0440\" or a number"))
}

fn ulimits(at: At<'_>) -> Result<BTreeMap<String, Ulimit>, SpecError> {
    let mut out = BTreeMap::new();
    for (name, node, path) in at.entries()? {
        let at = At::new(node, &path);
        let limit = match &node.value {
            Value::Map(m) => {
                let part = |k: &str| -> Result<i64, SpecError> {
                    let n = m.get(k).ok_or_else(|| at.err(format!("missing `{k}`")))?;
                    At::new(n, &format!("{path}.{k}")).int()
                };
                let (soft, hard) = (part("soft")?, part("hard")?);
                if soft > hard {
                    return Err(at.err(format!("soft limit {soft} is above hard limit {hard}")));
                }
                Ulimit::Range { soft, hard }
            }
            _ => Ulimit::Single(at.int()?),
        };
        out.insert(name.to_string(), limit);
    }
    Ok(out)
}

/// Both `host:ip` and `host=ip` list entries and the mapping form become `host=ip`.
fn extra_hosts(at: At<'_>) -> Result<Vec<String>, SpecError> {
    match &at.node.value {
        Value::Map(_) => {
            let mut out = Vec::new();
            for (host, node, path) in at.entries()? {
                for ip in At::new(node, &path).string_or_list()? {
                    out.push(format!("{host}={ip}"));
                }
            }
            Ok(out)
        }
        _ => Ok(at
            .string_or_list()?
            .into_iter()
            .map(|entry| match entry.split_once('=') {
                Some(_) => entry,
                None => match entry.split_once(':') {
                    Some((host, ip)) => format!("{host}={ip}"),
                    None => entry,
                },
            })
            .collect()),
    }
}

fn memswap(at: At<'_>) -> Result<i64, SpecError> {
    match &at.node.value {
        Value::Int(-1) => Ok(-1),
        _ => i64::try_from(at.bytes()?).map_err(|_| at.err("size too large")),
    }
}
