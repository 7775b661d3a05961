//! A stack service's replica as the runtime creates it: the service's settings
//! over the image's defaults, with compose's naming of networks and volumes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use super::hash::ConfigHash;
use super::observed::container_labels;
use super::project::LABEL_DEPENDS_ON;
use crate::runtime::container::build;
use crate::runtime::container::record::RunConfig;
use crate::runtime::image::Image;
use crate::runtime::image::config::ImageHealthcheck;
use crate::runtime::monitor::health::{HealthConfig, HealthOverride};
use crate::runtime::network::ports::{PortBinding, Proto};
use crate::runtime::volume::{MountKind, MountSpec, Origin};
use crate::spec::model::{Healthcheck, Project, Service, ServiceVolume, VolumeKind};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("service {service:?}: {message}")]
    Invalid { service: String, message: String },
    #[error("service {service:?}: {source}")]
    Build {
        service: String,
        #[source]
        source: build::BuildError,
    },
}

/// One network the container joins: its real name, aliases and fixed address.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<String>,
}

/// What to create for one replica: the config (first network in it) and the
/// further networks to connect before the first start.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub config: RunConfig,
    pub extra_networks: Vec<Attachment>,
}

pub struct Replica<'a> {
    pub project: &'a Project,
    pub name: &'a str,
    pub service: &'a Service,
    pub number: u32,
    pub hash: &'a ConfigHash,
}

impl Replica<'_> {
    fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            service: self.name.to_string(),
            message: message.into(),
        }
    }

    fn str(&self, key: &str) -> Option<String> {
        self.service.extra.get(key).and_then(value_text)
    }

    fn flag(&self, key: &str) -> bool {
        self.service
            .extra
            .get(key)
            .is_some_and(|v| v.as_bool() == Some(true))
    }

    fn list(&self, key: &str) -> Vec<String> {
        match self.service.extra.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(value_text).collect(),
            Some(v) => value_text(v).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The container's full configuration for `image`.
    pub fn build(&self, image: &Image) -> Result<ReplicaConfig, ConfigError> {
        let svc = self.service;
        let img = image.config.config().clone().unwrap_or_default();
        let args =
            build::args(image, svc.entrypoint.clone(), svc.command.clone()).map_err(|source| {
                ConfigError::Build {
                    service: self.name.to_string(),
                    source,
                }
            })?;
        let mut attachments = self.attachments();
        let first = (!attachments.is_empty()).then(|| attachments.remove(0));
        let network_mode = match (&svc.network_mode, &first) {
            (Some(mode), _) => mode.clone(),
            (None, Some(a)) => a.network.clone(),
            (None, None) => "none".to_string(),
        };
        let limits = svc
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        let (no_new_privileges, seccomp) = self.security()?;
        let config = RunConfig {
            args,
            env: build::env(image, &self.environment()),
            working_dir: self
                .str("working_dir")
                .or_else(|| img.working_dir().clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: self
                .str("user")
                .or_else(|| img.user().clone())
                .unwrap_or_default(),
            hostname: self.str("hostname").unwrap_or_else(|| {
                super::container_name(&self.project.name, self.name, svc, self.number)
            }),
            domainname: self.str("domainname").unwrap_or_default(),
            tty: self.flag("tty"),
            open_stdin: self.flag("stdin_open"),
            labels: self.labels(image),
            init: self.flag("init"),
            network_mode,
            privileged: self.flag("privileged"),
            cap_add: self.list("cap_add"),
            cap_drop: self.list("cap_drop"),
            no_new_privileges,
            seccomp,
            read_only: self.flag("read_only"),
            memory: svc.mem_limit.or(limits.memory),
            memory_swap: svc.memswap_limit,
            cpus: self.cpus().or(limits.cpus),
            cpu_shares: self.service.extra.get("cpu_shares").and_then(Value::as_u64),
            pids_limit: self
                .service
                .extra
                .get("pids_limit")
                .and_then(Value::as_i64)
                .or(limits.pids),
            auto_remove: false,
            stop_signal: self
                .str("stop_signal")
                .or_else(|| img.stop_signal().clone()),
            stop_timeout: svc.stop_grace_period.map(|d| d.as_std().as_secs()),
            restart_policy: svc.restart.clone().unwrap_or_else(|| "no".into()),
            log_max_size: self.log_opt("max-size").and_then(|v| parse_size(&v)),
            log_max_files: self.log_opt("max-file").and_then(|v| v.parse().ok()),
            healthcheck: healthcheck(svc.healthcheck.as_ref(), image.healthcheck.as_ref()),
            layers: image.layer_dirs.clone(),
            ports: self.ports()?,
            publish_all: false,
            exposed_ports: Vec::new(),
            mounts: self.mounts(image)?,
            volumes_from: svc.volumes_from.clone(),
            network_aliases: first
                .as_ref()
                .map(|a| a.aliases.clone())
                .unwrap_or_default(),
            ip: first.as_ref().and_then(|a| a.ip.clone()),
            add_hosts: svc
                .extra_hosts
                .iter()
                .map(|h| h.replacen('=', ":", 1))
                .collect(),
            dns: svc.dns.clone(),
        };
        let mut config = config;
        config.exposed_ports = config.ports.iter().map(PortBinding::container).collect();
        Ok(ReplicaConfig {
            config,
            extra_networks: attachments,
        })
    }

    fn environment(&self) -> Vec<(String, String)> {
        self.service
            .environment
            .iter()
            .filter_map(|(k, v)| {
                let value = v.clone().or_else(|| std::env::var(k).ok())?;
                Some((k.clone(), value))
            })
            .collect()
    }

    fn labels(&self, image: &Image) -> BTreeMap<String, String> {
        let img = image.config.config().clone().unwrap_or_default();
        let mut labels: BTreeMap<String, String> = img
            .labels()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        labels.extend(self.service.labels.clone());
        labels.extend(container_labels(
            &self.project.name,
            self.name,
            self.number,
            self.hash,
            false,
        ));
        let deps: Vec<String> = self
            .service
            .depends_on
            .iter()
            .map(|(name, d)| {
                let cond = serde_json::to_value(d.condition)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                format!("{name}:{cond}:{}", d.restart)
            })
            .collect();
        labels.insert(LABEL_DEPENDS_ON.to_string(), deps.join(","));
        labels
    }

    /// The service's networks in key order, by real name; the service name is
    /// always an alias, as compose makes it.
    pub fn attachments(&self) -> Vec<Attachment> {
        if self.service.network_mode.is_some() {
            return Vec::new();
        }
        self.service
            .networks
            .iter()
            .filter_map(|(key, opts)| {
                let net = self.project.networks.get(key)?;
                let mut aliases = vec![self.name.to_string()];
                let opts = opts.clone().unwrap_or_default();
                aliases.extend(opts.aliases.iter().cloned());
                Some(Attachment {
                    network: net.name.clone(),
                    aliases,
                    ip: opts.ipv4_address.clone(),
                })
            })
            .collect()
    }

    fn security(&self) -> Result<(bool, bool), ConfigError> {
        let (mut no_new_privileges, mut seccomp) = (true, true);
        for opt in self.list("security_opt") {
            match opt.replace(':', "=").as_str() {
                "no-new-privileges" | "no-new-privileges=true" => no_new_privileges = true,
                "no-new-privileges=false" => no_new_privileges = false,
                "seccomp=unconfined" => seccomp = false,
                other => {
                    return Err(self.invalid(format!(
                        "security_opt {other:?} is not supported: berth supports \
                         no-new-privileges[=true|false] and seccomp=unconfined"
                    )));
                }
            }
        }
        Ok((no_new_privileges, seccomp))
    }

    fn cpus(&self) -> Option<f64> {
        match self.service.extra.get("cpus")? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    fn log_opt(&self, key: &str) -> Option<String> {
        self.service
            .extra
            .get("logging")?
            .get("options")?
            .get(key)
            .and_then(value_text)
    }

    fn ports(&self) -> Result<Vec<PortBinding>, ConfigError> {
        let mut out = Vec::new();
        for port in &self.service.ports {
            let proto = Proto::parse(&port.protocol).ok_or_else(|| {
                self.invalid(format!("unknown port protocol {:?}", port.protocol))
            })?;
            let host_ip = match port.host_ip.as_deref().filter(|s| !s.is_empty()) {
                Some(text) => Some(
                    text.parse::<IpAddr>()
                        .map_err(|_| self.invalid(format!("invalid host_ip {text:?} in ports")))?,
                ),
                None => None,
            };
            let (host_port, host_port_end) = match port.published.as_deref() {
                None | Some("") => (0, None),
                Some(text) => self.port_range(text)?,
            };
            out.push(PortBinding {
                host_ip,
                host_port,
                host_port_end,
                container_port: port.target,
                proto,
            });
        }
        Ok(out)
    }

    fn port_range(&self, text: &str) -> Result<(u16, Option<u16>), ConfigError> {
        let bad = || self.invalid(format!("invalid published port {text:?}"));
        match text.split_once('-') {
            Some((a, b)) => Ok((
                a.parse().map_err(|_| bad())?,
                Some(b.parse().map_err(|_| bad())?),
            )),
            None => Ok((text.parse().map_err(|_| bad())?, None)),
        }
    }

    fn mounts(&self, image: &Image) -> Result<Vec<MountSpec>, ConfigError> {
        let mut out = Vec::new();
        for v in &self.service.volumes {
            out.push(self.mount(v)?);
        }
        for t in &self.service.tmpfs {
            out.push(MountSpec {
                kind: MountKind::Tmpfs,
                target: t.clone(),
                origin: Origin::Tmpfs,
                raw: String::new(),
                ..MountSpec::default()
            });
        }
        let img = image.config.config().clone().unwrap_or_default();
        for path in img.volumes().clone().unwrap_or_default() {
            out.push(MountSpec {
                kind: MountKind::Volume,
                target: path,
                origin: Origin::Image,
                ..MountSpec::default()
            });
        }
        Ok(out)
    }

    fn mount(&self, v: &ServiceVolume) -> Result<MountSpec, ConfigError> {
        let mut spec = MountSpec {
            target: v.target.clone(),
            read_only: v.read_only,
            origin: Origin::Mount,
            ..MountSpec::default()
        };
        match v.kind {
            VolumeKind::Volume => {
                spec.kind = MountKind::Volume;
                match v.source.as_deref() {
                    Some(key) => {
                        let vol = self.project.volumes.get(key).ok_or_else(|| {
                            self.invalid(format!("volume {key:?} is not declared"))
                        })?;
                        spec.source = vol.name.clone();
                    }
                    None => spec.anonymous = true,
                }
                spec.nocopy = v.volume.as_ref().and_then(|o| o.nocopy).unwrap_or(false);
            }
            VolumeKind::Bind => {
                spec.kind = MountKind::Bind;
                spec.source = v.source.clone().unwrap_or_default();
                spec.propagation = v
                    .bind
                    .as_ref()
                    .and_then(|b| b.propagation.clone())
                    .unwrap_or_else(|| "rprivate".into());
                spec.create_host_path = v
                    .bind
                    .as_ref()
                    .and_then(|b| b.create_host_path)
                    .unwrap_or(true);
            }
            VolumeKind::Tmpfs => {
                spec.kind = MountKind::Tmpfs;
                if let Some(size) = v.tmpfs.as_ref().and_then(|t| t.size) {
                    spec.options.push(format!("size={size}"));
                }
                if let Some(mode) = v.tmpfs.as_ref().and_then(|t| t.mode) {
                    spec.options.push(format!("mode={mode:o}"));
                }
            }
            other => {
                return Err(self.invalid(format!(
                    "volume type {other:?} at {} is not supported",
                    v.target
                )));
            }
        }
        Ok(spec)
    }
}

/// Compose's healthcheck over the image's: `disable` (or a NONE test) turns it
/// off; unset timings come from the image, then docker's defaults.
pub fn healthcheck(
    svc: Option<&Healthcheck>,
    image: Option<&ImageHealthcheck>,
) -> Option<HealthConfig> {
    let svc = svc.cloned().unwrap_or_default();
    let own = HealthOverride {
        disable: svc.disable,
        test: Some(svc.test).filter(|t| !t.is_empty()),
        interval: svc.interval.map(|d| d.as_std()),
        timeout: svc.timeout.map(|d| d.as_std()),
        start_period: svc.start_period.map(|d| d.as_std()),
        start_interval: svc.start_interval.map(|d| d.as_std()),
        retries: svc.retries.and_then(|r| u32::try_from(r).ok()),
    };
    own.resolve(image)
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_size(text: &str) -> Option<u64> {
    crate::spec::units::parse_bytes(text).ok()
}
