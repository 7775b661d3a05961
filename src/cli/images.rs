//! Local image verbs: `images`, `tag`, `rmi`, `history`, and the `image`
//! group (`ls`, `rm`, `tag`, `history`, `inspect`, `prune`, `import`).
//!
//! Like docker, what the user can fix (no such image, a conflict, a bad
//! filter) is reported as `Error response from daemon: ...` with status 1;
//! berth itself failing (unreadable state) is status 125.

use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Local, SecondsFormat, Utc};
use clap::{ArgAction, Args, Subcommand};
use serde_json::{Value, json};

use super::image::{ImportArgs, import};
use super::inspect::{image_json, write_inspected};
use super::lifecycle::ListFormat;
use super::logs::time_bound;
use super::output::{docker_table, go_json, human_duration, human_size, templated_rows};
use super::{CliError, each, engine, print};
use crate::runtime::image::list::{self, ImageFilter, ListError, Summary};
use crate::runtime::image::remove::{self, Removal};
use crate::runtime::image::{HistoryEntry, ImageError, ImageStore, Reference, Refs};
use crate::runtime::store::Store;

/// `image` subcommands; new verbs (save, load, pull, push) are one variant
/// and one match arm each.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["rmi", "remove"])]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Import a rootfs tarball as a one-layer image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(super::registry::PullArgs),
    /// Upload an image to a registry
    Push(super::registry::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(super::image_archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(super::image_archive::LoadArgs),
}

pub fn image(cmd: &ImageCommand, root: &Path) -> Result<i32, CliError> {
    match cmd {
        ImageCommand::Ls(args) => images(args, root),
        ImageCommand::Rm(args) => rmi(args, root),
        ImageCommand::Tag(args) => tag(args, root),
        ImageCommand::History(args) => history(args, root),
        ImageCommand::Inspect(args) => inspect(args, root),
        ImageCommand::Prune(args) => prune(args, root),
        ImageCommand::Import(args) => import(args, root),
        ImageCommand::Pull(args) => super::registry::pull_cmd(args, root),
        ImageCommand::Push(args) => super::registry::push_cmd(args, root),
        ImageCommand::Save(args) => super::image_archive::save(args, root),
        ImageCommand::Load(args) => super::image_archive::load(args, root),
    }
}

/// Prints a daemon-side error the way the docker CLI does; status 1.
fn daemon_error(message: &str) -> Result<i32, CliError> {
    eprintln!("Error response from daemon: {message}");
    Ok(1)
}

/// Unknown or ambiguous names and bad references are the user's (status 1,
/// docker's wording); anything else is an engine failure.
fn image_failure(e: ImageError) -> Result<i32, CliError> {
    match e {
        ImageError::NotFound { reference } => daemon_error(&format!("No such image: {reference}")),
        ImageError::Ambiguous { .. } | ImageError::Reference(_) => daemon_error(&e.to_string()),
        other => Err(engine(other)),
    }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "bad format of filter (expected name=value)".to_string())
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (berth records no intermediate images: the same list)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE, until=TIME
    #[arg(short = 'f', long = "filter", value_name = "FILTER", value_parser = key_value)]
    pub filters: Vec<(String, String)>,
    /// Format output: table, json, table TEMPLATE or a Go template such as
    /// {{.Repository}}:{{.Tag}}
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only images of this repository (and tag; globs like busy* allowed)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

/// One line of `images`.
struct ImageRow {
    repository: String,
    tag: String,
    digest: String,
    id: String,
    created_since: String,
    created_at: String,
    size: String,
}

pub fn images(args: &ImagesArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let images = ImageStore::new(&store);
    let mut filter = match build_filter(&images, &args.filters) {
        Ok(f) => f,
        Err(message) => return daemon_error(&message),
    };
    filter.references.extend(args.repository.clone());
    let list = match list::list(&images, &filter) {
        Ok(l) => l,
        Err(e @ ListError::BadPattern { .. }) => return daemon_error(&e.to_string()),
        Err(e) => return Err(engine(e)),
    };
    let rows: Vec<ImageRow> = list.iter().flat_map(|s| image_rows(s, args)).collect();
    if args.quiet {
        let mut ids: Vec<&str> = Vec::new();
        for row in &rows {
            if !ids.contains(&row.id.as_str()) {
                ids.push(&row.id);
            }
        }
        print(&ids.iter().map(|id| format!("{id}\n")).collect::<String>())?;
        return Ok(0);
    }
    let text = match args.format.as_deref().map(str::trim).unwrap_or("table") {
        "json" => rows
            .iter()
            .map(|r| format!("{}\n", go_json(&image_row_json(r).to_string())))
            .collect(),
        "table" => images_table(&rows, args.digests),
        template => {
            let values: Vec<Value> = rows.iter().map(image_row_json).collect();
            templated_rows(&values, template, IMAGE_TITLES).map_err(CliError::Usage)?
        }
    };
    print(&text)?;
    Ok(0)
}

/// docker's titles for `images --format 'table ...'` fields.
const IMAGE_TITLES: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "SIZE"),
];

fn build_filter(
    images: &ImageStore<'_>,
    filters: &[(String, String)],
) -> Result<ImageFilter, String> {
    let mut filter = ImageFilter::default();
    for (key, value) in filters {
        match key.as_str() {
            "dangling" => {
                filter.dangling = Some(match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("invalid filter 'dangling=[{value}]'")),
                })
            }
            "reference" => filter.references.push(value.clone()),
            "label" => filter.labels.push(match value.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (value.clone(), None),
            }),
            "before" => filter.before = Some(created_of(images, value)?),
            "since" => filter.since = Some(created_of(images, value)?),
            "until" => filter.until = Some(time_bound(value).map_err(|e| e.to_string())?),
            other => return Err(format!("invalid filter '{other}'")),
        }
    }
    Ok(filter)
}

fn created_of(images: &ImageStore<'_>, name: &str) -> Result<DateTime<Utc>, String> {
    let image = images.resolve(name).map_err(|e| match e {
        ImageError::NotFound { reference } => format!("No such image: {reference}"),
        other => other.to_string(),
    })?;
    Ok(created_time(image.created.as_deref()))
}

/// An image's creation time; docker's zero time (the epoch) when unknown.
fn created_time(created: Option<&str>) -> DateTime<Utc> {
    created
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

fn since(time: DateTime<Utc>) -> String {
    format!("{} ago", human_duration((Utc::now() - time).num_seconds()))
}

fn image_rows(summary: &Summary, args: &ImagesArgs) -> Vec<ImageRow> {
    let image = &summary.image;
    let created = created_time(image.created.as_deref());
    let row = |repository: String, tag: String, digest: String| ImageRow {
        repository,
        tag,
        digest,
        id: if args.no_trunc {
            image.id.to_string()
        } else {
            image.short_id().to_string()
        },
        created_since: since(created),
        // Go's time.String(), in UTC.
        created_at: created.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        size: human_size(image.size, 3),
    };
    let none = || "<none>".to_string();
    if summary.tags.is_empty() {
        return vec![row(none(), none(), none())];
    }
    summary
        .tags
        .iter()
        .map(|t| {
            let digest = if args.digests {
                image.manifest.to_string()
            } else {
                none()
            };
            let tag = t.effective_tag().map_or_else(none, str::to_string);
            row(t.familiar_name(), tag, digest)
        })
        .collect()
}

fn images_table(rows: &[ImageRow], digests: bool) -> String {
    let mut header = vec!["REPOSITORY", "TAG"];
    if digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.repository.clone(), r.tag.clone()];
            if digests {
                cells.push(r.digest.clone());
            }
            cells.extend([r.id.clone(), r.created_since.clone(), r.size.clone()]);
            cells
        })
        .collect();
    docker_table(&header, &cells)
}

/// docker's `{{json .}}` of an image line (keys sorted, as Go writes a map).
/// docker's `images --format json` object (every value a string).
fn image_row_json(r: &ImageRow) -> Value {
    json!({
        "Containers": "N/A",
        "CreatedAt": r.created_at,
        "CreatedSince": r.created_since,
        "Digest": r.digest,
        "ID": r.id,
        "Repository": r.repository,
        "SharedSize": "N/A",
        "Size": r.size,
        "Tag": r.tag,
        "UniqueSize": "N/A",
        "VirtualSize": r.size,
    })
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

pub fn tag(args: &TagArgs, root: &Path) -> Result<i32, CliError> {
    let target = match Reference::parse(&args.target) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "Error parsing reference: {:?} is not a valid repository/tag: {e}",
                args.target
            );
            return Ok(1);
        }
    };
    if target.digest().is_some() {
        return daemon_error("refusing to create a tag with a digest reference");
    }
    let store = Store::open(root).map_err(engine)?;
    let image = match ImageStore::new(&store).resolve(&args.source) {
        Ok(i) => i,
        Err(e) => return image_failure(e),
    };
    Refs::new(&store).tag(&target, &image.id).map_err(engine)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub fn rmi(args: &RmiArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open(root).map_err(engine)?;
    each(&args.images, |name| {
        let removed = remove::remove(&store, name, args.force).map_err(|e| CliError::Engine {
            code: if e.is_user_error() { 1 } else { 125 },
            message: e.to_string(),
        })?;
        let lines: Vec<String> = removed
            .iter()
            .map(|r| match r {
                Removal::Untagged(t) => format!("Untagged: {t}"),
                Removal::Deleted(d) => format!("Deleted: {d}"),
            })
            .collect();
        Ok((!lines.is_empty()).then(|| lines.join("\n")))
    })
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(
        short = 'H',
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub image: String,
}

/// docker truncates CREATED BY to this many characters (the last one `…`).
const CREATED_BY_WIDTH: usize = 45;

struct HistoryRow {
    id: String,
    created_since: String,
    created_at: String,
    created_by: String,
    size: String,
    comment: String,
}

pub fn history(args: &HistoryArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let image = match ImageStore::new(&store).resolve(&args.image) {
        Ok(i) => i,
        Err(e) => return image_failure(e),
    };
    let entries = image.history().map_err(engine)?;
    let top_id = if args.no_trunc {
        image.id.to_string()
    } else {
        image.short_id().to_string()
    };
    let rows: Vec<HistoryRow> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| history_row(e, if i == 0 { &top_id } else { "<missing>" }, args))
        .collect();
    let text = if args.quiet {
        rows.iter().map(|r| format!("{}\n", r.id)).collect()
    } else {
        match args.format {
            ListFormat::Json => rows.iter().map(history_json_line).collect(),
            ListFormat::Table => history_table(&rows, args.human),
        }
    };
    print(&text)?;
    Ok(0)
}

fn history_row(entry: &HistoryEntry, id: &str, args: &HistoryArgs) -> HistoryRow {
    let created = created_time(entry.created.as_deref());
    // Go's time.Format(time.RFC3339), in the local time zone.
    let created_at = created
        .with_timezone(&Local)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let created_by = entry.created_by.replace('\t', " ");
    HistoryRow {
        id: id.to_string(),
        created_since: if args.human {
            since(created)
        } else {
            created_at.clone()
        },
        created_at,
        created_by: if args.no_trunc {
            created_by
        } else {
            ellipsis(&created_by, CREATED_BY_WIDTH)
        },
        size: if args.human {
            human_size(entry.size, 3)
        } else {
            entry.size.to_string()
        },
        comment: entry.comment.clone(),
    }
}

fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

fn history_table(rows: &[HistoryRow], human: bool) -> String {
    let created = if human { "CREATED" } else { "CREATED AT" };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.created_since.clone(),
                r.created_by.clone(),
                r.size.clone(),
                r.comment.clone(),
            ]
        })
        .collect();
    docker_table(&["IMAGE", created, "CREATED BY", "SIZE", "COMMENT"], &cells)
}

fn history_json_line(r: &HistoryRow) -> String {
    let value = json!({
        "Comment": r.comment,
        "CreatedAt": r.created_at,
        "CreatedBy": r.created_by,
        "CreatedSince": r.created_since,
        "ID": r.id,
        "Size": r.size,
    });
    format!("{}\n", go_json(&value.to_string()))
}

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format the output using a Go-template field path, e.g. {{.Os}}
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub fn inspect(args: &ImageInspectArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let images = ImageStore::new(&store);
    let mut found: Vec<Value> = Vec::new();
    let mut failed = false;
    for name in &args.images {
        match images.resolve(name) {
            Ok(image) => found.push(image_json(&images, &image)),
            Err(ImageError::NotFound { .. }) => {
                eprintln!("Error: No such image: {name}");
                failed = true;
            }
            Err(e @ (ImageError::Ambiguous { .. } | ImageError::Reference(_))) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
            Err(e) => return Err(engine(e)),
        }
    }
    write_inspected(args.format.as_deref(), found)?;
    Ok(i32::from(failed))
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";
const ALL_WARNING: &str = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";

pub fn prune(args: &PruneArgs, root: &Path) -> Result<i32, CliError> {
    let warning = if args.all {
        ALL_WARNING
    } else {
        DANGLING_WARNING
    };
    // Declining is a cancellation, not a failure: docker exits 0, silently.
    if !args.force && !confirm(warning)? {
        return Ok(0);
    }
    let store = Store::open(root).map_err(engine)?;
    let pruned = remove::prune(&store, args.all).map_err(engine)?;
    let mut out = String::new();
    if !pruned.removed.is_empty() {
        out.push_str("Deleted Images:\n");
        for r in &pruned.removed {
            match r {
                Removal::Untagged(t) => out.push_str(&format!("untagged: {t}\n")),
                Removal::Deleted(d) => out.push_str(&format!("deleted: {d}\n")),
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(pruned.reclaimed, 4)
    ));
    print(&out)?;
    Ok(0)
}

/// docker's prompt: the question on stdout, one line read from stdin (a
/// terminal or not); only `y` or `Y` agrees, and end of input is a no.
pub(super) fn confirm(question: &str) -> Result<bool, CliError> {
    print(&format!("{question} [y/N] "))?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_by_is_cut_like_docker() {
        let long = "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd3443cef785fd1 in / ";
        let cut = ellipsis(long, CREATED_BY_WIDTH);
        assert_eq!(cut, "/bin/sh -c #(nop) ADD file:7e9002edaafd4e457…");
        assert_eq!(cut.chars().count(), CREATED_BY_WIDTH);
        assert_eq!(ellipsis("short", CREATED_BY_WIDTH), "short");
    }

    #[test]
    fn filters_are_parsed_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_readonly(dir.path());
        let images = ImageStore::new(&store);
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let f = build_filter(
            &images,
            &pairs(&[
                ("dangling", "true"),
                ("reference", "busy*"),
                ("label", "a=b"),
                ("label", "c"),
            ]),
        )
        .unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!(f.references, ["busy*"]);
        assert_eq!(
            f.labels,
            [
                ("a".to_string(), Some("b".to_string())),
                ("c".to_string(), None)
            ]
        );
        let err = build_filter(&images, &pairs(&[("dangling", "maybe")])).unwrap_err();
        assert_eq!(err, "invalid filter 'dangling=[maybe]'");
        let err = build_filter(&images, &pairs(&[("color", "red")])).unwrap_err();
        assert_eq!(err, "invalid filter 'color'");
        let err = build_filter(&images, &pairs(&[("before", "nosuch")])).unwrap_err();
        assert_eq!(err, "No such image: nosuch:latest");
        assert!(key_value("novalue").is_err());
    }
}
