//! Command-line verbs: each is a thin layer over the planner or the runtime.

mod check;
mod completion;
mod config;
mod container;
mod container_flags;
mod disk;
#[doc(hidden)]
pub mod fuzz_flags;
mod image;
mod image_archive;
mod images;
mod inspect;
mod lifecycle;
mod logs;
mod logs_stream;
mod manage;
mod mount_flags;
mod network;
mod output;
mod plan;
mod port;
mod progress;
mod publish;
mod registry;
mod snapshot_verbs;
mod stack;
mod stack_args;
mod stack_logs;
mod stack_run;
mod up;
mod volume;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use stack_args::StackArgs;

/// Exit status for invalid input (stack files, flags).
pub const EXIT_INVALID: i32 = 1;
/// Exit status when berth itself fails (docker's 125).
pub const EXIT_ENGINE: i32 = 125;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A container engine and Compose-compatible stack runner",
    propagate_version = true
)]
pub struct Cli {
    /// Where berth keeps its state.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// How much berth logs to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Warn, env = "BERTH_LOG_LEVEL")]
    pub log_level: LogLevel,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the stack in its fully normalized form
    Config(config::ConfigArgs),
    /// Show what `up` would change, and why (exit 2 when there are changes)
    Plan(plan::PlanArgs),
    /// Create and start the stack's containers, networks and volumes
    Up(up::UpArgs),
    /// Stop and remove the stack's containers and networks
    Down(up::DownArgs),
    /// Execute a plan saved with `berth plan -o`
    Apply(up::ApplyArgs),
    /// Apply the stack, and again whenever its files change
    Watch(watch::WatchArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Search Docker Hub or a registry for images
    Search(registry::SearchArgs),
    /// Import a rootfs tarball as a one-layer image
    Import(image::ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image_archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image_archive::LoadArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Manage images
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Create and run a new container from an image
    Run(container::RunArgs),
    /// Create a new container without starting it
    Create(container::CreateArgs),
    /// Start one or more created or stopped containers
    Start(container::StartArgs),
    /// List containers
    Ps(lifecycle::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::WaitArgs),
    /// Run a command in a running container
    Exec(lifecycle::ExecArgs),
    /// Copy files between a container and the host
    Cp(lifecycle::CpArgs),
    /// Attach to a running container's output (and input); ctrl-p ctrl-q detaches
    Attach(lifecycle::AttachArgs),
    /// Return low-level information on containers and images
    Inspect(inspect::InspectArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Pause all processes within one or more containers
    Pause(manage::Names),
    /// Unpause all processes within one or more containers
    Unpause(manage::Names),
    /// Display the running processes of a container
    Top(manage::TopArgs),
    /// Display a snapshot of containers' resource usage
    Stats(manage::StatsArgs),
    /// Get real time events from berth
    Events(lifecycle::EventsArgs),
    /// Rename a container
    Rename(manage::RenameArgs),
    /// Restart one or more containers
    Restart(manage::RestartArgs),
    /// Update the resource limits of one or more containers
    Update(manage::UpdateArgs),
    /// Create a new image from a container's changes
    Commit(snapshot_verbs::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(snapshot_verbs::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(snapshot_verbs::ExportArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(manage::ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage berth itself
    #[command(subcommand)]
    System(manage::SystemCommand),
    /// Show the berth version information
    Version,
    /// Display system-wide information
    Info,
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
    /// Project-scoped verbs (ps, logs, stop, start, restart, kill, rm, exec, run, top, port, images, pull)
    #[command(alias = "compose")]
    Stack(stack::StackCmd),
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Plan(#[from] crate::planner::PlannerError),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// A runtime failure, with docker's exit status (125, or 126/127 when the
    /// container's command could not start).
    #[error("{message}")]
    Engine { message: String, code: i32 },
    /// A failure docker's daemon would report: printed as the docker CLI
    /// prints it, with status 1.
    #[error("Error response from daemon: {0}")]
    Daemon(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Spec(_) | CliError::Usage(_) => EXIT_INVALID,
            CliError::Plan(crate::planner::PlannerError::Observe { .. }) => EXIT_ENGINE,
            CliError::Plan(_) => EXIT_INVALID,
            CliError::Write { .. } | CliError::Output(_) => EXIT_INVALID,
            CliError::Engine { code, .. } => *code,
            CliError::Daemon(_) => 1,
        }
    }
}

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Config(args) => config::run(&args),
        Command::Plan(args) => plan::run(&args, &cli.root),
        Command::Up(args) => up::up(&args, &cli.root),
        Command::Down(args) => up::down_cmd(&args, &cli.root),
        Command::Apply(args) => up::apply(&args, &cli.root),
        Command::Watch(args) => watch::run(&args, &cli.root),
        Command::Pull(args) => registry::pull_cmd(&args, &cli.root),
        Command::Push(args) => registry::push_cmd(&args, &cli.root),
        Command::Login(args) => registry::login(&args),
        Command::Logout(args) => registry::logout(&args),
        Command::Search(args) => registry::search_cmd(&args),
        Command::Import(args) => image::import(&args, &cli.root),
        Command::Save(args) => image_archive::save(&args, &cli.root),
        Command::Load(args) => image_archive::load(&args, &cli.root),
        Command::Images(args) => images::images(&args, &cli.root),
        Command::Tag(args) => images::tag(&args, &cli.root),
        Command::Rmi(args) => images::rmi(&args, &cli.root),
        Command::History(args) => images::history(&args, &cli.root),
        Command::Image(cmd) => images::image(&cmd, &cli.root),
        Command::Run(args) => container::run(&args, &cli.root),
        Command::Create(args) => container::create(&args, &cli.root),
        Command::Start(args) => container::start(&args, &cli.root),
        Command::Ps(args) => lifecycle::ps(&args, &cli.root),
        Command::Logs(args) => logs::logs(&args, &cli.root),
        Command::Stop(args) => lifecycle::stop(&args, &cli.root),
        Command::Kill(args) => lifecycle::kill(&args, &cli.root),
        Command::Rm(args) => lifecycle::rm(&args, &cli.root),
        Command::Wait(args) => lifecycle::wait(&args, &cli.root),
        Command::Exec(args) => lifecycle::exec(&args, &cli.root),
        Command::Cp(args) => lifecycle::cp(&args, &cli.root),
        Command::Attach(args) => lifecycle::attach(&args, &cli.root),
        Command::Inspect(args) => inspect::inspect(&args, &cli.root),
        Command::Port(args) => port::port(&args, &cli.root),
        Command::Pause(args) => manage::pause(&args, &cli.root),
        Command::Unpause(args) => manage::unpause(&args, &cli.root),
        Command::Top(args) => manage::top(&args, &cli.root),
        Command::Stats(args) => manage::stats(&args, &cli.root),
        Command::Events(args) => lifecycle::events(&args, &cli.root),
        Command::Rename(args) => manage::rename(&args, &cli.root),
        Command::Restart(args) => manage::restart(&args, &cli.root),
        Command::Update(args) => manage::update(&args, &cli.root),
        Command::Commit(args) => snapshot_verbs::commit(&args, &cli.root),
        Command::Diff(args) => snapshot_verbs::diff(&args, &cli.root),
        Command::Export(args) => snapshot_verbs::export(&args, &cli.root),
        Command::Container(cmd) => manage::container(&cmd, &cli.root),
        Command::Volume(cmd) => volume::volume(&cmd, &cli.root),
        Command::Network(cmd) => network::network(&cmd, &cli.root),
        Command::System(cmd) => manage::system(&cmd, &cli.root),
        Command::Version => manage::version(),
        Command::Info => manage::info(&cli.root),
        Command::Completion(args) => completion::run(&args),
        Command::Stack(cmd) => stack::run(&cmd, &cli.root),
    }
}

/// Writes to stdout; a closed pipe (`berth config | head`) is not an error.
pub fn print(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A runtime failure as docker reports it: exit status 125.
pub(crate) fn engine(e: impl std::fmt::Display) -> CliError {
    CliError::Engine {
        message: e.to_string(),
        code: 125,
    }
}

/// A failure the docker CLI reports as `Error response from daemon: ...`.
pub(crate) fn daemon(e: impl std::fmt::Display) -> CliError {
    CliError::Daemon(e.to_string())
}

/// Runs `op` on each named container, printing the line it returns; like docker,
/// reports each failure and exits 1 if any failed.
pub(crate) fn each(
    names: &[String],
    mut op: impl FnMut(&str) -> Result<Option<String>, CliError>,
) -> Result<i32, CliError> {
    let mut failed = false;
    for name in names {
        match op(name) {
            Ok(Some(line)) => print(&format!("{line}\n"))?,
            Ok(None) => {}
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}
