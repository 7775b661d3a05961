//! `berth stack run SERVICE [COMMAND...]`: docker compose's one-off
//! container. The planner makes it (`planner::oneoff`); it then runs
//! attached exactly as `berth run` does (`monitor::run_foreground`), or
//! detached with `-d`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use clap::{ArgAction, Args};

use super::up::{Progress, exec_error};
use super::{CliError, StackArgs, print};
use crate::planner::oneoff::{self, OneOff};
use crate::runtime::monitor;
use crate::runtime::store::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run the container in the background and print its name
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to pass berth's own)
    #[arg(short = 'e', long = "env", value_name = "KEY[=VAL]")]
    pub env: Vec<String>,
    /// Add or override a label (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VAL")]
    pub labels: Vec<String>,
    /// Name the container
    #[arg(long)]
    pub name: Option<String>,
    /// Don't start the service's dependencies
    #[arg(long)]
    pub no_deps: bool,
    /// Override the image's entrypoint (split into words like a shell)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run as this user (user[:group])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Publish a port to the host ([ip:][host_port:]container_port[/proto])
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Publish the service's own ports too
    #[arg(long)]
    pub service_ports: bool,
    /// Don't allocate a pseudo-TTY (by default one is when stdin is a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open (default true; -i=false to close it)
    #[arg(
        short = 'i',
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub interactive: bool,
    /// Bind mount a volume ([SOURCE:]TARGET[:OPTIONS])
    #[arg(short = 'v', long = "volume", value_name = "VOLUME")]
    pub volumes: Vec<String>,
    pub service: String,
    /// The command and its arguments (default: the service's command)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(stack: &StackArgs, args: &RunArgs, root: &Path) -> Result<i32, CliError> {
    let project = stack.load()?;
    let opts = one_off(args)?;
    let store = Store::open(root).map_err(super::engine)?;
    let progress = Progress::new();
    oneoff::prepare(&store, &project, &args.service, !args.no_deps, &progress)
        .map_err(exec_error)?;
    let record = oneoff::create(&store, &project, &args.service, &opts).map_err(exec_error)?;
    if args.detach {
        monitor::start_detached(&store, &record).map_err(super::container::start_error)?;
        print(&format!("{}\n", record.name))?;
        return Ok(0);
    }
    monitor::run_foreground(&store, &record, opts.interactive)
        .map_err(super::container::start_error)
}

/// The flags as the planner takes them; bad values exit 1, as compose's do.
fn one_off(args: &RunArgs) -> Result<OneOff, CliError> {
    let entrypoint = match &args.entrypoint {
        Some(text) => Some(
            shell_words::split(text)
                .map_err(|e| CliError::Usage(format!("invalid --entrypoint {text:?}: {e}")))?,
        ),
        None => None,
    };
    let mut publish = Vec::new();
    for raw in &args.publish {
        let bindings = super::publish::parse_publish(raw)
            .map_err(|why| CliError::Usage(format!("invalid --publish {raw:?}: {why}")))?;
        publish.extend(bindings);
    }
    let mut volumes = Vec::new();
    for raw in &args.volumes {
        let spec =
            super::mount_flags::parse_volume(raw).map_err(|e| CliError::Usage(e.to_string()))?;
        volumes.push(spec);
    }
    Ok(OneOff {
        command: args.command.clone(),
        entrypoint,
        env: args.env.iter().map(|e| split_env(e)).collect(),
        labels: labels(&args.labels)?,
        name: args.name.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        publish,
        service_ports: args.service_ports,
        volumes,
        tty: !args.no_tty && !args.detach && std::io::stdin().is_terminal(),
        interactive: args.interactive && !args.detach,
        remove: args.rm,
    })
}

fn split_env(text: &str) -> (String, Option<String>) {
    match text.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (text.to_string(), None),
    }
}

fn labels(raw: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    raw.iter()
        .map(|text| match text.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::Usage(format!(
                "invalid label {text:?}: expected KEY=VALUE"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_with_and_without_a_value() {
        assert_eq!(split_env("A=1=2"), ("A".into(), Some("1=2".into())));
        assert_eq!(split_env("HOME"), ("HOME".into(), None));
    }

    #[test]
    fn labels_need_a_key() {
        assert!(labels(&["=x".into()]).is_err());
        assert_eq!(labels(&["a=b".into()]).unwrap()["a"], "b");
    }
}
