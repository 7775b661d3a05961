//! Runs the berth binary with a private `--root`.

use std::path::Path;
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `berth --root <root> ARGS...` in `cwd`.
pub fn berth(root: &Path, cwd: &Path, args: &[&str]) -> Run {
    berth_env(root, cwd, args, &[])
}

/// Like [`berth`], with extra environment variables.
pub fn berth_env(root: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .envs(env.iter().copied())
        .arg("--root")
        .arg(root)
        .args(args)
        .current_dir(cwd)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("BERTH_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .output();
    match out {
        Ok(out) => out.into(),
        Err(e) => Run {
            code: -1,
            stdout: String::new(),
            stderr: format!("cannot run berth: {e}"),
        },
    }
}
