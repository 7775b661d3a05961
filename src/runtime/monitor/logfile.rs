//! Container logs in docker's json-file format, one JSON object per line:
//! `{"log":"hello\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`,
//! rotated by size (`--log-opt max-size=10m --log-opt max-file=3`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::logdecode;

/// docker splits lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes before rotating; None keeps one ever-growing file (docker's default).
    pub max_size: Option<u64>,
    /// Files kept, the current one included (at least 1).
    pub max_files: u32,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation {
            max_size: None,
            max_files: 1,
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// Appends entries; keeps the partial last line of each stream until its newline.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
    pending: [Vec<u8>; 2],
}

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl LogWriter {
    pub fn open(path: PathBuf, rotation: Rotation) -> std::io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path,
            file,
            size,
            rotation,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Takes raw output; writes every complete line (and over-long pieces).
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.pending[stream as usize]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            self.entry(stream, &buf[start..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.pending[stream as usize] = buf;
        Ok(())
    }

    /// Writes what is left of unterminated lines (at container exit).
    pub fn flush_partial(&mut self) -> std::io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.entry(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, stream: Stream, line: &[u8]) -> std::io::Result<()> {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let text = String::from_utf8_lossy(line);
        let mut json = serde_json::to_vec(&Entry {
            log: &text,
            stream: stream.name(),
            time: &time,
        })
        .map_err(std::io::Error::other)?;
        json.push(b'\n');
        if let Some(max) = self.rotation.max_size
            && self.size > 0
            && self.size + json.len() as u64 > max
        {
            self.rotate()?;
        }
        self.file.write_all(&json)?;
        self.size += json.len() as u64;
        Ok(())
    }

    /// `x-json.log` -> `x-json.log.1` -> ... dropping the oldest.
    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.rotation.max_files.max(1);
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if keep == 1 {
            // Renamed and unlinked, not truncated: a `logs` reading (mapping)
            // the file keeps its content whole.
            let doomed = numbered(1);
            std::fs::rename(&self.path, &doomed)?;
            let _ = std::fs::remove_file(&doomed);
        } else {
            let _ = std::fs::remove_file(numbered(keep - 1));
            for n in (1..keep - 1).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// All files of a container's log, oldest first.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for n in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if p.exists() {
            out.push(p);
        }
    }
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

/// A line as berth writes it, `{"log":"...","stream":"...","time":"..."}`, read
/// without a general JSON parser, so `logs` of a large log is bound by the disk.
/// The log text is unescaped straight into the buffer `prefix(stream, time)`
/// picks (after it has added, say, a timestamp). Returns false for any other
/// shape or an escape it does not handle (`\uXXXX`); what was appended must then
/// be dropped, and the caller falls back to serde.
///
/// The fields are found from the line's end, so the text is scanned once.
pub fn decode_fast<'o, O: ?Sized + 'o>(
    raw: &[u8],
    out: &'o mut O,
    prefix: impl FnOnce(&'static str, &[u8], &'o mut O) -> Option<&'o mut Vec<u8>>,
) -> bool {
    let Some(f) = logdecode::split(raw) else {
        return false;
    };
    match prefix(f.stream, f.time, out) {
        Some(sink) => logdecode::unescape_into(sink, f.log),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<LogLine> {
        log_files(path)
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    #[test]
    fn lines_are_split_and_partials_kept() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(path.clone(), Rotation::default())?;
        w.write(Stream::Stdout, b"hel")?;
        w.write(Stream::Stderr, b"oops\n")?;
        w.write(Stream::Stdout, b"lo\nwor")?;
        w.flush_partial()?;
        let got: Vec<(String, String)> = lines(&path)
            .into_iter()
            .map(|l| (l.stream, l.log))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stderr".into(), "oops\n".into()),
                ("stdout".into(), "hello\n".into()),
                ("stdout".into(), "wor".into())
            ]
        );
        Ok(())
    }

    #[test]
    fn the_fast_path_reads_what_the_writer_writes() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(path.clone(), Rotation::default())?;
        for text in [
            "plain\n",
            "tab\tquote\"back\\slash\n",
            "ünïcödé\n",
            "ctl\u{1}x\n",
            "no newline",
        ] {
            w.write(Stream::Stderr, text.as_bytes())?;
        }
        w.flush_partial()?;
        for line in std::fs::read_to_string(&path)?.lines() {
            let slow: LogLine = serde_json::from_str(line).map_err(std::io::Error::other)?;
            let mut seen = None;
            let mut text = Vec::new();
            let fast = decode_fast(line.as_bytes(), &mut text, |stream, time, text| {
                seen = Some((stream, time.to_vec()));
                Some(text)
            });
            if fast {
                assert_eq!(text, slow.log.as_bytes());
                assert_eq!(
                    seen,
                    Some((slow.stream.as_str(), slow.time.as_bytes().to_vec()))
                );
            } else {
                assert!(
                    line.contains("\\u"),
                    "only \\u escapes need the slow path: {line}"
                );
            }
        }
        for odd in [
            r#"{"log":"a"b","stream":"stdout","time":"t"}"#,
            r#"{"log":"a","stream":"stdin","time":"t"}"#,
            r#"{"log":"a\","stream":"stdout","time":"t"}"#,
            r#"{"stream":"stdout","log":"a","time":"t"}"#,
        ] {
            let fast = decode_fast(odd.as_bytes(), &mut Vec::new(), |_, _, text| Some(text));
            assert!(!fast, "{odd}");
        }
        Ok(())
    }

    #[test]
    fn rotation_keeps_max_files() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c-json.log");
        let rotation = Rotation {
            max_size: Some(200),
            max_files: 3,
        };
        let mut w = LogWriter::open(path.clone(), rotation)?;
        for i in 0..50 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())?;
        }
        let files = log_files(&path);
        assert_eq!(files.len(), 3);
        for f in &files {
            assert!(std::fs::metadata(f)?.len() <= 200);
        }
        let kept = lines(&path);
        assert_eq!(kept.last().map(|l| l.log.as_str()), Some("line 49\n"));
        Ok(())
    }

    #[test]
    fn one_file_rotates_by_replacing_not_truncating() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c-json.log");
        let rotation = Rotation {
            max_size: Some(200),
            max_files: 1,
        };
        let mut w = LogWriter::open(path.clone(), rotation)?;
        w.write(Stream::Stdout, b"first\n")?;
        // A reader holding the file open (as `logs` does) keeps what it had.
        let held = std::fs::read_to_string(&path)?;
        let open = std::fs::File::open(&path)?;
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())?;
        }
        assert_eq!(log_files(&path), vec![path.clone()]);
        assert!(std::fs::metadata(&path)?.len() <= 200);
        assert!(std::io::read_to_string(open)?.starts_with(&held));
        assert_eq!(
            lines(&path).last().map(|l| l.log.as_str()),
            Some("line 19\n")
        );
        Ok(())
    }
}
