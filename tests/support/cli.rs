//! Runs the berth binary with a private `--root`.

use std::path::Path;
use std::process::{Command, Output};

#[derive(Debug)]
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

/// `berth --root <root> ARGS...` with `input` on its standard input.
pub fn berth_with_input(root: &Path, args: &[&str], input: impl AsRef<[u8]>) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("cannot run berth: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // berth may exit before reading everything; that is its answer.
        let _ = stdin.write_all(input.as_ref());
    }
    match child.wait_with_output() {
        Ok(out) => out.into(),
        Err(e) => panic!("waiting for berth: {e}"),
    }
}
