//! Flags every stack verb shares: which files, which project, which profiles.

use std::path::PathBuf;

use clap::Args;

use crate::spec::{LoadOptions, Project, SpecError, load};

#[derive(Debug, Clone, Args, Default)]
pub struct StackArgs {
    /// Stack file (repeatable; later files override earlier ones; `-` for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Directory that relative paths are resolved from (default: the first file's)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Env file for interpolation (repeatable; default: .env in the project directory)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profile to enable (repeatable; also COMPOSE_PROFILES)
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

impl StackArgs {
    pub fn load(&self) -> Result<Project, SpecError> {
        let cwd =
            std::env::current_dir().map_err(|e| SpecError::io(std::path::Path::new("."), e))?;
        let mut opts = LoadOptions::from_process(cwd);
        opts.files = self.files.clone();
        opts.project_name = self.project_name.clone();
        opts.project_directory = self.project_directory.clone();
        opts.env_files = self.env_files.clone();
        opts.profiles = self.profiles.clone();
        load(&opts)
    }
}
