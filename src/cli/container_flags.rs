//! The flags `run` and `create` share, and how they combine with the image's
//! config into a container's [`RunConfig`], with docker's precedence rules.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::runtime::container::record::RunConfig;
use crate::runtime::image::Image;
use crate::runtime::image::config::ImageHealthcheck;
use crate::runtime::monitor::health::{HealthConfig, HealthOverride};
use crate::spec::duration::Duration;
use crate::spec::units::parse_bytes;

/// docker refuses memory limits below this.
const MIN_MEMORY: u64 = 6 * 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct ContainerFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to take it from this shell)
    #[arg(short = 'e', long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID, with an optional group (user[:group])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Network: bridge, none (loopback only), host, container:NAME|ID, or a network's name
    #[arg(long = "network", alias = "net", default_value = "bridge")]
    pub network: String,
    /// Add network-scoped aliases for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "LIST")]
    pub network_aliases: Vec<String>,
    /// IPv4 address (e.g. 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "LIST")]
    pub add_hosts: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "LIST")]
    pub dns: Vec<String>,
    /// Give extended privileges to the container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Security options: no-new-privileges[=true|false], seccomp=unconfined
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Memory limit (e.g. 512m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (e.g. 1.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Set metadata on the container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "LIST")]
    pub labels: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait for the container to stop before killing it
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u64>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Log driver options: max-size=SIZE, max-file=N (json-file)
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opts: Vec<String>,
    /// Command to run to check health (in a shell)
    #[arg(long = "health-cmd", value_name = "CMD")]
    pub health_cmd: Option<String>,
    // The timings are options, not defaults: unset ones come from the image's
    // HEALTHCHECK, then from docker's defaults.
    /// Time between running the check (e.g. 30s) [default: 30s]
    #[arg(long = "health-interval", value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run [default: 30s]
    #[arg(long = "health-timeout", value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy [default: 3]
    #[arg(long = "health-retries", value_name = "N")]
    pub health_retries: Option<u32>,
    /// Start period during which failures do not count [default: 0s]
    #[arg(long = "health-start-period", value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period [default: 5s]
    #[arg(long = "health-start-interval", value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck", conflicts_with = "health_cmd")]
    pub no_healthcheck: bool,
    /// Publish a container's port(s) to the host ([ip:][host_port:]port[/proto])
    #[arg(short = 'p', long = "publish", value_name = "LIST")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "LIST")]
    pub expose: Vec<String>,
    /// Bind mount a volume ([SOURCE:]TARGET[:OPTIONS])
    #[arg(short = 'v', long = "volume", value_name = "LIST")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,...)
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long = "tmpfs", value_name = "LIST")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from", value_name = "LIST")]
    pub volumes_from: Vec<String>,
    /// Pull the image before creating: always, missing (when absent) or never
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// The image to run, then the command and its arguments
    // One list, so that everything after the image belongs to the command even
    // when it looks like a flag (`run busybox -c ...`, as docker reads it).
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub image_and_command: Vec<String>,
}

fn invalid(message: String) -> CliError {
    CliError::Engine { message, code: 125 }
}

impl ContainerFlags {
    pub fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    pub fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }

    /// The container's configuration: flags win over the image's settings.
    pub fn to_config(&self, image: &Image, id_hint: &str) -> Result<RunConfig, CliError> {
        let img = image.config.config().clone().unwrap_or_default();
        let args = self.args(img.entrypoint().clone(), img.cmd().clone())?;
        let mut env: Vec<String> = img.env().clone().unwrap_or_default();
        for (key, value) in self.env_pairs()? {
            env.retain(|e| e.split('=').next() != Some(key.as_str()));
            env.push(format!("{key}={value}"));
        }
        let mut labels = img.labels().clone().unwrap_or_default();
        for label in &self.labels {
            let (k, v) = label.split_once('=').unwrap_or((label.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let (no_new_privileges, seccomp) = self.security()?;
        let ports = super::publish::port_config(
            &self.publish,
            &self.expose,
            self.publish_all,
            img.exposed_ports().as_deref().unwrap_or_default(),
            &self.network,
        )?;
        Ok(RunConfig {
            args,
            env,
            working_dir: self
                .workdir
                .clone()
                .or_else(|| img.working_dir().clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: self
                .user
                .clone()
                .or_else(|| img.user().clone())
                .unwrap_or_default(),
            hostname: self
                .hostname
                .clone()
                .unwrap_or_else(|| id_hint.chars().take(12).collect()),
            domainname: String::new(),
            tty: self.tty,
            open_stdin: self.interactive,
            labels: labels.into_iter().collect(),
            init: self.init,
            network_mode: self.network.clone(),
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            no_new_privileges,
            seccomp,
            read_only: self.read_only,
            memory: self.memory()?,
            memory_swap: self.memory_swap()?,
            cpus: self.cpus()?,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            auto_remove: self.rm,
            stop_signal: self
                .stop_signal
                .clone()
                .or_else(|| img.stop_signal().clone()),
            stop_timeout: self.stop_timeout,
            restart_policy: self.restart_policy()?,
            healthcheck: self.healthcheck(image.healthcheck.as_ref())?,
            log_max_size: self
                .log_opt("max-size")?
                .map(|v| {
                    parse_bytes(&v).map_err(|e| invalid(format!("invalid --log-opt max-size: {e}")))
                })
                .transpose()?,
            log_max_files: self
                .log_opt("max-file")?
                .map(|v| {
                    v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        invalid(format!(
                            "invalid --log-opt max-file={v}: a number of files, at least 1"
                        ))
                    })
                })
                .transpose()?,
            layers: image.layer_dirs.clone(),
            ports: ports.bindings,
            publish_all: self.publish_all,
            exposed_ports: ports.exposed,
            mounts: super::mount_flags::requested(
                &self.volumes,
                &self.mounts,
                &self.tmpfs,
                img.volumes().as_ref(),
            )?,
            volumes_from: self.volumes_from.clone(),
            network_aliases: self.network_aliases.clone(),
            ip: self.ip.clone(),
            add_hosts: self.add_hosts.clone(),
            dns: self.dns.clone(),
        })
    }

    /// docker's rules: `--entrypoint` replaces the image's entrypoint and drops its
    /// CMD; a command given on the line replaces CMD.
    fn args(
        &self,
        entrypoint: Option<Vec<String>>,
        cmd: Option<Vec<String>>,
    ) -> Result<Vec<String>, CliError> {
        let (entrypoint, cmd) = match &self.entrypoint {
            Some(e) if e.is_empty() => (Vec::new(), None),
            Some(e) => (vec![e.clone()], None),
            None => (entrypoint.unwrap_or_default(), cmd),
        };
        let cmd = if self.command().is_empty() {
            cmd.unwrap_or_default()
        } else {
            self.command().to_vec()
        };
        let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if args.is_empty() {
            return Err(invalid("no command specified".into()));
        }
        Ok(args)
    }

    fn env_pairs(&self) -> Result<Vec<(String, String)>, CliError> {
        let mut out = Vec::new();
        for file in &self.env_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| invalid(format!("open {}: {e}", file.display())))?;
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                out.extend(env_entry(line));
            }
        }
        for entry in &self.env {
            out.extend(env_entry(entry));
        }
        Ok(out)
    }

    /// docker's rules: `--no-healthcheck` disables any check, `--health-cmd`
    /// replaces the image's test, and each timing flag overrides the image's.
    fn healthcheck(
        &self,
        image: Option<&ImageHealthcheck>,
    ) -> Result<Option<HealthConfig>, CliError> {
        let timing = |flag: &str, given: &Option<String>| {
            given
                .as_deref()
                .map(|text| {
                    Duration::parse(text).map(Duration::as_std).map_err(|e| {
                        invalid(format!(
                            "invalid argument {text:?} for \"--{flag}\" flag: {e}"
                        ))
                    })
                })
                .transpose()
        };
        let own = HealthOverride {
            disable: self.no_healthcheck,
            test: self
                .health_cmd
                .as_ref()
                .map(|cmd| vec!["CMD-SHELL".to_string(), cmd.clone()]),
            interval: timing("health-interval", &self.health_interval)?,
            timeout: timing("health-timeout", &self.health_timeout)?,
            start_period: timing("health-start-period", &self.health_start_period)?,
            start_interval: timing("health-start-interval", &self.health_start_interval)?,
            retries: self.health_retries,
        };
        Ok(own.resolve(image))
    }

    /// The value of one `--log-opt KEY=VALUE`; unknown keys are an error.
    fn log_opt(&self, key: &str) -> Result<Option<String>, CliError> {
        let mut found = None;
        for opt in &self.log_opts {
            let (k, v) = opt
                .split_once('=')
                .ok_or_else(|| invalid(format!("invalid --log-opt {opt:?}: expected KEY=VALUE")))?;
            if !matches!(k, "max-size" | "max-file") {
                return Err(invalid(format!(
                    "unknown log opt '{k}' for json-file log driver"
                )));
            }
            if k == key {
                found = Some(v.to_string());
            }
        }
        Ok(found)
    }

    fn restart_policy(&self) -> Result<String, CliError> {
        crate::runtime::monitor::restart::Policy::validate(&self.restart).map_err(invalid)?;
        if self.rm && self.restart != "no" {
            return Err(invalid("Conflicting options: --restart and --rm".into()));
        }
        Ok(self.restart.clone())
    }

    fn security(&self) -> Result<(bool, bool), CliError> {
        let (mut no_new_privileges, mut seccomp) = (true, true);
        for opt in &self.security_opt {
            match opt.replace(':', "=").as_str() {
                "no-new-privileges" | "no-new-privileges=true" => no_new_privileges = true,
                "no-new-privileges=false" => no_new_privileges = false,
                "seccomp=unconfined" => seccomp = false,
                other => {
                    return Err(invalid(format!(
                        "invalid --security-opt {other:?}: berth supports no-new-privileges[=true|false] and seccomp=unconfined"
                    )));
                }
            }
        }
        Ok((no_new_privileges, seccomp))
    }

    fn memory(&self) -> Result<Option<u64>, CliError> {
        let Some(text) = &self.memory else {
            return Ok(None);
        };
        let bytes = parse_bytes(text).map_err(|e| {
            invalid(format!(
                "invalid argument {text:?} for \"-m, --memory\" flag: {e}"
            ))
        })?;
        if bytes < MIN_MEMORY {
            return Err(invalid("Minimum memory limit allowed is 6MB".into()));
        }
        Ok(Some(bytes))
    }

    fn memory_swap(&self) -> Result<Option<i64>, CliError> {
        match self.memory_swap.as_deref() {
            None => Ok(None),
            Some("-1") => Ok(Some(-1)),
            Some(text) => {
                let bytes = parse_bytes(text).map_err(|e| {
                    invalid(format!(
                        "invalid argument {text:?} for \"--memory-swap\" flag: {e}"
                    ))
                })?;
                i64::try_from(bytes)
                    .map(Some)
                    .map_err(|_| invalid(format!("--memory-swap {text} is too large")))
            }
        }
    }

    fn cpus(&self) -> Result<Option<f64>, CliError> {
        let Some(text) = &self.cpus else {
            return Ok(None);
        };
        let cpus: f64 = text.parse().map_err(|_| {
            invalid(format!(
                "invalid argument {text:?} for \"--cpus\" flag: not a number"
            ))
        })?;
        let available = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        if !(0.01..=available).contains(&cpus) {
            return Err(invalid(format!(
                "range of CPUs is from 0.01 to {available:.2}, as there are only {available} CPUs available"
            )));
        }
        Ok(Some(cpus))
    }
}

/// `KEY=VALUE`, or `KEY` taken from this process's environment (skipped if unset).
fn env_entry(entry: &str) -> Option<(String, String)> {
    match entry.split_once('=') {
        Some((k, v)) => Some((k.to_string(), v.to_string())),
        None => std::env::var(entry).ok().map(|v| (entry.to_string(), v)),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use std::time::Duration;

    use super::super::{Cli, Command};
    use crate::runtime::image::config::ImageHealthcheck;

    fn run_args(line: &[&str]) -> (String, Vec<String>) {
        let cli = match Cli::try_parse_from(line) {
            Ok(cli) => cli,
            Err(e) => panic!("{line:?}: {e}"),
        };
        match cli.command {
            Command::Run(args) => (
                args.flags.image().to_string(),
                args.flags.command().to_vec(),
            ),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn everything_after_the_image_is_the_command() {
        let (image, cmd) = run_args(&[
            "berth",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            "bb",
            "-c",
            "echo hi",
        ]);
        assert_eq!(image, "bb");
        assert_eq!(cmd, ["-c", "echo hi"]);
        let (image, cmd) = run_args(&["berth", "run", "-e", "A=1", "bb", "--rm", "-d"]);
        assert_eq!(image, "bb");
        assert_eq!(cmd, ["--rm", "-d"]);
    }

    fn flags(line: &[&str]) -> super::ContainerFlags {
        let mut argv = vec!["berth", "run"];
        argv.extend_from_slice(line);
        argv.push("bb");
        match Cli::try_parse_from(&argv).map(|c| c.command) {
            Ok(Command::Run(args)) => args.flags,
            other => panic!("{argv:?}: {other:?}"),
        }
    }

    fn image_check() -> ImageHealthcheck {
        ImageHealthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 2_000_000_000,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 7,
        }
    }

    #[test]
    fn the_image_healthcheck_is_used_with_flag_overrides() {
        let image = image_check();
        let got = flags(&["--health-timeout", "4s"]).healthcheck(Some(&image));
        let Ok(Some(check)) = got else {
            panic!("{got:?}")
        };
        assert_eq!(check.test, ["CMD", "true"]);
        assert_eq!(check.interval, Duration::from_secs(2));
        assert_eq!(check.timeout, Duration::from_secs(4));
        assert_eq!(check.start_interval, Duration::from_secs(5));
        assert_eq!(check.retries, 7);
    }

    #[test]
    fn health_cmd_replaces_and_no_healthcheck_disables() {
        let image = image_check();
        let got = flags(&["--health-cmd", "exit 0"]).healthcheck(Some(&image));
        let Ok(Some(check)) = got else {
            panic!("{got:?}")
        };
        assert_eq!(check.test, ["CMD-SHELL", "exit 0"]);
        assert_eq!(check.interval, Duration::from_secs(2));
        let off = flags(&["--no-healthcheck"]).healthcheck(Some(&image));
        assert!(matches!(off, Ok(None)), "{off:?}");
        let none = ImageHealthcheck {
            test: vec!["NONE".into()],
            ..image
        };
        assert!(matches!(flags(&[]).healthcheck(Some(&none)), Ok(None)));
        assert!(matches!(flags(&[]).healthcheck(None), Ok(None)));
    }

    #[test]
    fn the_image_alone_has_no_command() {
        let (image, cmd) = run_args(&["berth", "run", "-d", "bb"]);
        assert_eq!(image, "bb");
        assert!(cmd.is_empty());
    }
}
