//! `commit`, `diff` and `export`: a container's filesystem as an image, a
//! change list, or a tarball.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};

use super::{CliError, engine, print};
use crate::runtime::container::commit::{CommitOptions, commit as commit_container};
use crate::runtime::container::diff::diff as container_diff;
use crate::runtime::container::export::export as export_container;
use crate::runtime::container::lifecycle;
use crate::runtime::store::{Store, unique_suffix};

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(
        short = 'p',
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true"
    )]
    pub pause: bool,
    /// The container to commit
    pub container: String,
    /// REPOSITORY[:TAG] for the new image
    pub reference: Option<String>,
}

pub fn commit(args: &CommitArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    let c = lifecycle::find(&store, &args.container).map_err(engine)?;
    let options = CommitOptions {
        reference: args.reference.as_deref(),
        author: args.author.as_deref(),
        message: args.message.as_deref(),
        changes: &args.changes,
        pause: args.pause,
    };
    let id = commit_container(&store, &c, &options).map_err(engine)?;
    print(&format!("{id}\n"))?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container to compare with its image
    pub container: String,
}

pub fn diff(args: &DiffArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let c = lifecycle::find(&store, &args.container).map_err(engine)?;
    let changes = container_diff(&store, &c).map_err(engine)?;
    let text: String = changes.iter().map(|c| format!("{c}\n")).collect();
    print(&text)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The container to export
    pub container: String,
}

pub fn export(args: &ExportArgs, root: &Path) -> Result<i32, CliError> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let store = Store::open_readonly(root);
    let c = lifecycle::find(&store, &args.container).map_err(engine)?;
    match &args.output {
        Some(path) => export_to_file(&store, &c, path),
        None => {
            let mut out = std::io::stdout().lock();
            export_container(&store, &c, &mut out).map_err(engine)?;
            out.flush()?;
            Ok(0)
        }
    }
}

/// Like docker: a temp file beside the target, renamed over it when whole.
fn export_to_file(store: &Store, c: &lifecycle::Container, path: &Path) -> Result<i32, CliError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".berth_export_{}", unique_suffix()));
    let write_err = |source| CliError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    let result = export_container(store, c, &mut file)
        .map_err(engine)
        .and_then(|()| file.sync_all().map_err(write_err))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(write_err));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| 0)
}
