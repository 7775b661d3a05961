//! `berth up`, `berth down` and `berth apply`: thin layers over
//! `planner::execute` and `planner::down`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, StackArgs};
use crate::planner::down::{DownOptions, down};
use crate::planner::down_images::Rmi;
use crate::planner::execute::{self, ExecError, PullPolicy, Reporter, UpOptions};
use crate::planner::project::{self, Selection};
use crate::planner::{self, DiffOptions, Plan, ResourceKind};
use crate::runtime::container::lifecycle;
use crate::runtime::store::Store;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Detached mode: start the stack in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Wait for services to be running and healthy
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait with --wait
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub wait_timeout: Option<u64>,
    /// Recreate containers even if their configuration did not change
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Never recreate existing containers
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers of services that are no longer in the stack
    #[arg(long)]
    pub remove_orphans: bool,
    /// Pull images: always, missing (when absent) or never
    #[arg(long, value_enum, default_value_t = PullArg::Missing)]
    pub pull: PullArg,
    /// Replicas for a service, overriding the stack file
    #[arg(long, value_name = "SERVICE=N", value_parser = super::plan::parse_scale)]
    pub scale: Vec<(String, u32)>,
    /// Don't start the named services' dependencies
    #[arg(long)]
    pub no_deps: bool,
    /// Only these services (and, unless --no-deps, their dependencies)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PullArg {
    Always,
    Missing,
    Never,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Remove the project's named volumes and its containers' anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Also remove containers of services not in the stack file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Seconds to wait for each container to stop before killing it
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Remove images used by services: "local" only those without a custom tag
    /// (services with no `image:`), "all" every one
    #[arg(long, value_enum, value_name = "TYPE")]
    pub rmi: Option<RmiArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RmiArg {
    Local,
    All,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// A plan saved with `berth plan -o`
    pub planfile: PathBuf,
    /// Allow operations that destroy data (removing or recreating a volume)
    #[arg(long)]
    pub allow_destroy: bool,
}

/// docker compose's progress lines on stderr: ` ✔ Container demo-web-1  Started`.
pub(crate) struct Progress {
    tty: bool,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
        }
    }
}

impl Reporter for Progress {
    fn plan(&self, plan: &Plan) {
        if plan.has_changes() {
            progress_line(&planner::render(plan));
        }
    }

    fn status(&self, kind: ResourceKind, name: &str, status: &str) {
        let done = matches!(
            status,
            "Created"
                | "Started"
                | "Recreated"
                | "Running"
                | "Healthy"
                | "Exited"
                | "Pulled"
                | "Stopped"
                | "Removed"
        );
        let mark = match (done, self.tty) {
            (true, true) => "\x1b[32m✔\x1b[0m",
            (true, false) => "✔",
            (false, _) => " ",
        };
        let mut kind = kind.as_str().to_string();
        if let Some(first) = kind.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        progress_line(&format!(" {mark} {kind} {name}  {status}\n"));
    }
}

/// Progress goes to stderr; a closed stderr (`up -d 2>&1 | head`) must not
/// stop the work it reports on, so write errors are ignored (eprint! panics).
fn progress_line(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Stack execution failures exit 1, as docker compose's do.
pub(crate) fn exec_error(e: ExecError) -> CliError {
    match e {
        ExecError::Plan(p) => CliError::Plan(p),
        other => CliError::Engine {
            message: other.to_string(),
            code: 1,
        },
    }
}

pub fn up(args: &UpArgs, root: &Path) -> Result<i32, CliError> {
    let since = chrono::Utc::now();
    let project = args.stack.load()?;
    let opts = UpOptions {
        diff: DiffOptions {
            remove_orphans: args.remove_orphans,
            force_recreate: args.force_recreate,
            no_recreate: args.no_recreate,
            scale: args.scale.iter().cloned().collect::<BTreeMap<_, _>>(),
            only: planner::select::services(&project, &args.services, args.no_deps)?,
        },
        pull: match args.pull {
            PullArg::Always => PullPolicy::Always,
            PullArg::Missing => PullPolicy::Missing,
            PullArg::Never => PullPolicy::Never,
        },
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(Duration::from_secs),
        no_deps: args.no_deps,
    };
    let outcome = execute::up(root, &project, &opts, &Progress::new()).map_err(exec_error)?;
    report_outcome(&outcome.plan, args.remove_orphans);
    if args.detach || args.wait {
        return Ok(0);
    }
    foreground(root, &project.name, since)
}

/// Ctrl-C presses seen by a foreground `up`.
static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// Streams the stack's output until its containers have all exited; a Ctrl-C
/// stops the stack gracefully (dependents first), a second one kills it.
fn foreground(
    root: &Path,
    project: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<i32, CliError> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only increments an atomic counter.
    unsafe { sigaction(Signal::SIGINT, &action) }.map_err(|e| super::engine(e.to_string()))?;
    let interrupts = || INTERRUPTS.load(Ordering::SeqCst);
    let mut attached = super::stack_logs::Attachment::new(root, project, since)?;
    while interrupts() == 0 {
        if !attached.pump()? {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
    let store = Store::open(root).map_err(super::engine)?;
    let sel = Selection {
        services: Vec::new(),
        all: false,
        oneoff: false,
    };
    let running = project::containers(&store, project, &sel).map_err(super::engine)?;
    std::thread::scope(|scope| {
        let stopping = scope.spawn(|| super::stack::stop_all(&store, running.clone(), None));
        let mut killed = false;
        while !stopping.is_finished() {
            if !killed && interrupts() > 1 {
                killed = true;
                for c in &running {
                    let _ = lifecycle::signal(c, Signal::SIGKILL);
                }
            }
            let _ = attached.pump();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    attached.pump()?;
    Ok(130)
}

fn report_outcome(plan: &Plan, removed_orphans: bool) {
    if !plan.orphans.is_empty() && !removed_orphans {
        eprintln!(
            "Found orphan containers ({}) for this project. If you removed or renamed this \
             service in your compose file, you can run this command with the --remove-orphans \
             flag to clean it up.",
            plan.orphans.join(", ")
        );
    }
    if !plan.has_changes() {
        eprintln!(
            "Nothing to do: project {} is up to date ({} unchanged)",
            plan.project,
            plan.unchanged.len()
        );
    }
}

pub fn down_cmd(args: &DownArgs, root: &Path) -> Result<i32, CliError> {
    let (name, only, project) = if args.stack.files.is_empty() && args.stack.project_name.is_some()
    {
        (
            args.stack.project_name.clone().unwrap_or_default(),
            None,
            None,
        )
    } else {
        let project = args.stack.load()?;
        let only = (!args.remove_orphans).then(|| project.services.keys().cloned().collect());
        (project.name.clone(), only, Some(project))
    };
    let opts = DownOptions {
        volumes: args.volumes,
        timeout: args.timeout.map(Duration::from_secs),
        only_services: only,
        rmi: args.rmi.map(|r| match r {
            RmiArg::Local => Rmi::Local,
            RmiArg::All => Rmi::All,
        }),
        project,
    };
    down(root, &name, &opts, &Progress::new()).map_err(exec_error)?;
    Ok(0)
}

pub fn apply(args: &ApplyArgs, root: &Path) -> Result<i32, CliError> {
    let text = std::fs::read(&args.planfile).map_err(|e| {
        CliError::Usage(format!("cannot read plan {}: {e}", args.planfile.display()))
    })?;
    let plan: Plan = serde_json::from_slice(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a saved plan: {e}",
            args.planfile.display()
        ))
    })?;
    let project = args.stack.load()?;
    if project.name != plan.project {
        return Err(CliError::Usage(format!(
            "the plan is for project {:?}, the stack files are project {:?}",
            plan.project, project.name
        )));
    }
    let store = super::container::open_store(root)?;
    // No up or down of the project may move the state between the check and the run.
    let _project_lock = planner::repair::lock_project(&store, &project.name).map_err(exec_error)?;
    let observed = planner::observe::observe_project(root, &project)?;
    plan.ensure_current(&observed)?;
    let destructive: Vec<&str> = plan
        .ops
        .iter()
        .filter(|op| op.kind == ResourceKind::Volume && op.action != planner::Action::Create)
        .map(|op| op.name.as_str())
        .collect();
    if !destructive.is_empty() && !args.allow_destroy {
        return Err(CliError::Usage(format!(
            "the plan removes or recreates volumes ({}), which destroys their data; \
             pass --allow-destroy to apply it",
            destructive.join(", ")
        )));
    }
    let progress = Progress::new();
    progress.plan(&plan);
    execute::execute(&store, &project, &plan, PullPolicy::Missing, &progress)
        .map_err(exec_error)?;
    report_outcome(&plan, false);
    Ok(0)
}
