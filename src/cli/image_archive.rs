//! `save` and `load`: images to and from docker-compatible tar archives.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::Args;

use super::container::open_store;
use super::{CliError, engine, print};
use crate::runtime::image::Digest;
use crate::runtime::image::archive::{self, LoadedImage};
use crate::runtime::store::{Store, unique_suffix};

const BUFFER: usize = 1 << 16;
/// docker's progress bar, as it looks once a layer is done.
const FULL_BAR: &str = "[==================================================>]";

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Images to save: name[:tag], name@digest, or image ID
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn save(args: &SaveArgs, root: &Path) -> Result<i32, CliError> {
    let Some(path) = &args.output else {
        if io::stdout().is_terminal() {
            return Err(CliError::Usage(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
            ));
        }
        let store = open_store(root)?;
        let out = BufWriter::with_capacity(BUFFER, io::stdout().lock());
        archive::save(&store, &args.images, out).map_err(engine)?;
        return Ok(0);
    };
    let store = open_store(root)?;
    save_to_file(&store, &args.images, path)?;
    Ok(0)
}

/// Writes beside `path` and renames at the end, so a failed save never leaves
/// a truncated archive under the name asked for.
fn save_to_file(store: &Store, images: &[String], path: &Path) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or_else(
        || "archive".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.tmp-{}", unique_suffix()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| engine(format!("cannot write {}: {e}", path.display())))?;
    let result = archive::save(store, images, BufWriter::with_capacity(BUFFER, file))
        .map_err(engine)
        .and_then(|()| {
            fs::rename(&tmp, path)
                .map_err(|e| engine(format!("cannot write {}: {e}", path.display())))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub fn load(args: &LoadArgs, root: &Path) -> Result<i32, CliError> {
    let input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(
            File::open(path).map_err(|e| engine(format!("cannot open {}: {e}", path.display())))?,
        ),
        None if io::stdin().is_terminal() => {
            return Err(CliError::Usage(
                "requested load from stdin, but stdin is empty".into(),
            ));
        }
        None => Box::new(io::stdin().lock()),
    };
    let store = open_store(root)?;
    let progress = !args.quiet && io::stdout().is_terminal();
    let mut on_layer = |diff_id: &Digest, size: u64| {
        if progress {
            let size = human_size(size);
            let _ = print(&format!(
                "{}: Loading layer {FULL_BAR}  {size}/{size}\n",
                diff_id.short()
            ));
        }
    };
    let loaded = archive::load(
        &store,
        BufReader::with_capacity(BUFFER, input),
        &mut on_layer,
    )
    .map_err(engine)?;
    print(&loaded_lines(&loaded))?;
    Ok(0)
}

/// docker's report: one line per tag, or the ID of an untagged image.
fn loaded_lines(loaded: &[LoadedImage]) -> String {
    let mut out = String::new();
    for image in loaded {
        if image.tags.is_empty() {
            out.push_str(&format!("Loaded image ID: {}\n", image.id));
        }
        for tag in &image.tags {
            let name = tag.reference.familiar();
            if let Some(old) = &tag.replaced {
                out.push_str(&format!(
                    "The image {name} already exists, renaming the old one with ID {old} to empty string\n"
                ));
            }
            out.push_str(&format!("Loaded image: {name}\n"));
        }
    }
    out
}

/// go-units' HumanSize: decimal units, four significant digits.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::image::Reference;
    use crate::runtime::image::archive::LoadedTag;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2_129_920), "2.13MB");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn loaded_lines_name_tags_or_the_id() {
        let id = Digest::of_bytes(b"config");
        let old = Digest::of_bytes(b"old");
        let loaded = [
            LoadedImage {
                id: id.clone(),
                tags: vec![LoadedTag {
                    reference: Reference::parse("busybox").unwrap(),
                    replaced: Some(old.clone()),
                }],
            },
            LoadedImage {
                id: id.clone(),
                tags: Vec::new(),
            },
        ];
        assert_eq!(
            loaded_lines(&loaded),
            format!(
                "The image busybox:latest already exists, renaming the old one with ID {old} to empty string\nLoaded image: busybox:latest\nLoaded image ID: {id}\n"
            )
        );
    }
}
