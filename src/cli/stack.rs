//! `berth stack <verb>` (alias `berth compose <verb>`): docker compose's
//! project-scoped verbs, working from the containers' compose labels, so most
//! need only `-p NAME` and no stack file.

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::lifecycle::{command_text, status_text};
use super::output::{ago, human_size, table};
use super::{CliError, StackArgs, engine, print, stack_logs};
use crate::planner::project::{self, Selection, number_of, service_of};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::monitor;
use crate::runtime::store::Store;

#[derive(Debug, Args)]
pub struct StackCmd {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(subcommand)]
    pub verb: StackVerb,
}

#[derive(Debug, Subcommand)]
pub enum StackVerb {
    /// List the project's containers
    Ps(PsArgs),
    /// Show the services' output, interleaved in time order
    Logs(stack_logs::LogsArgs),
    /// Stop the services' containers (dependents first)
    Stop(StopArgs),
    /// Start the services' stopped containers (dependencies first)
    Start(ServiceArgs),
    /// Restart the services' containers
    Restart(StopArgs),
    /// Send a signal to the services' running containers
    Kill(KillArgs),
    /// Remove the services' stopped containers
    Rm(RmArgs),
    /// Run a command in a service's running container
    Exec(ExecArgs),
    /// Display the processes of the services' containers
    Top(ServiceArgs),
    /// Print the public address of a service's port
    Port(PortArgs),
    /// List the images the project's containers use
    Images(ServiceArgs),
    /// Pull the services' images
    Pull(PullArgs),
    /// Run a one-off command in a new container of a service
    Run(super::stack_run::RunArgs),
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, stopped ones too
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display the services
    #[arg(long)]
    pub services: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = super::lifecycle::ListFormat::Table)]
    pub format: super::lifecycle::ListFormat,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(value_name = "SERVICE")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing a container
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short = 's', long, default_value = "SIGKILL")]
    pub signal: String,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop the containers first, if needed
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove the containers' anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run the command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Don't allocate a pseudo-TTY (by default one is when stdin is a terminal)
    #[arg(short = 'T', long = "no-tty")]
    pub no_tty: bool,
    /// Set environment variables (KEY=VALUE)
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (user[:group])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Which replica of the service
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Which replica of the service
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Pull without printing progress
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub fn run(cmd: &StackCmd, root: &Path) -> Result<i32, CliError> {
    if let StackVerb::Pull(args) = &cmd.verb {
        return pull(&cmd.stack, args, root);
    }
    if let StackVerb::Run(args) = &cmd.verb {
        return super::stack_run::run(&cmd.stack, args, root);
    }
    let project = project_name(&cmd.stack)?;
    match &cmd.verb {
        StackVerb::Ps(args) => ps(&project, args, root),
        StackVerb::Logs(args) => stack_logs::logs(&project, args, root),
        StackVerb::Stop(args) => stop(&project, args, root),
        StackVerb::Start(args) => start(&project, &args.services, root),
        StackVerb::Restart(args) => restart(&project, args, root),
        StackVerb::Kill(args) => kill(&project, args, root),
        StackVerb::Rm(args) => rm(&project, args, root),
        StackVerb::Exec(args) => exec(&project, args, root),
        StackVerb::Top(args) => top(&project, &args.services, root),
        StackVerb::Port(args) => port(&project, args, root),
        StackVerb::Images(args) => images(&project, &args.services, root),
        StackVerb::Pull(_) | StackVerb::Run(_) => Ok(0),
    }
}

/// As compose finds it: `-p`, else the stack file's project (its `name:`, or
/// its directory), else, with no stack file at all, the current directory.
pub fn project_name(stack: &StackArgs) -> Result<String, CliError> {
    if let Some(name) = &stack.project_name {
        return Ok(name.clone());
    }
    match stack.load() {
        Ok(project) => Ok(project.name),
        Err(crate::spec::SpecError::NoFile { dir }) => {
            if let Ok(name) = std::env::var("COMPOSE_PROJECT_NAME") {
                return Ok(name);
            }
            let base = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            Ok(crate::spec::discover::normalize_project_name(
                &base.unwrap_or_default(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn selected(
    store: &Store,
    project: &str,
    services: &[String],
    all: bool,
) -> Result<Vec<Container>, CliError> {
    let sel = Selection {
        services: services.to_vec(),
        all,
        oneoff: false,
    };
    project::containers(store, project, &sel).map_err(engine)
}

/// compose's progress lines, on stderr: ` Container demo-web-1  Stopped`.
fn progress(c: &Container, what: &str) {
    eprintln!(" Container {}  {what}", c.record.name);
}

fn ps(project: &str, args: &PsArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    // As compose: `stack run` one-offs show with -a only.
    let sel = Selection {
        services: args.names.clone(),
        all: args.all,
        oneoff: args.all,
    };
    let list = project::containers(&store, project, &sel).map_err(engine)?;
    if args.services {
        let mut names: Vec<&str> = list.iter().map(service_of).collect();
        names.dedup();
        return print(&names.iter().map(|n| format!("{n}\n")).collect::<String>()).map(|_| 0);
    }
    if args.quiet {
        let ids: String = list.iter().map(|c| format!("{}\n", c.record.id)).collect();
        return print(&ids).map(|_| 0);
    }
    let text = match args.format {
        super::lifecycle::ListFormat::Json => list
            .iter()
            .map(|c| format!("{}\n", ps_json(c, project)))
            .collect(),
        super::lifecycle::ListFormat::Table => {
            let rows: Vec<Vec<String>> = list.iter().map(|c| ps_row(c, args.no_trunc)).collect();
            let header = [
                "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
            ];
            table(&header, &rows)
        }
    };
    print(&text)?;
    Ok(0)
}

fn ps_row(c: &Container, no_trunc: bool) -> Vec<String> {
    vec![
        c.record.name.clone(),
        c.record.image.clone(),
        command_text(c, no_trunc),
        service_of(c).to_string(),
        ago(&c.record.created),
        status_text(c),
        super::port::ps_column(c),
    ]
}

fn ps_json(c: &Container, project: &str) -> serde_json::Value {
    let health = c.state.health.as_ref().map_or("", |h| h.status.as_str());
    serde_json::json!({
        "ID": c.record.id, "Name": c.record.name, "Image": c.record.image,
        "Command": c.record.config.args.join(" "), "Project": project,
        "Service": service_of(c), "Number": number_of(c),
        "CreatedAt": c.record.created, "State": c.state.status.as_str(),
        "Status": status_text(c), "Health": health, "ExitCode": c.state.exit_code,
        "Ports": super::port::ps_column(c),
    })
}

fn stop_timeout(c: &Container, flag: Option<u64>) -> Duration {
    Duration::from_secs(flag.or(c.record.config.stop_timeout).unwrap_or(10))
}

/// Stops level by level, dependents first; each level's containers in parallel.
pub(super) fn stop_all(store: &Store, list: Vec<Container>, timeout: Option<u64>) -> bool {
    let mut failed = false;
    for level in project::stop_levels(list) {
        let results: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = level
                .iter()
                .map(|c| scope.spawn(move || stop_one(store, c, timeout)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(false))
                .collect()
        });
        failed |= results.contains(&false);
    }
    failed
}

fn stop_one(store: &Store, c: &Container, timeout: Option<u64>) -> bool {
    progress(c, "Stopping");
    match lifecycle::stop(store, c, stop_timeout(c, timeout)) {
        Ok(()) => {
            progress(c, "Stopped");
            true
        }
        Err(e) => {
            eprintln!("Error: container {}: {e}", c.record.name);
            false
        }
    }
}

fn stop(project: &str, args: &StopArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let list = selected(&store, project, &args.services, false)?;
    Ok(i32::from(stop_all(&store, list, args.timeout)))
}

/// How long a start waits for a dependency's condition.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(300);

/// Starts the stopped containers level by level, each after its dependencies
/// meet their conditions. Monitors are forked one at a time: forking is only
/// safe from a single-threaded process.
fn start_all(store: &Store, project: &str, list: Vec<Container>) -> Result<(), CliError> {
    for level in project::start_levels(list) {
        for c in level.iter().filter(|c| !c.is_running()) {
            project::await_dependencies(store, project, c, DEPENDENCY_TIMEOUT).map_err(engine)?;
            progress(c, "Starting");
            monitor::start_detached(store, &c.record)
                .map_err(|e| engine(format!("container {}: {e}", c.record.name)))?;
            progress(c, "Started");
        }
    }
    Ok(())
}

fn start(project: &str, services: &[String], root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let list = selected(&store, project, services, true)?;
    start_all(&store, project, list)?;
    Ok(0)
}

fn restart(project: &str, args: &StopArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let running = selected(&store, project, &args.services, false)?;
    let ids: Vec<String> = running.iter().map(|c| c.record.id.clone()).collect();
    if stop_all(&store, running, args.timeout) {
        return Ok(1);
    }
    // Reload: the states changed with the stop.
    let list: Vec<Container> = ids
        .iter()
        .filter_map(|id| lifecycle::load(&store, id).ok())
        .collect();
    for c in &list {
        c.record.event(store.root(), "restart", &[]);
    }
    start_all(&store, project, list)?;
    Ok(0)
}

fn kill(project: &str, args: &KillArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let signal = lifecycle::parse_signal(&args.signal).map_err(engine)?;
    let list = selected(&store, project, &args.services, false)?;
    let mut failed = false;
    for c in &list {
        if signal == nix::sys::signal::Signal::SIGKILL {
            lifecycle::mark_stopping(&store, c);
        }
        match lifecycle::signal(c, signal) {
            Ok(()) => {
                let number = (signal as i32).to_string();
                c.record.event(store.root(), "kill", &[("signal", number)]);
                progress(c, "Killed");
            }
            Err(e) => {
                eprintln!("Error: cannot kill container {}: {e}", c.record.name);
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

fn rm(project: &str, args: &RmArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let mut list = selected(&store, project, &args.services, true)?;
    if args.stop {
        let running: Vec<Container> = list.iter().filter(|c| c.is_running()).cloned().collect();
        stop_all(&store, running, None);
        let ids: Vec<String> = list.iter().map(|c| c.record.id.clone()).collect();
        list = ids
            .iter()
            .filter_map(|id| lifecycle::load(&store, id).ok())
            .collect();
    }
    list.retain(|c| !c.is_running());
    if list.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !args.force && !confirm(&list)? {
        return Ok(0);
    }
    let mut failed = false;
    for c in &list {
        let removed = lifecycle::remove(&store, c, false)
            .map_err(engine)
            .and_then(|()| match args.volumes {
                true => crate::runtime::volume::remove_anonymous_of(&store, &c.record)
                    .map(drop)
                    .map_err(engine),
                false => Ok(()),
            });
        match removed {
            Ok(()) => progress(c, "Removed"),
            Err(e) => {
                eprintln!("Error: container {}: {e}", c.record.name);
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}

/// compose's prompt; anything but y/yes (or no input) keeps the containers.
fn confirm(list: &[Container]) -> Result<bool, CliError> {
    let names: Vec<&str> = list.iter().map(|c| c.record.name.as_str()).collect();
    eprint!(
        "Going to remove {}\n? Are you sure? [yN] ",
        names.join(", ")
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn exec(project: &str, args: &ExecArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let c = project::replica(&store, project, &args.service, args.index).map_err(engine)?;
    if !c.is_running() {
        return Err(engine(format!(
            "service {:?} is not running (container {})",
            args.service, c.record.name
        )));
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let opts = monitor::ExecOptions {
        args: args.command.clone(),
        env: super::lifecycle::exec_env(&args.env),
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        interactive: !args.detach,
        tty: terminal && !args.no_tty && !args.detach,
        detach: args.detach,
    };
    super::lifecycle::run_exec(&c, &opts)
}

fn top(project: &str, services: &[String], root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let mut out = String::new();
    for c in selected(&store, project, services, false)? {
        let mut pids = lifecycle::processes(&c).map_err(engine)?;
        pids.sort_unstable();
        let rows: Vec<Vec<String>> = pids
            .iter()
            .filter_map(|pid| super::manage::process_row(*pid))
            .collect();
        let header = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
        out.push_str(&format!("{}\n{}\n", c.record.name, table(&header, &rows)));
    }
    print(&out)?;
    Ok(0)
}

fn port(project: &str, args: &PortArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let c = project::replica(&store, project, &args.service, args.index).map_err(engine)?;
    let found = c
        .state
        .ports
        .iter()
        .filter(|_| c.is_running())
        .find(|p| p.container_port == args.private_port && p.proto.as_str() == args.protocol);
    match found {
        Some(p) => print(&format!("{}:{}\n", p.host_ip, p.host_port)).map(|_| 0),
        None => Err(CliError::Engine {
            message: format!(
                "no port {}/{} is published for service {:?}",
                args.private_port, args.protocol, args.service
            ),
            code: 1,
        }),
    }
}

fn images(project: &str, services: &[String], root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let images = crate::runtime::image::ImageStore::new(&store);
    let mut rows = Vec::new();
    for c in selected(&store, project, services, true)? {
        let (repository, tag) = split_tag(&c.record.image);
        let (id, size) = match images.resolve(&c.record.image_id) {
            Ok(image) => (image.short_id().to_string(), human_size(image.size, 3)),
            Err(_) => (short_image_id(&c.record.image_id), String::new()),
        };
        rows.push(vec![c.record.name.clone(), repository, tag, id, size]);
    }
    let header = ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"];
    print(&table(&header, &rows))?;
    Ok(0)
}

fn short_image_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// `busybox` -> (busybox, latest); `reg:5000/x:1` -> (reg:5000/x, 1).
fn split_tag(image: &str) -> (String, String) {
    let name = image.split('@').next().unwrap_or(image);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (name.to_string(), "latest".to_string()),
    }
}

/// Pulls each service's image once (services that only `build` are skipped).
fn pull(stack: &StackArgs, args: &PullArgs, root: &Path) -> Result<i32, CliError> {
    let project = stack.load()?;
    for name in &args.services {
        if !project.services.contains_key(name) {
            return Err(CliError::Usage(format!("no such service: {name}")));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut failed = false;
    for (name, service) in &project.services {
        let wanted = args.services.is_empty() || args.services.contains(name);
        let Some(image) = service.image.as_ref().filter(|_| wanted) else {
            continue;
        };
        if !seen.insert(image.clone()) {
            continue;
        }
        let pull = super::registry::PullArgs {
            name: image.clone(),
            quiet: args.quiet,
            platform: None,
        };
        if let Err(e) = super::registry::pull_cmd(&pull, root) {
            eprintln!("Error: service {name:?}: pulling {image}: {e}");
            failed = true;
        }
    }
    Ok(i32::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split() {
        assert_eq!(split_tag("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_tag("a/b:1.2"), ("a/b".into(), "1.2".into()));
        assert_eq!(
            split_tag("reg:5000/x"),
            ("reg:5000/x".into(), "latest".into())
        );
    }

    #[test]
    fn compose_alias_parses() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["berth", "compose", "-p", "demo", "ps", "-a"]);
        let Ok(cli) = cli else {
            panic!("compose alias did not parse: {cli:?}");
        };
        let crate::cli::Command::Stack(cmd) = cli.command else {
            panic!("not a stack command");
        };
        assert_eq!(cmd.stack.project_name.as_deref(), Some("demo"));
        assert!(matches!(cmd.verb, StackVerb::Ps(PsArgs { all: true, .. })));
    }
}
