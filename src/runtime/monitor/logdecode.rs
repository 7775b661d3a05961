//! Reading json-file lines in berth's own layout,
//! `{"log":"...","stream":"...","time":"..."}`, without a general JSON parser,
//! so `logs` of a large log is bound by reading the file. Lines in any other
//! shape are left to serde by the caller.
//!
//! Only memchr is used here, so the decoder can be benchmarked on its own.

/// The fields of one line, the log text still escaped.
#[derive(Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    pub log: &'a [u8],
    pub stream: &'static str,
    pub time: &'a [u8],
}

const HEAD: &[u8] = b"{\"log\":\"";
/// RFC 3339 with nanoseconds, fixed width, as berth and docker write it.
const TIME_LEN: usize = 30;
const STDOUT_MID: &[u8; 28] = b"\",\"stream\":\"stdout\",\"time\":\"";
const STDERR_MID: &[u8; 28] = b"\",\"stream\":\"stderr\",\"time\":\"";
/// What follows the log text: the stream and time keys, the time, `"}`.
const TAIL_LEN: usize = 28 + TIME_LEN + 2;

/// Splits a line (without its newline) in berth's layout; None for any other.
pub fn split(raw: &[u8]) -> Option<Fields<'_>> {
    let body = raw.strip_prefix(HEAD)?;
    split_fixed(body).or_else(|| split_any(body))
}

/// The common case, a fixed-width time: every field sits at a known offset
/// from the end, so nothing is searched for.
fn split_fixed(body: &[u8]) -> Option<Fields<'_>> {
    let (log, tail) = body.split_at_checked(body.len().checked_sub(TAIL_LEN)?)?;
    let (mid, rest) = tail.split_at_checked(28)?;
    let stream = if mid == STDOUT_MID {
        "stdout"
    } else if mid == STDERR_MID {
        "stderr"
    } else {
        return None;
    };
    let time = rest.strip_suffix(b"\"}")?;
    // Same answer as split_any: there the time ends at the last quote.
    if memchr::memchr(b'"', time).is_some() {
        return None;
    }
    Some(Fields { log, stream, time })
}

/// Any time width. The time holds no quote, so the last quote ends the
/// `"time":"` key; the fields are found from the end, the text is not scanned.
fn split_any(body: &[u8]) -> Option<Fields<'_>> {
    let body = body.strip_suffix(b"\"}")?;
    let quote = memchr::memrchr(b'"', body)?;
    let time = &body[quote + 1..];
    let body = body[..=quote].strip_suffix(b"\",\"time\":\"")?;
    let (log, stream) = if let Some(rest) = body.strip_suffix(b"\",\"stream\":\"stdout") {
        (rest, "stdout")
    } else {
        (body.strip_suffix(b"\",\"stream\":\"stderr")?, "stderr")
    };
    Some(Fields { log, stream, time })
}

/// The first line of a run of lines, as [`next_line`] finds it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// berth's layout with a log text free of escapes but perhaps a final
    /// `\n`: [`copy_plain`] decodes it.
    Plain(Fields<'a>),
    /// berth's layout, the log text to [`unescape_into`]; the raw line (no
    /// newline) for serde if that fails.
    Escaped(Fields<'a>, &'a [u8]),
    /// Any other shape: the raw line (no newline), left to serde.
    Other(&'a [u8]),
}

/// The first line of `text` and its length with its newline (the whole of
/// `text` when it has none). A line in berth's layout is found by scanning its
/// log text only: what follows it has a fixed width, so the rest of the line
/// (about half of it) is compared, not searched.
#[inline]
pub fn next_line(text: &[u8]) -> (usize, Line<'_>) {
    if let Some(found) = plain_line(text) {
        return found;
    }
    let len = memchr::memchr(b'\n', text).map_or(text.len(), |i| i + 1);
    let raw = text[..len].strip_suffix(b"\n").unwrap_or(&text[..len]);
    match split(raw) {
        Some(fields) => (len, Line::Escaped(fields, raw)),
        None => (len, Line::Other(raw)),
    }
}

#[inline]
fn plain_line(text: &[u8]) -> Option<(usize, Line<'_>)> {
    let body = text.strip_prefix(HEAD)?;
    // The text ends at a quote, or at a final `\n` and a quote; any other
    // escape, or a raw newline, is for the slower path.
    let end = match memchr::memchr3(b'"', b'\\', b'\n', body) {
        Some(i) if body[i] == b'"' => i,
        Some(i) if body[i] == b'\\' && body.get(i + 1..i + 3) == Some(b"n\"") => i + 2,
        _ => return None,
    };
    let (log, tail) = body.split_at(end);
    let tail = tail.get(..TAIL_LEN + 1)?;
    let stream = match &tail[..28] {
        mid if mid == STDOUT_MID => "stdout",
        mid if mid == STDERR_MID => "stderr",
        _ => return None,
    };
    let time = &tail[28..28 + TIME_LEN];
    if &tail[28 + TIME_LEN..] != b"\"}\n" || !plain_time(time) {
        return None;
    }
    let len = HEAD.len() + end + TAIL_LEN + 1;
    Some((len, Line::Plain(Fields { log, stream, time })))
}

/// Bytes from `-` to `Z` only: digits, `-:.TZ`, never a quote, backslash or
/// newline. Tested without branches, so it is a few vector instructions.
#[inline]
fn plain_time(time: &[u8]) -> bool {
    time.iter()
        .fold(true, |ok, b| ok & (b.wrapping_sub(b'-') <= b'Z' - b'-'))
}

/// Appends the text of a [`Line::Plain`].
#[inline]
pub fn copy_plain(out: &mut Vec<u8>, log: &[u8]) {
    match log.strip_suffix(b"\\n") {
        Some(text) => {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        None => out.extend_from_slice(log),
    }
}

/// Appends an escaped JSON string body unescaped; false (with part of it
/// appended) at a bare quote or an escape it does not handle (`\uXXXX`), which
/// the caller leaves to serde.
pub fn unescape_into(out: &mut Vec<u8>, escaped: &[u8]) -> bool {
    // Most lines are plain text ended by `\n`: copied in one piece.
    let plain = escaped.strip_suffix(b"\\n").unwrap_or(escaped);
    if has_special(plain) {
        return unescape_slow(out, escaped);
    }
    out.extend_from_slice(plain);
    if plain.len() < escaped.len() {
        out.push(b'\n');
    }
    true
}

fn has_special(bytes: &[u8]) -> bool {
    memchr::memchr2(b'"', b'\\', bytes).is_some()
}

fn unescape_slow(out: &mut Vec<u8>, mut bytes: &[u8]) -> bool {
    while let Some(pos) = memchr::memchr2(b'\\', b'"', bytes) {
        out.extend_from_slice(&bytes[..pos]);
        let byte = match (bytes[pos], bytes.get(pos + 1)) {
            (b'"', _) => return false,
            (_, Some(b'n')) => b'\n',
            (_, Some(b't')) => b'\t',
            (_, Some(b'r')) => b'\r',
            (_, Some(b'b')) => 8,
            (_, Some(b'f')) => 12,
            (_, Some(b @ (b'"' | b'\\' | b'/'))) => *b,
            _ => return false,
        };
        out.push(byte);
        bytes = &bytes[pos + 2..];
    }
    out.extend_from_slice(bytes);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TIME: &str = "2026-01-02T03:04:05.123456789Z";

    /// A line as the log writer writes it (serde_json escaping).
    fn line(text: &str, stream: &str, time: &str) -> String {
        let json = serde_json::json!({ "log": text, "stream": stream, "time": time });
        // serde_json's map keeps keys sorted: log, stream, time.
        json.to_string()
    }

    /// What the fast path makes of a line: (text, stream, time), or None.
    fn fast(raw: &str) -> Option<(Vec<u8>, &'static str, Vec<u8>)> {
        let f = split(raw.as_bytes())?;
        let mut text = Vec::new();
        unescape_into(&mut text, f.log).then(|| (text, f.stream, f.time.to_vec()))
    }

    #[derive(serde::Deserialize)]
    struct Slow {
        log: String,
        stream: String,
        time: String,
    }

    fn slow(raw: &str) -> Option<(Vec<u8>, String, Vec<u8>)> {
        let s: Slow = serde_json::from_str(raw).ok()?;
        Some((s.log.into_bytes(), s.stream, s.time.into_bytes()))
    }

    #[test]
    fn one_letter_escapes_are_decoded() {
        for text in [
            "a\nb\n",
            "tab\there",
            "q\"uote",
            "back\\slash\\n",
            "\r\u{8}\u{c}/",
            "",
        ] {
            let raw = line(text, "stdout", TIME);
            assert_eq!(
                fast(&raw).map(|f| f.0),
                Some(text.as_bytes().to_vec()),
                "{raw}"
            );
        }
        let escaped_slash = r#"{"log":"a\/b","stream":"stderr","time":"t"}"#;
        assert_eq!(
            fast(escaped_slash),
            Some((b"a/b".to_vec(), "stderr", b"t".to_vec()))
        );
    }

    #[test]
    fn unicode_escapes_are_left_to_serde() {
        // \u00e9, and a surrogate pair for U+1F600.
        for raw in [
            format!(r#"{{"log":"caf\u00e9\n","stream":"stdout","time":"{TIME}"}}"#),
            format!(r#"{{"log":"\ud83d\ude00","stream":"stdout","time":"{TIME}"}}"#),
        ] {
            assert_eq!(fast(&raw), None, "{raw}");
            assert!(slow(&raw).is_some(), "{raw}");
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        for odd in [
            r#"{"log":"a"b","stream":"stdout","time":"t"}"#,
            r#"{"log":"a","stream":"stdin","time":"t"}"#,
            r#"{"log":"a\","stream":"stdout","time":"t"}"#,
            r#"{"log":"a\x","stream":"stdout","time":"t"}"#,
            r#"{"stream":"stdout","log":"a","time":"t"}"#,
            r#"{"log":"a","stream":"stdout","time":"2026-01-02T03:04:05.12345678"Z"}"#,
            "{\"log\":\"a\",\"stream\":\"stdout\",\"time\":\"t\"}\r",
            "",
        ] {
            assert_eq!(fast(odd), None, "{odd}");
        }
    }

    #[test]
    fn times_of_any_width_are_found() {
        for time in [
            TIME,
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.1234567890123Z",
        ] {
            let raw = line("x\n", "stderr", time);
            assert_eq!(
                fast(&raw),
                Some((b"x\n".to_vec(), "stderr", time.as_bytes().to_vec()))
            );
        }
    }

    /// A line's (text, stream, time).
    type Decoded = (Vec<u8>, &'static str, Vec<u8>);

    /// What the line scanner makes of `text`: each line's (text, stream,
    /// time) or None where it steps aside, and the lengths it consumed.
    fn scan(text: &str) -> Vec<(usize, Option<Decoded>)> {
        let mut rest = text.as_bytes();
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (len, line) = next_line(rest);
            let decoded = match line {
                Line::Plain(f) => {
                    let mut t = Vec::new();
                    copy_plain(&mut t, f.log);
                    Some((t, f.stream, f.time.to_vec()))
                }
                Line::Escaped(f, _) => {
                    let mut t = Vec::new();
                    unescape_into(&mut t, f.log).then(|| (t, f.stream, f.time.to_vec()))
                }
                Line::Other(_) => None,
            };
            out.push((len, decoded));
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn the_scanner_finds_each_line_and_its_end() {
        let lines = [
            line("plain\n", "stdout", TIME),
            line("no newline", "stderr", TIME),
            line("tab\tand\n", "stdout", TIME),
            line("short time\n", "stdout", "2026-01-02T03:04:05Z"),
            "not json".to_string(),
            line("", "stdout", TIME),
        ];
        let text = lines.join("\n") + "\n";
        let got = scan(&text);
        let lens: Vec<usize> = got.iter().map(|g| g.0).collect();
        let want: Vec<usize> = lines.iter().map(|l| l.len() + 1).collect();
        assert_eq!(lens, want);
        for (raw, (_, decoded)) in lines.iter().zip(&got) {
            let want = slow(raw);
            let got = decoded
                .as_ref()
                .map(|(t, s, time)| (t.clone(), s.to_string(), time.clone()));
            assert_eq!(got, want, "{raw}");
        }
        // A last line without its newline is all of the rest.
        assert_eq!(scan(&lines[0]).len(), 1);
        assert_eq!(scan(&lines[0])[0].0, lines[0].len());
    }

    proptest! {
        /// Any run of lines: each is found whole, and decoded as serde does
        /// or left to it.
        #[test]
        fn the_scanner_matches_serde_line_by_line(
            texts in proptest::collection::vec("[a-z\\\\\"\n\t]{0,12}", 1..6),
            cut in 0usize..400,
        ) {
            let lines: Vec<String> = texts.iter().map(|t| line(t, "stdout", TIME)).collect();
            let mut text = lines.join("\n") + "\n";
            text.truncate(cut.min(text.len()));
            let mut at = 0;
            for (len, decoded) in scan(&text) {
                let raw = &text[at..at + len];
                let raw = raw.strip_suffix('\n').unwrap_or(raw);
                prop_assert!(!raw.contains('\n'));
                if let Some((t, s, time)) = decoded {
                    prop_assert_eq!(Some((t, s.to_string(), time)), slow(raw));
                }
                at += len;
            }
        }


        /// Whatever the text, the fast path agrees with serde or steps aside.
        #[test]
        fn fast_path_matches_serde(
            text in ".{0,80}",
            err in any::<bool>(),
            nanos in 0u32..1_000_000_000,
        ) {
            let stream = if err { "stderr" } else { "stdout" };
            let raw = line(&text, stream, &format!("2026-01-02T03:04:05.{nanos:09}Z"));
            match fast(&raw) {
                Some((t, s, time)) => prop_assert_eq!(Some((t, s.to_string(), time)), slow(&raw)),
                None => prop_assert!(raw.contains("\\u"), "{}", raw),
            }
        }

        /// Cut-off lines: what the fast path accepts, serde reads the same.
        #[test]
        fn damaged_lines_are_not_misread(
            text in "[a-z\\\\\"]{0,12}",
            cut in 0usize..80,
        ) {
            let full = line(&text, "stdout", TIME);
            let raw: String = full.chars().take(cut).collect();
            if let Some(got) = fast(&raw) {
                prop_assert_eq!(Some((got.0, got.1.to_string(), got.2)), slow(&raw));
            }
        }
    }
}
