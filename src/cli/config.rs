//! `berth config`: the fully normalized stack, as `docker compose config` prints it.

use clap::{Args, ValueEnum};

use super::{CliError, StackArgs, print};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles", id = "list_profiles")]
    pub list_profiles: bool,
    /// Print the config hash of these services (comma-separated, or `*` for all)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Only validate; print nothing
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,
}

/// `service hash` lines, as `docker compose config --hash` prints them.
fn print_hashes(project: &crate::spec::Project, which: &str) -> Result<i32, CliError> {
    let names: Vec<String> = if which == "*" {
        project.services.keys().cloned().collect()
    } else {
        which.split(',').map(|s| s.trim().to_string()).collect()
    };
    let mut out = String::new();
    for name in names {
        let hash = crate::planner::service_hash(project, &name)
            .ok_or_else(|| CliError::Usage(format!("no such service: {name}")))?;
        out.push_str(&format!("{name} {}\n", hash.value));
    }
    print(&out)?;
    Ok(0)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

pub fn run(args: &ConfigArgs) -> Result<i32, CliError> {
    let project = args.stack.load()?;
    if args.quiet {
        return Ok(0);
    }
    if let Some(which) = &args.hash {
        return print_hashes(&project, which);
    }
    let names: Option<Vec<&String>> = if args.services {
        Some(project.services.keys().collect())
    } else if args.volumes {
        Some(project.volumes.keys().collect())
    } else if args.networks {
        Some(project.networks.keys().collect())
    } else if args.list_profiles {
        let mut all: Vec<&String> = project
            .services
            .values()
            .flat_map(|s| &s.profiles)
            .collect();
        all.sort();
        all.dedup();
        Some(all)
    } else {
        None
    };
    if let Some(names) = names {
        let text: String = names.iter().map(|n| format!("{n}\n")).collect();
        print(&text)?;
        return Ok(0);
    }
    let json = project.to_json();
    let text = match args.format {
        ConfigFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ),
        ConfigFormat::Yaml => crate::spec::emit::to_yaml(&json),
    };
    print(&text)?;
    Ok(0)
}
