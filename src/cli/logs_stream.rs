//! Decoding a whole log file on every core and writing it out in order, so
//! `logs` of a 100 MB log runs at the speed of reading it.
//!
//! One thread reads the file sequentially in large blocks cut at newlines (the
//! disk's readahead wants one sequential reader), workers decode blocks as they
//! come, and the calling thread writes the decoded blocks in file order. A fixed
//! pool of slots bounds memory: a slot goes back to the reader once written.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

/// The file is read in blocks this large.
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

/// A block of whole lines on its way from the reader to the writer.
struct Slot {
    seq: u64,
    block: Vec<u8>,
    /// Bytes of `block` that hold lines; the rest is spare room.
    len: usize,
    chunk: Chunk,
}

type Work = std::io::Result<Slot>;

/// Decodes every complete line of `path` (given with its newline) with
/// `decode` on several threads and hands the chunks to `write` in file order.
/// A last line without its newline (still being written) is left out, as
/// docker does.
pub(super) fn decode_file(
    path: &Path,
    decode: &(impl Fn(&[u8], &mut Chunk) + Sync),
    write: &mut impl FnMut(&Chunk) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    // Doubles the kernel's readahead for a cold cache; only advice, so a
    // refusal changes nothing.
    let advice = nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL;
    let _ = nix::fcntl::posix_fadvise(&file, 0, 0, advice);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS));
    let (work_tx, work_rx) = sync_channel::<Work>(workers);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = channel::<Work>();
    let (free_tx, free_rx) = channel::<Slot>();
    std::thread::scope(|scope| {
        scope.spawn(move || read_blocks(file, &work_tx, &free_rx, 2 * workers + 2));
        for _ in 0..workers {
            let (work_rx, done_tx) = (Arc::clone(&work_rx), done_tx.clone());
            scope.spawn(move || decode_blocks(&work_rx, &done_tx, decode));
        }
        // The workers hold the only ends left, so a stopped writer (a closed
        // pipe) or reader ends every thread.
        drop((work_rx, done_tx));
        write_in_order(done_rx, free_tx, write)
    })
}

/// Fills slots with whole lines, carrying a cut-off line to the next block.
fn read_blocks(
    mut file: std::fs::File,
    work: &SyncSender<Work>,
    free: &Receiver<Slot>,
    pool: usize,
) {
    let mut made = 0;
    let mut carry: Vec<u8> = Vec::new();
    for seq in 0.. {
        let mut slot = if made < pool {
            made += 1;
            Slot {
                seq,
                block: vec![0; READ_BLOCK],
                len: 0,
                chunk: Chunk::default(),
            }
        } else {
            match free.recv() {
                Ok(slot) => Slot { seq, ..slot },
                Err(_) => return,
            }
        };
        let full = match fill(&mut file, &mut slot.block, &carry) {
            Ok(0) => return,
            Ok(n) => carry.len() + n,
            Err(e) => {
                let _ = work.send(Err(e));
                return;
            }
        };
        slot.len = memchr::memrchr(b'\n', &slot.block[..full]).map_or(0, |p| p + 1);
        carry.clear();
        carry.extend_from_slice(&slot.block[slot.len..full]);
        if work.send(Ok(slot)).is_err() {
            return;
        }
    }
}

/// Puts `carry` at the start of `block` and reads after it: bytes read, 0 at
/// the end of the file.
fn fill(file: &mut std::fs::File, block: &mut Vec<u8>, carry: &[u8]) -> std::io::Result<usize> {
    // A line longer than a block grows the block instead.
    if block.len() < carry.len() + READ_BLOCK {
        block.resize(carry.len() + READ_BLOCK, 0);
    }
    block[..carry.len()].copy_from_slice(carry);
    loop {
        match file.read(&mut block[carry.len()..]) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            read => return read,
        }
    }
}

fn decode_blocks(
    work: &Mutex<Receiver<Work>>,
    done: &Sender<Work>,
    decode: &impl Fn(&[u8], &mut Chunk),
) {
    loop {
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(item) = next else { return };
        let item = item.map(|mut slot| {
            slot.chunk.clear();
            decode_lines(&slot.block[..slot.len], &mut slot.chunk, decode);
            slot
        });
        if done.send(item).is_err() {
            return;
        }
    }
}

fn decode_lines(block: &[u8], chunk: &mut Chunk, decode: &impl Fn(&[u8], &mut Chunk)) {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', block) {
        decode(&block[start..=end], chunk);
        start = end + 1;
    }
}

/// Writes chunks as their turn comes and returns their slots to the reader.
fn write_in_order(
    done: Receiver<Work>,
    free: Sender<Slot>,
    write: &mut impl FnMut(&Chunk) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut next = 0;
    let mut waiting = BTreeMap::new();
    for item in done {
        let slot = item?;
        waiting.insert(slot.seq, slot);
        while let Some(slot) = waiting.remove(&next) {
            write(&slot.chunk)?;
            next += 1;
            // The reader stops at the end of the file; a slot then has no use.
            let _ = free.send(slot);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

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
        decode_file(&path, &upper, &mut |chunk| {
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
        let result = decode_file(&path, &upper, &mut |_| {
            calls += 1;
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        });
        assert_eq!(result.map_err(|e| e.kind()), Err(ErrorKind::BrokenPipe));
        assert_eq!(calls, 1);
        Ok(())
    }
}
