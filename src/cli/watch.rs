//! `berth watch`: apply the stack, then apply it again whenever one of its
//! files changes (planner::watch polls them), logging each plan.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{CliError, StackArgs};
use crate::planner::execute::{self, Reporter, UpOptions};
use crate::planner::watch::{Hooks, WatchOptions, watch};
use crate::planner::{Plan, ResourceKind};

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Seconds between looks at the files
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
    /// Remove containers of services that are no longer in the stack
    #[arg(long)]
    pub remove_orphans: bool,
}

/// Keeps the plan `up` reports, for the watch log.
#[derive(Default)]
struct Collect(std::sync::Mutex<String>);

impl Reporter for Collect {
    fn plan(&self, plan: &Plan) {
        if let Ok(mut text) = self.0.lock() {
            *text = crate::planner::render(plan);
        }
    }
    fn status(&self, _kind: ResourceKind, name: &str, status: &str) {
        eprintln!(" {name}  {status}");
    }
}

/// The stack files and env files as given, or the defaults compose finds.
fn base_files(stack: &StackArgs) -> Result<Vec<PathBuf>, CliError> {
    let cwd = std::env::current_dir()?;
    let mut files = match stack.files.is_empty() {
        true => crate::spec::discover::find_default_files(&cwd)?,
        false => stack.files.iter().map(|f| cwd.join(f)).collect(),
    };
    let dir = stack
        .project_directory
        .clone()
        .or_else(|| {
            files
                .first()
                .and_then(|f| f.parent().map(Path::to_path_buf))
        })
        .unwrap_or(cwd.clone());
    match stack.env_files.is_empty() {
        true => files.push(dir.join(".env")),
        false => files.extend(stack.env_files.iter().map(|f| cwd.join(f))),
    }
    Ok(files)
}

pub fn run(args: &WatchArgs, root: &Path) -> Result<i32, CliError> {
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(CliError::Usage(format!(
            "invalid --interval {}: expected a positive number of seconds",
            args.interval
        )));
    }
    let base = base_files(&args.stack)?;
    let opts = WatchOptions {
        interval: Duration::from_secs_f64(args.interval),
        debounce: Duration::from_millis(500),
    };
    let mut up = UpOptions::default();
    up.diff.remove_orphans = args.remove_orphans;
    let hooks = Hooks {
        load: || args.stack.load(),
        apply: |project: &crate::spec::Project| {
            let reporter = Collect::default();
            execute::up(root, project, &up, &reporter)?;
            let text = reporter.0.into_inner().unwrap_or_default();
            Ok::<_, execute::ExecError>(text)
        },
        log: |line: &str| eprintln!("{line}"),
        stop: || false,
    };
    watch(&base, &opts, hooks);
    Ok(0)
}
