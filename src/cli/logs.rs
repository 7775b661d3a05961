//! `logs`: the json-file log, decoded at close to the speed of reading it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::logs_stream::{Chunk, decode_file};
use super::output::parse_time;
use super::{CliError, engine};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record;
use crate::runtime::monitor::logdecode;
use crate::runtime::monitor::logfile::{self, log_files, log_path};
use crate::runtime::store::Store;

/// With `--tail`, output is gathered and written in blocks this large.
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

impl LogFilter {
    /// Decodes raw json-file lines; malformed lines are skipped.
    fn emit(&self, mut lines: &[u8], chunk: &mut Chunk) {
        while !lines.is_empty() {
            let (len, line) = logdecode::next_line(lines);
            self.emit_line(line, chunk);
            lines = &lines[len..];
        }
    }

    fn emit_line(&self, line: logdecode::Line<'_>, chunk: &mut Chunk) {
        let raw = match line {
            logdecode::Line::Plain(f) => {
                if let Some(sink) = self.sink(f.stream, f.time, chunk) {
                    logdecode::copy_plain(sink, f.log);
                }
                return;
            }
            logdecode::Line::Escaped(f, raw) => {
                let mark = chunk.mark();
                let Some(sink) = self.sink(f.stream, f.time, chunk) else {
                    return;
                };
                if logdecode::unescape_into(sink, f.log) {
                    return;
                }
                chunk.reset(mark);
                raw
            }
            logdecode::Line::Other(raw) => raw,
        };
        let Ok(line) = serde_json::from_slice::<LogLineRef<'_>>(raw) else {
            return;
        };
        if let Some(sink) = self.sink(&line.stream, line.time.as_bytes(), chunk) {
            sink.extend_from_slice(line.log.as_bytes());
        }
    }

    /// Where a line goes (after its timestamp, with `-t`), or None when the
    /// time window leaves it out.
    fn sink<'o>(&self, stream: &str, time: &[u8], chunk: &'o mut Chunk) -> Option<&'o mut Vec<u8>> {
        if self.since.is_some() || self.until.is_some() {
            let t = std::str::from_utf8(time).ok().and_then(parse_time);
            if self.since.is_some_and(|s| t.is_some_and(|t| t < s))
                || self.until.is_some_and(|u| t.is_some_and(|t| t > u))
            {
                return None;
            }
        }
        let sink = chunk.sink(stream);
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
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let result = match tail {
        None => log_files(&path).iter().try_for_each(|file| {
            let decoded = decode_file(file, &|raw, chunk| filter.emit(raw, chunk), &mut |chunk| {
                chunk.write_to(&mut out, &mut err)
            });
            // Rotated away since it was listed: nothing of it is left to show.
            match decoded {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }),
        Some(n) => last_lines(&path, n).and_then(|lines| {
            let mut chunk = Chunk::default();
            for raw in lines {
                filter.emit(&raw, &mut chunk);
                if chunk.len() >= FLUSH_AT {
                    chunk.write_to(&mut out, &mut err)?;
                    chunk.clear();
                }
            }
            chunk.write_to(&mut out, &mut err)
        }),
    };
    drop((out, err));
    // A closed pipe (`logs | head`) ends the output quietly.
    if result.is_err() {
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
    let mut chunk = Chunk::default();
    loop {
        let running = lifecycle::load(st, &c.record.id)
            .map(|c| c.is_running())
            .unwrap_or(false);
        // Looked at before reading, so what the old file got before it was
        // rotated is read too.
        let rotated = rotated(&file, path, pos);
        file.seek(SeekFrom::Start(pos)).map_err(engine)?;
        let read = file.read_to_end(&mut partial).map_err(engine)?;
        pos += read as u64;
        if rotated {
            file = std::fs::File::open(path).map_err(engine)?;
            pos = 0;
        }
        let whole = memchr::memrchr(b'\n', &partial).map_or(0, |end| end + 1);
        filter.emit(&partial[..whole], &mut chunk);
        partial.drain(..whole);
        let written = chunk.write_to(&mut std::io::stdout().lock(), &mut std::io::stderr().lock());
        chunk.clear();
        if written.is_err() {
            return Ok(());
        }
        if !running && read == 0 && !rotated {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `path` is another file than `file` now (renamed away by a rotation), or
/// was cut short (truncated in place).
fn rotated(file: &std::fs::File, path: &Path, pos: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(now), Ok(ours)) => {
            now.ino() != ours.ino() || now.dev() != ours.dev() || now.len() < pos
        }
        _ => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(timestamps: bool) -> LogFilter {
        LogFilter {
            since: None,
            until: None,
            timestamps,
        }
    }

    /// A terminal that stdout and stderr both write to.
    struct Shared<'a>(&'a std::cell::RefCell<Vec<u8>>);

    impl std::io::Write for Shared<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// (stdout, stderr, both as one terminal sees them) for raw log lines.
    fn decode(filter: &LogFilter, raw: &str) -> (String, String, String) {
        let mut chunk = Chunk::default();
        for line in raw.split_inclusive('\n') {
            filter.emit(line.as_bytes(), &mut chunk);
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let both = std::cell::RefCell::new(Vec::new());
        assert!(chunk.write_to(&mut out, &mut err).is_ok());
        assert!(
            chunk
                .write_to(&mut Shared(&both), &mut Shared(&both))
                .is_ok()
        );
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (text(out), text(err), text(both.into_inner()))
    }

    const LOG: &str = concat!(
        r#"{"log":"one\n","stream":"stdout","time":"2026-01-02T03:04:05.000000001Z"}"#,
        "\n",
        r#"{"log":"two \u00e9\n","stream":"stderr","time":"2026-01-02T03:04:06.000000002Z"}"#,
        "\n",
        "not json\n",
        r#"{"log":"three\r\n","stream":"stdout","time":"2026-01-02T03:04:07Z"}"#,
        "\r\n",
        r#"{"log":"four\n","stream":"stderr","time":"2026-01-02T03:04:08.000000004Z"}"#,
        "\n",
    );

    #[test]
    fn streams_keep_their_order_and_bad_lines_are_skipped() {
        let (out, err, both) = decode(&filter(false), LOG);
        assert_eq!(out, "one\nthree\r\n");
        assert_eq!(err, "two é\nfour\n");
        assert_eq!(both, "one\ntwo é\nthree\r\nfour\n");
    }

    #[test]
    fn timestamps_and_time_windows() {
        let (out, _, _) = decode(&filter(true), LOG);
        assert_eq!(
            out,
            "2026-01-02T03:04:05.000000001Z one\n2026-01-02T03:04:07Z three\r\n"
        );
        let window = LogFilter {
            since: parse_time("2026-01-02T03:04:06Z"),
            until: parse_time("2026-01-02T03:04:07.5Z"),
            timestamps: false,
        };
        assert_eq!(decode(&window, LOG).2, "two é\nthree\r\n");
    }
}
