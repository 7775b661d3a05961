//! The short fuzz run: every seed in fuzz/seeds/<target>/ and every past
//! finding in fuzz/regressions/<target>/ through the same harness the
//! cargo-fuzz target calls, then a fixed number of deterministic mutations
//! of them. Stable toolchain, no cargo-fuzz; long runs are in fuzz/README.md.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::fuzzing::{Harness, harness};

/// One input slower than this (debug build, loaded machine) counts as a hang.
const SLOW: Duration = Duration::from_secs(10);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted, so every run sees them in one order.
fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|bytes| (p, bytes)))
        .collect()
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes mutators like to insert: delimiters the parsers split on.
const TOKENS: &[&[u8]] = &[
    b":",
    b"/",
    b"-",
    b"=",
    b",",
    b"$",
    b"${",
    b"}",
    b"\n",
    b"\0",
    b"\xff",
    b"..",
    b"9999999999999999999999",
    b"-1",
    b"0",
    b"&a",
    b"*a",
    b"<<: ",
    b"!reset ",
];

/// One to four byte flips, inserts, deletions, token inserts or a splice
/// with another seed.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

/// Runs one input; on a panic or a hang, saves it where a new regression
/// file can be copied from and fails naming it.
fn check(target: &str, run: Harness, label: &str, data: &[u8]) {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| run(data)));
    let slow = started.elapsed() > SLOW;
    if outcome.is_ok() && !slow {
        return;
    }
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{target}-{label}"));
    let _ = std::fs::write(&saved, data);
    let what = if slow { "took over 10 s" } else { "panicked" };
    panic!(
        "{target}: input {label} {what}; saved as {} (copy it to fuzz/regressions/{target}/)",
        saved.display()
    );
}

fn short_run(target: &str, mutations: usize) {
    let Some(run) = harness(target) else {
        panic!("no harness named {target}");
    };
    let seeds = inputs(&fuzz_dir().join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    for (path, data) in seeds.iter().chain(&regressions) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        check(target, run, &name.unwrap_or_default(), data);
    }
    let pool: Vec<Vec<u8>> = seeds
        .into_iter()
        .chain(regressions)
        .map(|(_, d)| d)
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for i in 0..mutations {
        let data = mutate(&mut rng, &pool);
        check(target, run, &format!("mutation-{i}"), &data);
    }
}

#[test]
fn stack_file() {
    short_run("stack_file", 3000);
}

#[test]
fn image_json() {
    short_run("image_json", 2000);
}

#[test]
fn layer_tar() {
    short_run("layer_tar", 600);
}

#[test]
fn flags() {
    short_run("flags", 2000);
}

#[test]
fn stack_seeds_reach_normalization() {
    // Guards the harness: most seeds are valid stacks, so the mutations
    // start from documents that get past the parser.
    let seeds = inputs(&fuzz_dir().join("seeds").join("stack_file"));
    let yaml: Vec<_> = seeds
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    let loaded = yaml
        .iter()
        .filter(|(_, d)| berth::fuzzing::stack::loads(d))
        .count();
    assert!(
        loaded * 2 > yaml.len(),
        "only {loaded} of {} stack seeds load",
        yaml.len()
    );
}
