//! The container's output log, in Docker's json-file format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-23T07:00:00.123456789Z"}`.
//!
//! Lines are split at `\n` per stream (the newline stays in `log`); a line longer than
//! [`MAX_LINE`] is written in pieces without a newline, as Docker does, and so is a last line
//! the process never terminated. Bytes that are not UTF-8 become U+FFFD (Go's encoder does the
//! same).
//!
//! Rotation follows Docker: before a write, when the current file has reached `max_size`
//! bytes, `<file>.N-1` is dropped, `<file>.i` becomes `<file>.i+1`, `<file>` becomes
//! `<file>.1`, and a new `<file>` is started; `max_file` counts all files, the current one
//! included, so with `max_file <= 1` the file is simply truncated. `max_size == 0` never
//! rotates. A file may exceed `max_size` by one entry.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// Longest line written as one entry (Docker's 16 KiB buffer).
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

/// Format one json-file entry, newline included.
pub fn format_entry(line: &[u8], stream: &str, time: DateTime<Utc>) -> Vec<u8> {
    let log = String::from_utf8_lossy(line);
    let e = Entry {
        log: &log,
        stream,
        time: time.to_rfc3339_opts(SecondsFormat::Nanos, true),
    };
    let mut out = serde_json::to_vec(&e).expect("a struct of strings always serialises");
    out.push(b'\n');
    out
}

/// Splits a byte stream into log lines; one per stream.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes; `emit` gets every complete line (with its `\n`) or full-size piece.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            let room = MAX_LINE - self.buf.len();
            let take = data.len().min(room);
            match data[..take].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.buf.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    emit(&self.buf);
                    self.buf.clear();
                }
                None => {
                    self.buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.buf.len() == MAX_LINE {
                        emit(&self.buf);
                        self.buf.clear();
                    }
                }
            }
        }
    }

    /// At EOF: emit what is left, without a newline.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
            self.buf.clear();
        }
    }
}

/// An open json-file log with rotation.
#[derive(Debug)]
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
}

impl JsonLog {
    /// Open (append) the log at `path`; `max_size == 0` disables rotation.
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata().map_err(Error::io("stat", path))?.len();
        Ok(Self {
            path: path.to_owned(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line of `stream` ("stdout"/"stderr") stamped `time`.
    pub fn write_line(&mut self, stream: &str, line: &[u8], time: DateTime<Utc>) -> Result<()> {
        if self.max_size > 0 && self.size >= self.max_size {
            self.rotate()?;
        }
        let entry = format_entry(line, stream, time);
        self.file
            .write_all(&entry)
            .map_err(Error::io("write", &self.path))?;
        self.size += entry.len() as u64;
        Ok(())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        p.into()
    }

    fn rotate(&mut self) -> Result<()> {
        if self.max_file > 1 {
            let last = self.rotated(self.max_file - 1);
            remove_if_exists(&last)?;
            for i in (1..self.max_file - 1).rev() {
                rename_if_exists(&self.rotated(i), &self.rotated(i + 1))?;
            }
            rename_if_exists(&self.path, &self.rotated(1))?;
            self.file = open_append(&self.path)?;
        } else {
            self.file
                .set_len(0)
                .map_err(Error::io("truncate", &self.path))?;
        }
        self.size = 0;
        Ok(())
    }
}

pub(super) fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(Error::io("open log", path))
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", p)(e)),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("rename", from)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789)
    }

    #[test]
    fn entry_matches_docker() {
        let e = format_entry(b"hello\n", "stdout", t());
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T07:00:00.123456789Z\"}\n"
        );
    }

    #[test]
    fn entry_escapes_and_replaces_bad_utf8() {
        let e = format_entry(b"a\"\\\t\xff\n", "stderr", t());
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["log"], "a\"\\\t\u{fffd}\n");
        assert_eq!(v["stream"], "stderr");
    }

    #[test]
    fn splitter_lines_partials_and_long_lines() {
        let mut s = LineSplitter::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        s.push(b"one\ntw", |l| got.push(l.to_vec()));
        s.push(b"o\nthr", |l| got.push(l.to_vec()));
        s.finish(|l| got.push(l.to_vec()));
        assert_eq!(got, [b"one\n".to_vec(), b"two\n".to_vec(), b"thr".to_vec()]);

        got.clear();
        let long = vec![b'x'; MAX_LINE + 10];
        s.push(&long, |l| got.push(l.to_vec()));
        s.push(b"\n", |l| got.push(l.to_vec()));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], [vec![b'x'; 10], b"\n".to_vec()].concat());
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c1-json.log");
        let mut log = JsonLog::open(&path, 100, 3).unwrap();
        for i in 0..20 {
            log.write_line("stdout", format!("line {i}\n").as_bytes(), t())
                .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c1-json.log", "c1-json.log.1", "c1-json.log.2"]);
        // Each file holds whole entries, and the newest is the last line written.
        let cur = std::fs::read_to_string(&path).unwrap();
        assert!(cur.ends_with("\n"));
        assert!(cur.contains("line 19\\n"));
        let old = std::fs::read_to_string(dir.path().join("c1-json.log.2")).unwrap();
        for l in old.lines() {
            let _: serde_json::Value = serde_json::from_str(l).unwrap();
        }
        // Entry is ~75 bytes: each file holds at most two.
        assert!(std::fs::metadata(&path).unwrap().len() < 200);
    }

    #[test]
    fn rotation_with_one_file_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c1-json.log");
        let mut log = JsonLog::open(&path, 100, 1).unwrap();
        for i in 0..10 {
            log.write_line("stdout", format!("line {i}\n").as_bytes(), t())
                .unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("line 9\\n"));
    }

    #[test]
    fn no_rotation_when_max_size_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c1-json.log");
        let mut log = JsonLog::open(&path, 0, 3).unwrap();
        for i in 0..50 {
            log.write_line("stdout", format!("line {i}\n").as_bytes(), t())
                .unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 50);
    }
}
