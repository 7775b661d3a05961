//! `stack logs`: every selected container's log, merged in time order, each
//! line prefixed `web-1  | ` (colored per container on a terminal).

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::logs::{Entry, decode_entry, parse_tail, read_entries};
use super::output::parse_time;
use super::{CliError, engine};
use crate::planner::project::{self, Selection};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record;
use crate::runtime::monitor::logfile::log_path;
use crate::runtime::store::Store;

/// compose's palette: cyan, yellow, green, magenta, blue, then the bright ones.
const COLORS: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of each container's log ("all")
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print the prefix
    #[arg(long)]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

/// One container's log being read: where it is, how far, how to prefix it.
struct Source {
    id: String,
    path: PathBuf,
    pos: u64,
    partial: Vec<u8>,
    prefix: String,
}

impl Source {
    fn new(c: &Container, path: PathBuf, pos: u64, prefix: String) -> Source {
        Source {
            id: c.record.id.clone(),
            path,
            pos,
            partial: Vec::new(),
            prefix,
        }
    }
}

fn log_of(store: &Store, c: &Container) -> PathBuf {
    log_path(
        &record::container_dir(store.root(), &c.record.id),
        &c.record.id,
    )
}

pub fn logs(project: &str, args: &LogsArgs, root: &Path) -> Result<i32, CliError> {
    let store = Store::open_readonly(root);
    let sel = Selection {
        services: args.services.clone(),
        all: true,
        oneoff: false,
    };
    let list = project::containers(&store, project, &sel).map_err(engine)?;
    let tail = parse_tail(&args.tail)?;
    let color = !args.no_color && std::io::stdout().is_terminal();
    let prefixes = prefixes(project, &list, color, args.no_log_prefix);
    let mut sources = Vec::new();
    let mut merged: Vec<(usize, Entry)> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let path = log_of(&store, c);
        let (entries, pos) = read_entries(&path, tail).map_err(engine)?;
        merged.extend(entries.into_iter().map(|e| (i, e)));
        sources.push(Source::new(c, path, pos, prefixes[i].clone()));
    }
    if write_merged(&sources, merged, args.timestamps).is_err() {
        return Ok(0);
    }
    if args.follow {
        follow(&store, &mut sources, args.timestamps)?;
    }
    Ok(0)
}

/// `web-1  | `, padded to the longest name; the project prefix is left out.
fn prefixes(project: &str, list: &[Container], color: bool, none: bool) -> Vec<String> {
    if none {
        return vec![String::new(); list.len()];
    }
    let short = |c: &Container| {
        let name = &c.record.name;
        name.strip_prefix(&format!("{project}-"))
            .unwrap_or(name)
            .to_string()
    };
    let width = list.iter().map(|c| short(c).len()).max().unwrap_or(0);
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let text = format!("{:<width$} | ", short(c));
            match color {
                true => format!("\x1b[{}m{text}\x1b[0m", COLORS[i % COLORS.len()]),
                false => text,
            }
        })
        .collect()
}

/// Sorts by time (stable, so one container's lines keep their order) and
/// writes every line with its prefix.
fn write_merged(
    sources: &[Source],
    mut merged: Vec<(usize, Entry)>,
    timestamps: bool,
) -> std::io::Result<()> {
    merged.sort_by_key(|(_, e)| parse_time(&e.time));
    let mut out = Vec::new();
    for (i, entry) in &merged {
        out.extend_from_slice(sources[*i].prefix.as_bytes());
        if timestamps {
            out.extend_from_slice(entry.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&entry.text);
        if !entry.text.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()
}

/// A foreground `up`'s view of the project's logs: output written since the
/// `up` began, pumped out as it comes.
pub struct Attachment {
    store: Store,
    sources: Vec<Source>,
    since: chrono::DateTime<chrono::Utc>,
}

impl Attachment {
    pub fn new(
        root: &Path,
        project: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Attachment, CliError> {
        let store = Store::open_readonly(root);
        let sel = Selection {
            services: Vec::new(),
            all: true,
            oneoff: false,
        };
        let list = project::containers(&store, project, &sel).map_err(engine)?;
        let color = std::io::stdout().is_terminal();
        let prefixes = prefixes(project, &list, color, false);
        let names: Vec<&str> = list.iter().map(|c| c.record.name.as_str()).collect();
        eprintln!("Attaching to {}", names.join(", "));
        let sources = list
            .iter()
            .zip(prefixes)
            .map(|(c, prefix)| Source::new(c, log_of(&store, c), 0, prefix))
            .collect();
        Ok(Attachment {
            store,
            sources,
            since,
        })
    }

    /// Prints what was written since the last call; false once no container
    /// runs and nothing was left to print.
    pub fn pump(&mut self) -> Result<bool, CliError> {
        let (running, merged) = read_all_new(&self.store, &mut self.sources, Some(self.since))?;
        let read_any = !merged.is_empty();
        // A closed stdout only ends the streaming, not the stack.
        let _ = write_merged(&self.sources, merged, false);
        Ok(running || read_any)
    }
}

/// Whether any container still runs (checked first, so nothing written before
/// it stopped is missed), and every source's new lines, from `since` on.
fn read_all_new(
    store: &Store,
    sources: &mut [Source],
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(bool, Vec<(usize, Entry)>), CliError> {
    let running = sources.iter().any(|s| {
        lifecycle::load(store, &s.id)
            .map(|c| c.is_running())
            .unwrap_or(false)
    });
    let mut merged = Vec::new();
    for (i, source) in sources.iter_mut().enumerate() {
        let fresh = read_new(source).map_err(engine)?;
        merged.extend(
            fresh
                .into_iter()
                .filter(|e| since.is_none_or(|s| parse_time(&e.time).is_none_or(|t| t >= s)))
                .map(|e| (i, e)),
        );
    }
    Ok((running, merged))
}

/// Prints what the containers append, until none of them runs any more.
fn follow(store: &Store, sources: &mut [Source], timestamps: bool) -> Result<(), CliError> {
    loop {
        let (running, merged) = read_all_new(store, sources, None)?;
        let read_any = !merged.is_empty();
        if write_merged(sources, merged, timestamps).is_err() {
            return Ok(());
        }
        if !running && !read_any {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The complete lines appended since the last read; starts over when the
/// log was rotated (it got shorter).
fn read_new(source: &mut Source) -> std::io::Result<Vec<Entry>> {
    let Ok(mut file) = std::fs::File::open(&source.path) else {
        return Ok(Vec::new());
    };
    if file.metadata()?.len() < source.pos {
        source.pos = 0;
        source.partial.clear();
    }
    file.seek(SeekFrom::Start(source.pos))?;
    let read = file.read_to_end(&mut source.partial)?;
    source.pos += read as u64;
    let mut out = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &source.partial) {
        out.extend(decode_entry(&source.partial[start..=end]));
        start = end + 1;
    }
    source.partial.drain(..start);
    Ok(out)
}
