//! `run`, `create` and `start`: thin layers over the runtime's container records
//! and monitor.

use clap::{ArgAction, Args};

use super::container_flags::ContainerFlags;
use super::progress::Renderer;
use super::{CliError, engine, print};
use crate::runtime::container::build;
use crate::runtime::container::create;
use crate::runtime::container::names::new_id;
use crate::runtime::container::record;
use crate::runtime::image::{Image, ImageStore, Reference};
use crate::runtime::monitor;
use crate::runtime::registry::{self, Progress, RegistriesConfig};
use crate::runtime::store::Store;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run the container in the background and print its ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers to start
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn open_store(root: &std::path::Path) -> Result<Store, CliError> {
    Store::open(root).map_err(engine)
}

/// Creates the record; nothing runs yet.
fn create_container(
    store: &Store,
    flags: &ContainerFlags,
) -> Result<record::ContainerRecord, CliError> {
    let image = resolve_or_pull(store, flags.image(), &flags.pull)?;
    let hostname_seed = new_id().map_err(engine)?;
    let config = flags.to_config(&image, &hostname_seed)?;
    if flags.hostname.is_some() && flags.network.starts_with("container:") {
        return Err(engine("Conflicting options: hostname and the network mode"));
    }
    build::create_container(store, flags.name.clone(), flags.image(), &image, config)
        .map_err(engine)
}

/// Finds the image, pulling it first as `--pull` says (docker's `run`
/// pulls a missing image, reporting on stderr).
fn resolve_or_pull(store: &Store, name: &str, policy: &str) -> Result<Image, CliError> {
    let images = ImageStore::new(store);
    let found = images.resolve(name);
    let pull = match (&found, policy) {
        (_, "always") => true,
        (Err(e), "missing") => e.is_not_found(),
        _ => false,
    };
    if !pull {
        return found.map_err(engine);
    }
    let reference = match Reference::parse(name) {
        Ok(r) => r,
        Err(_) => return found.map_err(engine),
    };
    if found.is_err() {
        eprintln!("Unable to find image '{}' locally", reference.familiar());
    }
    let registries = RegistriesConfig::load().map_err(engine)?;
    let progress = Renderer::to_stderr();
    let pulled = registry::pull(store, &registries, &reference, None, &progress).map_err(engine)?;
    progress.line(&format!("Digest: {}", pulled.digest));
    progress.line(&format!(
        "Status: Downloaded newer image for {}",
        reference.familiar()
    ));
    images.resolve(&reference.to_string()).map_err(engine)
}

pub fn run(args: &RunArgs, root: &std::path::Path) -> Result<i32, CliError> {
    let store = open_store(root)?;
    let record = create_container(&store, &args.flags)?;
    if args.detach {
        monitor::start_detached(&store, &record).map_err(start_error)?;
        print(&format!("{}\n", record.id))?;
        return Ok(0);
    }
    monitor::run_foreground(&store, &record, args.flags.interactive).map_err(start_error)
}

pub fn create(args: &CreateArgs, root: &std::path::Path) -> Result<i32, CliError> {
    let store = open_store(root)?;
    let record = create_container(&store, &args.flags)?;
    print(&format!("{}\n", record.id))?;
    Ok(0)
}

pub fn start(args: &StartArgs, root: &std::path::Path) -> Result<i32, CliError> {
    let store = open_store(root)?;
    if args.attach && args.containers.len() > 1 {
        return Err(engine(
            "you cannot start and attach multiple containers at once",
        ));
    }
    for name in &args.containers {
        let id = create::resolve(&store, name).map_err(engine)?;
        let dir = record::container_dir(store.root(), &id);
        let rec = record::read_record(&dir).map_err(engine)?;
        let state = record::read_state(&dir).map_err(engine)?;
        if state.status == record::Status::Running {
            if !args.attach {
                print(&format!("{name}\n"))?;
            }
            continue;
        }
        if args.attach {
            return monitor::run_foreground(&store, &rec, args.interactive).map_err(start_error);
        }
        monitor::start_detached(&store, &rec).map_err(start_error)?;
        print(&format!("{name}\n"))?;
    }
    Ok(0)
}

/// A command that could not start exits 126 or 127, berth's own failures 125.
pub(crate) fn start_error(e: monitor::MonitorError) -> CliError {
    CliError::Engine {
        code: e.exit_code(),
        message: e.to_string(),
    }
}
