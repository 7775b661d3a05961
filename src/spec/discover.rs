//! Finding the stack files and naming the project.

use std::path::{Path, PathBuf};

use super::error::SpecError;

pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Looks in `dir` and its parents for a default stack file, as docker compose does.
/// An override file beside it (`compose.override.yaml`) comes along.
pub fn find_default_files(dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    for candidate_dir in dir.ancestors() {
        if let Some(file) = first_existing(candidate_dir) {
            let mut files = vec![file.clone()];
            if let Some(over) = override_file(&file) {
                files.push(over);
            }
            return Ok(files);
        }
    }
    Err(SpecError::NoFile {
        dir: dir.to_path_buf(),
    })
}

fn first_existing(dir: &Path) -> Option<PathBuf> {
    DEFAULT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

fn override_file(file: &Path) -> Option<PathBuf> {
    let stem = file.file_stem()?.to_str()?;
    let ext = file.extension()?.to_str()?;
    let over = file.with_file_name(format!("{stem}.override.{ext}"));
    over.is_file().then_some(over)
}

/// Compose's project-name rule: lowercase letters, digits, dashes and underscores,
/// starting with a letter or digit.
pub fn is_valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Makes a valid project name from a directory name: lowercased, other characters
/// dropped, leading dashes and underscores trimmed.
pub fn normalize_project_name(raw: &str) -> String {
    let kept: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    kept.trim_start_matches(['-', '_']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert!(is_valid_project_name("my-app_1"));
        assert!(!is_valid_project_name("My-App"));
        assert!(!is_valid_project_name("_x"));
        assert!(!is_valid_project_name(""));
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__Hello"), "hello");
    }

    #[test]
    fn finds_files_in_parents_with_override() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n")?;
        std::fs::write(dir.path().join("compose.override.yaml"), "services: {}\n")?;
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub)?;
        let files = find_default_files(&sub).map_err(std::io::Error::other)?;
        assert_eq!(
            files,
            vec![
                dir.path().join("compose.yaml"),
                dir.path().join("compose.override.yaml")
            ]
        );
        Ok(())
    }
}
