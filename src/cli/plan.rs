//! `berth plan`: what `up` would change, and why, without changing anything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CliError, StackArgs, print};
use crate::planner::{self, DiffOptions, Plan};

/// Exit status when the plan has changes (like `terraform plan -detailed-exitcode`).
pub const EXIT_CHANGES: i32 = 2;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Save the plan as JSON, for `berth apply`
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Remove containers of services that are no longer in the stack
    #[arg(long)]
    pub remove_orphans: bool,
    /// Recreate containers even if their configuration did not change
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Never recreate existing containers
    #[arg(long)]
    pub no_recreate: bool,
    /// Replicas for a service, overriding the stack file
    #[arg(long, value_name = "SERVICE=N", value_parser = parse_scale)]
    pub scale: Vec<(String, u32)>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
}

pub(crate) fn parse_scale(text: &str) -> Result<(String, u32), String> {
    let (service, n) = text
        .split_once('=')
        .ok_or_else(|| format!("invalid --scale {text:?}: expected SERVICE=N"))?;
    let n = n
        .parse()
        .map_err(|_| format!("invalid --scale {text:?}: {n:?} is not a number of replicas"))?;
    Ok((service.to_string(), n))
}

pub fn make_plan(args: &PlanArgs, root: &std::path::Path) -> Result<Plan, CliError> {
    let project = args.stack.load()?;
    let observed = planner::observe::observe_project(root, &project)?;
    let opts = DiffOptions {
        remove_orphans: args.remove_orphans,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        scale: args.scale.iter().cloned().collect::<BTreeMap<_, _>>(),
        only: None,
    };
    Ok(planner::diff(&project, &observed, &opts)?)
}

pub fn run(args: &PlanArgs, root: &std::path::Path) -> Result<i32, CliError> {
    let plan = make_plan(args, root)?;
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&plan).map_err(|e| CliError::Usage(e.to_string()))?;
        std::fs::write(out, json).map_err(|e| CliError::Write {
            path: out.clone(),
            source: e,
        })?;
    }
    match args.format {
        TableFormat::Table => print(&planner::render(&plan))?,
        TableFormat::Json => {
            let json =
                serde_json::to_string_pretty(&plan).map_err(|e| CliError::Usage(e.to_string()))?;
            print(&format!("{json}\n"))?;
        }
    }
    Ok(if plan.has_changes() { EXIT_CHANGES } else { 0 })
}
