//! Errors of the stack-file loader. Every variant that comes from a file names the
//! file, the line and column, and the key path, so a user can go straight to it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A place in a stack file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(file: &Arc<Path>, line: usize, col: usize) -> Pos {
        Pos {
            file: Arc::clone(file),
            line,
            col,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}", located(.at, .path, .message))]
    Invalid {
        at: Option<Pos>,
        path: String,
        message: String,
    },
    #[error("{at}: {path}: unknown key `{key}`")]
    UnknownKey { at: Pos, path: String, key: String },
    #[error("{at}: invalid YAML: {message}")]
    Syntax { at: Pos, message: String },
    #[error("{}", located(.at, .path, .message))]
    Interpolation {
        at: Option<Pos>,
        path: String,
        message: String,
    },
    #[error("{}:{line}: invalid line in env file: {message}", .file.display())]
    EnvFile {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}", located(.at, "", &format!("dependency cycle detected: {}", .cycle.join(" -> "))))]
    Cycle { at: Option<Pos>, cycle: Vec<String> },
    #[error("include cycle detected: {}", join_paths(.chain))]
    IncludeCycle { chain: Vec<PathBuf> },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no stack file found in {} or its parents (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml); pass one with -f",
        .dir.display()
    )]
    NoFile { dir: PathBuf },
    #[error("{}: empty stack file", .file.display())]
    Empty { file: PathBuf },
}

impl SpecError {
    pub fn invalid(at: &Pos, path: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            at: Some(at.clone()),
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> SpecError {
        SpecError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn located(at: &Option<Pos>, path: &str, message: &str) -> String {
    let mut out = String::new();
    if let Some(at) = at {
        out.push_str(&format!("{at}: "));
    }
    if !path.is_empty() {
        out.push_str(path);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

fn join_paths(chain: &[PathBuf]) -> String {
    let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
    names.join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_file_line_col_and_path() {
        let file: Arc<Path> = Arc::from(Path::new("compose.yaml"));
        let err = SpecError::invalid(
            &Pos::new(&file, 12, 9),
            "services.web.ports[1]",
            "invalid port \"80:abc\"",
        );
        assert_eq!(
            err.to_string(),
            "compose.yaml:12:9: services.web.ports[1]: invalid port \"80:abc\""
        );
    }

    #[test]
    fn cycle_lists_each_step() {
        let err = SpecError::Cycle {
            at: None,
            cycle: vec!["a".into(), "b".into(), "a".into()],
        };
        assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
    }
}
