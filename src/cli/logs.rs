//! `logs`: the json-file log, decoded at close to the speed of reading it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::output::parse_time;
use super::{CliError, engine};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record;
use crate::runtime::monitor::logfile::{self, log_files, log_path};
use crate::runtime::store::Store;

/// Output is gathered and written in blocks this large.
const FLUSH_AT: usize = 1 << 18;
/// The log is read in blocks this large.
const READ_BLOCK: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339) or relative time (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or relative time (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

/// RFC 3339, a Unix time, or a duration before now (`10m`, `1h30m`).
pub(super) fn time_bound(text: &str) -> Result<chrono::DateTime<chrono::Utc>, CliError> {
    if let Some(t) = parse_time(text) {
        return Ok(t);
    }
    if let Ok(secs) = text.parse::<i64>() {
        return chrono::DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| engine(format!("invalid time {text:?}")));
    }
    let d = crate::spec::duration::Duration::parse(text).map_err(engine)?;
    let d = chrono::Duration::from_std(d.as_std()).map_err(engine)?;
    Ok(chrono::Utc::now() - d)
}

struct LogFilter {
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    timestamps: bool,
}

/// A log line parsed without copying the text.
#[derive(serde::Deserialize)]
struct LogLineRef<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
}

/// The decoded text for stdout and for stderr, written out in large blocks.
struct Output {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Output {
    fn new() -> Output {
        Output {
            out: Vec::with_capacity(FLUSH_AT + 4096),
            err: Vec::new(),
        }
    }

    fn sink(&mut self, stream: &str) -> &mut Vec<u8> {
        if stream == "stderr" {
            &mut self.err
        } else {
            &mut self.out
        }
    }

    fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.out.len() + self.err.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().write_all(&self.out)?;
        self.out.clear();
        std::io::stderr().lock().write_all(&self.err)?;
        self.err.clear();
        std::io::stdout().lock().flush()
    }
}

impl LogFilter {
    /// Decodes one raw json-file line; malformed lines are skipped.
    fn emit(&self, raw: &[u8], output: &mut Output) {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let marks = (output.out.len(), output.err.len());
        if logfile::decode_fast(raw, output, |stream, time, output| {
            self.sink(stream, time, output)
        }) {
            return;
        }
        output.out.truncate(marks.0);
        output.err.truncate(marks.1);
        let Ok(line) = serde_json::from_slice::<LogLineRef<'_>>(raw) else {
            return;
        };
        if let Some(sink) = self.sink(&line.stream, line.time.as_bytes(), output) {
            sink.extend_from_slice(line.log.as_bytes());
        }
    }

    /// Where a line goes (after its timestamp, with `-t`), or None when the
    /// time window leaves it out.
    fn sink<'o>(
        &self,
        stream: &str,
        time: &[u8],
        output: &'o mut Output,
    ) -> Option<&'o mut Vec<u8>> {
        if self.since.is_some() || self.until.is_some() {
            let t = std::str::from_utf8(time).ok().and_then(parse_time);
            if self.since.is_some_and(|s| t.is_some_and(|t| t < s))
                || self.until.is_some_and(|u| t.is_some_and(|t| t > u))
            {
                return None;
            }
        }
        let sink = output.sink(stream);
        if self.timestamps {
            sink.extend_from_slice(time);
            sink.push(b' ');
        }
        Some(sink)
    }
}

/// Calls `each` with every complete line of `path` (with its newline). A 100 MB
/// log must stream, not load: a reader thread fills blocks while this one
/// decodes the previous, so decoding overlaps the copy out of the page cache.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            loop {
                let mut block = empty_rx.try_recv().unwrap_or_default();
                block.clear();
                let read = (&mut file).take(READ_BLOCK as u64).read_to_end(&mut block);
                let done = !matches!(read, Ok(n) if n > 0);
                if full_tx.send(read.map(|_| block)).is_err() || done {
                    return;
                }
            }
        });
        let mut carry: Vec<u8> = Vec::new();
        for block in full_rx {
            let block = block?;
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', &block) {
                if carry.is_empty() {
                    each(&block[start..=end])?;
                } else {
                    carry.extend_from_slice(&block[start..=end]);
                    each(&carry)?;
                    carry.clear();
                }
                start = end + 1;
            }
            // A last line without its newline (still being written) is left
            // out, as docker does.
            carry.extend_from_slice(&block[start..]);
            let _ = empty_tx.send(block);
        }
        Ok(())
    })
}

pub fn logs(args: &LogsArgs, root: &Path) -> Result<i32, CliError> {
    let st = Store::open_readonly(root);
    let c = lifecycle::find(&st, &args.container).map_err(super::daemon)?;
    let path = log_path(
        &record::container_dir(st.root(), &c.record.id),
        &c.record.id,
    );
    let filter = LogFilter {
        since: args.since.as_deref().map(time_bound).transpose()?,
        until: args.until.as_deref().map(time_bound).transpose()?,
        timestamps: args.timestamps,
    };
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| engine(format!("invalid --tail {n:?}")))?,
        ),
    };
    let mut output = Output::new();
    let result = match tail {
        None => log_files(&path).iter().try_for_each(|file| {
            for_each_line(file, |raw| {
                filter.emit(raw, &mut output);
                output.flush_if_full()
            })
        }),
        Some(n) => last_lines(&path, n).and_then(|lines| {
            lines.iter().try_for_each(|raw| {
                filter.emit(raw, &mut output);
                output.flush_if_full()
            })
        }),
    };
    // A closed pipe (`logs | head`) ends the output quietly.
    if result.and_then(|()| output.flush()).is_err() {
        return Ok(0);
    }
    if args.follow {
        follow(&st, &c, &path, &filter)?;
    }
    Ok(0)
}

/// The last `n` raw lines over every log file, oldest first.
fn last_lines(path: &Path, n: usize) -> std::io::Result<std::collections::VecDeque<Vec<u8>>> {
    let mut last = std::collections::VecDeque::with_capacity(n.min(10_000));
    for file in log_files(path) {
        for_each_line(&file, |raw| {
            if n > 0 {
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back(raw.to_vec());
            }
            Ok(())
        })?;
    }
    Ok(last)
}

/// Prints what is appended until the container stops, then what is left.
fn follow(st: &Store, c: &Container, path: &Path, filter: &LogFilter) -> Result<(), CliError> {
    let mut file = std::fs::File::open(path).map_err(engine)?;
    let mut pos = file.seek(SeekFrom::End(0)).map_err(engine)?;
    let mut partial = Vec::new();
    let mut output = Output::new();
    loop {
        let running = lifecycle::load(st, &c.record.id)
            .map(|c| c.is_running())
            .unwrap_or(false);
        if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < pos {
            // Rotated: start over on the new file.
            file = std::fs::File::open(path).map_err(engine)?;
            pos = 0;
        }
        file.seek(SeekFrom::Start(pos)).map_err(engine)?;
        let read = file.read_to_end(&mut partial).map_err(engine)?;
        pos += read as u64;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &partial) {
            filter.emit(&partial[start..=end], &mut output);
            start = end + 1;
        }
        partial.drain(..start);
        if output.flush().is_err() {
            return Ok(());
        }
        if !running && read == 0 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One decoded log line, for verbs that merge several containers' logs.
/// compose writes both streams to stdout, so the stream is not kept.
pub(super) struct Entry {
    /// RFC 3339 as the log has it.
    pub time: String,
    /// The text with its newline.
    pub text: Vec<u8>,
}

/// Decodes one raw json-file line (berth's fast layout, else any JSON).
pub(super) fn decode_entry(raw: &[u8]) -> Option<Entry> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let mut text = Vec::new();
    let mut head = None;
    if logfile::decode_fast(raw, &mut text, |_, time, out| {
        head = Some(String::from_utf8_lossy(time).into_owned());
        Some(out)
    }) && let Some(time) = head
    {
        return Some(Entry { time, text });
    }
    let line = serde_json::from_slice::<LogLineRef<'_>>(raw).ok()?;
    Some(Entry {
        time: line.time.into_owned(),
        text: line.log.as_bytes().to_vec(),
    })
}

/// `--tail`: "all" (or -1) for every line, else a count.
pub(super) fn parse_tail(text: &str) -> Result<Option<usize>, CliError> {
    match text {
        "all" | "-1" => Ok(None),
        n => n
            .parse::<usize>()
            .map(Some)
            .map_err(|_| engine(format!("invalid --tail {n:?}"))),
    }
}

/// The decoded entries of one container's log (its last `tail` lines), and the
/// size of the current file, where following it starts.
pub(super) fn read_entries(path: &Path, tail: Option<usize>) -> std::io::Result<(Vec<Entry>, u64)> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut out = Vec::new();
    match tail {
        None => {
            for file in log_files(path) {
                for_each_line(&file, |raw| {
                    out.extend(decode_entry(raw));
                    Ok(())
                })?;
            }
        }
        Some(n) => out.extend(last_lines(path, n)?.iter().filter_map(|r| decode_entry(r))),
    }
    Ok((out, size))
}
