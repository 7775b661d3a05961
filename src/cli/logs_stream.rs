//! Decoding a whole log file on every core and writing it out in order, so
//! `logs` of a 100 MB log runs at the speed of reading it.
//!
//! The file is mapped, not read: copying it out of the page cache would cost
//! as much as `cat` on its own. It is cut into fixed blocks; each worker takes
//! the next block and decodes the lines that start in it. The calling thread
//! writes the decoded blocks in file order. A fixed pool of slots bounds
//! memory: a slot goes back to the workers once written.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fs::File;
use std::io::Write;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The lines starting in each block this large are one worker's job.
const READ_BLOCK: usize = 1 << 20;
/// Decoders at most; more cores than this do not make reading faster.
const MAX_WORKERS: usize = 8;

/// Decoded text in file order, remembering which stream each run goes to, so
/// stdout and stderr lines keep their order when both reach one terminal.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    bytes: Vec<u8>,
    /// (goes to stderr, where the run starts in `bytes`).
    runs: Vec<(bool, usize)>,
}

/// A point to go back to when a half-decoded line is dropped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark(usize, usize);

impl Chunk {
    /// The buffer for the next line of `stream`.
    pub(super) fn sink(&mut self, stream: &str) -> &mut Vec<u8> {
        let to_err = stream == "stderr";
        if self.runs.last().is_none_or(|run| run.0 != to_err) {
            self.runs.push((to_err, self.bytes.len()));
        }
        &mut self.bytes
    }

    pub(super) fn mark(&self) -> Mark {
        Mark(self.bytes.len(), self.runs.len())
    }

    pub(super) fn reset(&mut self, mark: Mark) {
        self.bytes.truncate(mark.0);
        self.runs.truncate(mark.1);
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.runs.clear();
    }

    /// Writes each run whole to its stream; stdout is flushed before stderr
    /// is written, so the order holds on a shared terminal.
    pub(super) fn write_to(
        &self,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        for (i, &(to_err, start)) in self.runs.iter().enumerate() {
            let end = self.runs.get(i + 1).map_or(self.bytes.len(), |next| next.1);
            let text = &self.bytes[start..end];
            if to_err {
                out.flush()?;
                err.write_all(text)?;
            } else {
                out.write_all(text)?;
            }
        }
        out.flush()
    }
}

/// A block of lines on its way from a worker to the writer.
#[derive(Default)]
struct Slot {
    seq: usize,
    chunk: Chunk,
}

/// Decodes every complete line of `path` with `decode`, given runs of whole
/// lines (each with its newline), on several threads and hands the chunks to `write` in file order.
/// A last line without its newline (still being written) is left out, as
/// docker does. Lines appended after the call begins are not read.
pub(super) fn decode_file(
    path: &Path,
    decode: &(impl Fn(&[u8], &mut Chunk) + Sync),
    write: &mut impl FnMut(&Chunk) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file = File::open(path)?;
    let Some(map) = Mapped::new(&file)? else {
        return Ok(());
    };
    let _bus = TruncationGuard::install()?;
    let text = map.bytes();
    let text = &text[..memchr::memrchr(b'\n', text).map_or(0, |i| i + 1)];
    let blocks = text.len().div_ceil(READ_BLOCK);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get().min(MAX_WORKERS))
        .min(blocks);
    let (done_tx, done_rx) = channel::<Slot>();
    let (free_tx, free_rx) = channel::<Slot>();
    for _ in 0..2 * workers + 2 {
        let _ = free_tx.send(Slot::default());
    }
    let free_rx = Mutex::new(free_rx);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (done_tx, free_rx, next) = (done_tx.clone(), &free_rx, &next);
            scope.spawn(move || decode_blocks(text, next, free_rx, &done_tx, decode));
        }
        // The workers hold the only senders left, so the writer sees the end
        // once they are done; a stopped writer (a closed pipe) drops the
        // slots' sender, which stops them.
        drop(done_tx);
        write_in_order(done_rx, free_tx, write)
    })
}

fn decode_blocks(
    text: &[u8],
    next: &AtomicUsize,
    free: &Mutex<Receiver<Slot>>,
    done: &Sender<Slot>,
    decode: &impl Fn(&[u8], &mut Chunk),
) {
    loop {
        // A slot first, then a block: the holder of the block the writer
        // waits for always has a slot.
        let slot = match free.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut slot) = slot else { return };
        let seq = next.fetch_add(1, Ordering::Relaxed);
        let Some(lines) = block_lines(text, seq) else {
            return;
        };
        slot.seq = seq;
        slot.chunk.clear();
        decode(&text[lines], &mut slot.chunk);
        if done.send(slot).is_err() {
            return;
        }
    }
}

/// The lines that start in block `seq` of `text` (which ends in a newline),
/// the last one read on to its end; None past the last block.
fn block_lines(text: &[u8], seq: usize) -> Option<Range<usize>> {
    let start = seq.checked_mul(READ_BLOCK).filter(|s| *s < text.len())?;
    let end = (start + READ_BLOCK).min(text.len());
    // A line starts at `start` when the byte before is a newline.
    let first = if start == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &text[start - 1..end - 1]) {
            Some(i) => start + i,
            None => return Some(0..0),
        }
    };
    let last = memchr::memchr(b'\n', &text[end - 1..]).map_or(text.len(), |i| end + i);
    Some(first..last)
}

/// A whole file mapped read-only.
struct Mapped {
    at: NonNull<c_void>,
    len: usize,
}

impl Mapped {
    /// None for an empty file, which cannot be mapped.
    fn new(file: &File) -> std::io::Result<Option<Mapped>> {
        let size = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        let Some(len) = NonZeroUsize::new(size) else {
            return Ok(None);
        };
        let (prot, flags) = (ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE);
        // SAFETY: a fresh read-only private mapping aliases no Rust memory.
        // The file can still shrink under it; TruncationGuard covers that.
        let at = unsafe { nix::sys::mman::mmap(None, len, prot, flags, file, 0) }?;
        // A page fault then reads ahead and maps 2 MiB folios, not 4 KiB
        // pages: a cold log comes in near the speed of `cat`, and a warm one
        // costs fewer faults. (MADV_SEQUENTIAL or MADV_WILLNEED read in small
        // pages: 1.3 times slower cold.)
        // SAFETY: advice on the mapping just made; a refusal changes nothing.
        let _ = unsafe { nix::sys::mman::madvise(at, size, MmapAdvise::MADV_HUGEPAGE) };
        Ok(Some(Mapped { at, len: size }))
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` readable bytes from `at`, mapped until self drops.
        unsafe { std::slice::from_raw_parts(self.at.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new; no slice of it outlives self.
        let _ = unsafe { nix::sys::mman::munmap(self.at, self.len) };
    }
}

/// A log cut short while mapped (`truncate -s 0` on it, a common way to
/// clear docker logs) makes reading past its new end raise SIGBUS. That ends
/// berth with a message instead of a crash; the output so far was written.
struct TruncationGuard(SigAction);

extern "C" fn on_truncation(_: libc::c_int) {
    const MESSAGE: &[u8] = b"Error: the log file was truncated while it was being read\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(1);
    }
}

impl TruncationGuard {
    fn install() -> std::io::Result<TruncationGuard> {
        let action = SigAction::new(
            SigHandler::Handler(on_truncation),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only calls async-signal-safe functions.
        let old = unsafe { sigaction(Signal::SIGBUS, &action) }?;
        Ok(TruncationGuard(old))
    }
}

impl Drop for TruncationGuard {
    fn drop(&mut self) {
        // SAFETY: puts back the action that was there before.
        let _ = unsafe { sigaction(Signal::SIGBUS, &self.0) };
    }
}

/// Writes chunks as their turn comes and returns their slots to the reader.
fn write_in_order(
    done: Receiver<Slot>,
    free: Sender<Slot>,
    write: &mut impl FnMut(&Chunk) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut next = 0;
    let mut waiting = BTreeMap::new();
    for slot in done {
        waiting.insert(slot.seq, slot);
        while let Some(slot) = waiting.remove(&next) {
            write(&slot.chunk)?;
            next += 1;
            // Workers stop at the end of the file; a slot then has no use.
            let _ = free.send(slot);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io::ErrorKind;

    fn decode_lines(block: &[u8], chunk: &mut Chunk, decode: &impl Fn(&[u8], &mut Chunk)) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', block) {
            decode(&block[start..=end], chunk);
            start = end + 1;
        }
    }

    /// Every line of a run through `upper`.
    fn upper_lines(block: &[u8], chunk: &mut Chunk) {
        decode_lines(block, chunk, &upper);
    }

    /// Every line as "stream:text" upper-cased, one chunk per block.
    fn upper(raw: &[u8], chunk: &mut Chunk) {
        let (stream, text) = match raw.strip_prefix(b"E") {
            Some(rest) => ("stderr", rest),
            None => ("stdout", raw),
        };
        chunk.sink(stream).extend(text.to_ascii_uppercase());
    }

    /// A terminal that stdout and stderr both write to.
    struct Shared<'a>(&'a RefCell<Vec<u8>>);

    impl Write for Shared<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// (stdout, stderr, both as one terminal sees them) for a file's content.
    fn run(content: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        std::fs::write(&path, content)?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let both = RefCell::new(Vec::new());
        decode_file(&path, &upper_lines, &mut |chunk| {
            chunk.write_to(&mut out, &mut err)?;
            chunk.write_to(&mut Shared(&both), &mut Shared(&both))
        })?;
        Ok((out, err, both.into_inner()))
    }

    /// Lines of many lengths, some on stderr, over several blocks.
    fn many_lines() -> Vec<u8> {
        let mut content = Vec::new();
        for i in 0..60_000usize {
            let stream = if i % 7 == 3 { "E" } else { "" };
            let text = "x".repeat(i % 97);
            content.extend(format!("{stream}{i} {text}\n").bytes());
        }
        content
    }

    #[test]
    fn lines_across_blocks_keep_their_order() -> std::io::Result<()> {
        let content = many_lines();
        assert!(content.len() > 3 * READ_BLOCK);
        let (out, err, both) = run(&content)?;
        let mut want = Chunk::default();
        decode_lines(&content, &mut want, &upper);
        assert_eq!(both, want.bytes);
        let lines = |text: &[u8]| text.split(|b| *b == b'\n').count();
        assert_eq!(lines(&out) + lines(&err) - 2, 60_000);
        assert!(err.starts_with(b"3 XXX\n10 XXXXXXXXXX\n"));
        Ok(())
    }

    #[test]
    fn newlines_on_and_around_block_edges() -> std::io::Result<()> {
        for shift in 0..5 {
            // The first newline lands 2 bytes before to 2 bytes after the
            // first block's last byte; a line ends on the second block's too.
            let first = "a".repeat(READ_BLOCK - 3 + shift);
            let second = "b".repeat(READ_BLOCK - 1);
            let content = format!("{first}\n{second}\nc\nE\n\n").into_bytes();
            let (_, _, both) = run(&content)?;
            let mut want = Chunk::default();
            decode_lines(&content, &mut want, &upper);
            assert!(both == want.bytes, "shift {shift}");
        }
        Ok(())
    }

    #[test]
    fn a_line_longer_than_a_block_is_whole() -> std::io::Result<()> {
        let long = vec![b'y'; 3 * READ_BLOCK + 5];
        let content = [b"a\n".as_slice(), &long, b"\nb\n"].concat();
        let (out, _, _) = run(&content)?;
        let want = [b"A\n".as_slice(), &long.to_ascii_uppercase(), b"\nB\n"].concat();
        assert!(out == want, "{} bytes, want {}", out.len(), want.len());
        Ok(())
    }

    #[test]
    fn empty_and_unfinished_logs() -> std::io::Result<()> {
        assert_eq!(run(b"")?, (vec![], vec![], vec![]));
        assert_eq!(run(b"no newline")?, (vec![], vec![], vec![]));
        let (out, err, both) = run(b"one\nEtwo\nthree\nhalf")?;
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (b"ONE\nTHREE\n".as_slice(), b"TWO\n".as_slice())
        );
        assert_eq!(both, b"ONE\nTWO\nTHREE\n");
        Ok(())
    }

    #[test]
    fn a_closed_output_stops_every_thread() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        std::fs::write(&path, many_lines())?;
        let mut calls = 0;
        let result = decode_file(&path, &upper_lines, &mut |_| {
            calls += 1;
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        });
        assert_eq!(result.map_err(|e| e.kind()), Err(ErrorKind::BrokenPipe));
        assert_eq!(calls, 1);
        Ok(())
    }
}
