//! Replays the saved fuzz corpus (`tests/corpus/<target>/`) through the fuzz targets'
//! checks on stable, then runs a short seeded mutation of it: the same properties as
//! `fuzz/` (see `fuzz/src/checks.rs`, included here by path), without nightly.
//!
//! `FERRY_FUZZ_ITERS` sets the mutations per target (default 200), `FERRY_FUZZ_SEED` the
//! seed (default: from the clock; printed). A failing input is written next to the test
//! binary's temporary directory and named in the failure.

#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;

type Check = fn(&[u8]);

/// Inputs that fail because of a known, reported bug: `(target, corpus file, what the
/// failure message contains)`. Their replay must still fail that way (so a fix shows up
/// here: delete the entry), and mutation failures with that message are reported but not
/// fatal, so CI stays useful until the fix lands.
const KNOWN_BUGS: &[(&str, &str, &str)] = &[];

fn known_bug(target: &str, message: &str) -> Option<&'static str> {
    KNOWN_BUGS
        .iter()
        .find(|(t, _, sig)| *t == target && message.contains(sig))
        .map(|(_, file, _)| *file)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Runs `check` on `input`; a panic becomes `Err(message)`.
fn run(check: Check, input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| check(input))).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-string panic".to_owned())
    })
}

fn replay(target: &str, check: Check) {
    let mut failures = Vec::new();
    for (path, bytes) in corpus(target) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let known = KNOWN_BUGS
            .iter()
            .find(|(t, file, _)| *t == target && *file == name);
        match (run(check, &bytes), known) {
            (Ok(()), None) => {}
            (Err(e), Some((_, _, sig))) if e.contains(sig) => {}
            (Ok(()), Some(_)) => failures.push(format!(
                "{}: known bug no longer reproduces: remove it from KNOWN_BUGS",
                path.display()
            )),
            (Err(e), _) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reference_corpus() {
    replay("reference", checks::reference);
}

#[test]
fn manifest_corpus() {
    replay("manifest", checks::manifest);
}

#[test]
fn config_corpus() {
    replay("config", checks::config);
}

#[test]
fn tar_corpus() {
    replay("tar", checks::tar);
}

/// xorshift64*: small, seedable, good enough to pick mutations.
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

/// Bytes parsers care about: separators, digits, JSON syntax, tar field edges.
const INTERESTING: &[u8] = b"\x00\xff\x80\x7f/.:@\"{}[],-_0179aAzZ\n\\ ";

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                out.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                out.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                let copy = out[i..i + n].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, copy);
            }
            5 if !other.is_empty() => {
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            6 if len > 0 => out.truncate(rng.below(len)),
            _ if len > 0 => {
                // An ASCII digit run: sizes, ports, PAX lengths, octal fields.
                let i = rng.below(len);
                let digits = rng.next().to_string();
                let n = digits.len().min(len - i);
                out[i..i + n].copy_from_slice(&digits.as_bytes()[..n]);
            }
            _ => out.push(INTERESTING[rng.below(INTERESTING.len())]),
        }
    }
    out
}

/// Recomputes the checksum of every ustar header block of a plain-tar fuzz input, so
/// mutations reach the code past the checksum test.
fn fix_tar_checksums(input: &mut [u8]) {
    if input.first() != Some(&0) {
        return;
    }
    let tar = &mut input[1..];
    let mut off = 0;
    while off + 512 <= tar.len() {
        let block = &mut tar[off..off + 512];
        if &block[257..262] == b"ustar" {
            block[148..156].copy_from_slice(b"        ");
            let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
            block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        }
        off += 512;
    }
}

fn seed() -> u64 {
    std::env::var("FERRY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            t.as_nanos() as u64 | 1
        })
}

fn iterations() -> usize {
    std::env::var("FERRY_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

fn mutation_run(target: &str, check: Check) {
    let seed = seed();
    println!("{target}: FERRY_FUZZ_SEED={seed}");
    let mut rng = Rng(seed);
    let corpus = corpus(target);
    let mut failures = Vec::new();
    let mut known = 0usize;
    for i in 0..iterations() {
        let (_, base) = &corpus[rng.below(corpus.len())];
        let (_, other) = &corpus[rng.below(corpus.len())];
        let mut input = mutate(&mut rng, base, other);
        if target == "tar" {
            fix_tar_checksums(&mut input);
        }
        if let Err(e) = run(check, &input) {
            if let Some(bug) = known_bug(target, &e) {
                known += 1;
                println!("{target} #{i}: known bug {bug}: {e}");
                continue;
            }
            let saved =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{target}-{seed}-{i}"));
            std::fs::write(&saved, &input).unwrap();
            failures.push(format!("{}: {e}", saved.display()));
            if failures.len() >= 10 {
                break;
            }
        }
    }
    println!("{target}: {known} inputs hit known bugs");
    assert!(
        failures.is_empty(),
        "{target} (FERRY_FUZZ_SEED={seed}):\n{}",
        failures.join("\n")
    );
}

#[test]
fn reference_mutations() {
    mutation_run("reference", checks::reference);
}

#[test]
fn manifest_mutations() {
    mutation_run("manifest", checks::manifest);
}

#[test]
fn config_mutations() {
    mutation_run("config", checks::config);
}

#[test]
fn tar_mutations() {
    mutation_run("tar", checks::tar);
}
