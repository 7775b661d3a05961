//! Image verbs: `import`.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use super::container::open_store;
use super::{CliError, print};
use crate::runtime::image::{ImportOptions, import_with};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A rootfs tarball (plain or gzip), or `-` for standard input
    pub file: PathBuf,
    /// Name and optionally a tag for the image (name:tag)
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, ...)
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set a commit message for the imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
}

pub fn import(args: &ImportArgs, root: &std::path::Path) -> Result<i32, CliError> {
    let store = open_store(root)?;
    let source = args.file.display().to_string();
    let reader: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.file).map_err(|e| CliError::Engine {
                message: format!("open {source}: {e}"),
                code: 125,
            })?,
        )
    };
    let options = ImportOptions {
        reference: args.reference.as_deref(),
        changes: &args.changes,
        message: args.message.as_deref(),
        source: Some(&source),
        created: None,
    };
    let id = import_with(&store, std::io::BufReader::new(reader), &options).map_err(|e| {
        CliError::Engine {
            message: e.to_string(),
            code: 125,
        }
    })?;
    print(&format!("{id}\n"))?;
    Ok(0)
}
