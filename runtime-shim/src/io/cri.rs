//! The container's output in the Kubernetes CRI log format, which kubelet reads (`kubectl logs`,
//! `crictl logs`): one entry a line, `<time> <stream> <tag> <content>\n`, e.g.
//! `2016-10-06T00:17:09.669794202Z stdout F hello world`.
//!
//! Entries are the pieces the json-file log's [`LineSplitter`](super::logs::LineSplitter) cuts, so
//! both logs agree line for line: a piece ending in `\n` is a full line (`F`, written without its
//! `\n`); any other piece, a [`MAX_LINE`](super::logs::MAX_LINE) slice of a longer line or a last
//! line the process never ended, is partial (`P`), and kubelet joins it to what follows. The
//! content is written as bytes: the format is not JSON, and kubelet hands the bytes on as they
//! are, so invalid UTF-8 passes through.
//!
//! The time always has nine fraction digits (as conmon writes it): kubelet parses it with Go's
//! RFC3339Nano, which takes any number of digits, and fixed-width stamps sort as text.
//!
//! Lifecycle: opened (parent directory created) at Create; appended to by the init's output
//! pumps; never rotated here. Kubelet renames the file away when it grows and then asks for
//! [`CriLog::reopen`], which starts a new file at the same path; an entry goes wholly to the old
//! file or wholly to the new one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};

use super::logs::open_append;
use crate::error::{Error, Result};

/// Tag of an entry that ends a line.
const FULL: &[u8] = b"F";
/// Tag of an entry that a later one continues.
const PARTIAL: &[u8] = b"P";

/// Format one CRI entry from a splitter piece, newline included.
pub fn format_entry(piece: &[u8], stream: &str, time: DateTime<Utc>) -> Vec<u8> {
    let (tag, content) = match piece.strip_suffix(b"\n") {
        Some(line) => (FULL, line),
        None => (PARTIAL, piece),
    };
    let time = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let mut out = Vec::with_capacity(time.len() + stream.len() + content.len() + 5);
    for field in [time.as_bytes(), stream.as_bytes(), tag] {
        out.extend_from_slice(field);
        out.push(b' ');
    }
    out.extend_from_slice(content);
    out.push(b'\n');
    out
}

/// An open CRI log. Shared (behind an `Arc`) by the output pumps, which write, and the
/// container, which reopens; the mutex makes the file swap atomic for writers.
#[derive(Debug)]
pub struct CriLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl CriLog {
    /// Open (append) the log at `path`, creating its parent directory: kubelet names a file in
    /// a per-pod directory it may not have made yet.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(create(path)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self) -> MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append one splitter piece of `stream` ("stdout"/"stderr") stamped `time`.
    pub fn write_line(&self, stream: &str, piece: &[u8], time: DateTime<Utc>) -> Result<()> {
        let entry = format_entry(piece, stream, time);
        self.file()
            .write_all(&entry)
            .map_err(Error::io("write", &self.path))
    }

    /// Start a new file at the path, closing the old one. The new file is opened before the
    /// old is let go, so a failed open keeps logging to the old file.
    pub fn reopen(&self) -> Result<()> {
        let new = create(&self.path)?;
        *self.file() = new;
        Ok(())
    }
}

fn create(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("create log directory", dir))?;
    }
    open_append(path)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::io::logs::{LineSplitter, MAX_LINE};

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2016, 10, 6, 0, 17, 9).unwrap()
            + chrono::Duration::nanoseconds(669_794_202)
    }

    /// What the pumps do: split `chunks` of one stream, finish at EOF, format every piece.
    fn entries(stream: &str, chunks: &[&[u8]]) -> Vec<u8> {
        let mut split = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            split.push(c, |p| out.extend(format_entry(p, stream, t())));
        }
        split.finish(|p| out.extend(format_entry(p, stream, t())));
        out
    }

    #[test]
    fn full_line_matches_kubelet_example() {
        assert_eq!(
            entries("stdout", &[b"hello world\n"]),
            b"2016-10-06T00:17:09.669794202Z stdout F hello world\n"
        );
    }

    #[test]
    fn lines_across_chunks_and_stderr() {
        let got = entries("stderr", &[b"one\ntw", b"o\n\n"]);
        let want = "2016-10-06T00:17:09.669794202Z stderr F one\n\
                    2016-10-06T00:17:09.669794202Z stderr F two\n\
                    2016-10-06T00:17:09.669794202Z stderr F \n";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn last_line_without_newline_is_partial() {
        assert_eq!(
            entries("stdout", &[b"done\nno newline"]),
            b"2016-10-06T00:17:09.669794202Z stdout F done\n\
              2016-10-06T00:17:09.669794202Z stdout P no newline\n"
        );
    }

    #[test]
    fn long_line_is_split_into_partials() {
        let long = [vec![b'x'; 2 * MAX_LINE + 3], b"\n".to_vec()].concat();
        let got = entries("stdout", &[&long]);
        let lines: Vec<&[u8]> = got.split_inclusive(|&b| b == b'\n').collect();
        let prefix = b"2016-10-06T00:17:09.669794202Z stdout ";
        let tags: Vec<u8> = lines.iter().map(|l| l[prefix.len()]).collect();
        assert_eq!(tags, b"PPF");
        assert_eq!(lines[0].len(), prefix.len() + 2 + MAX_LINE + 1);
        assert_eq!(lines[2], [&prefix[..], b"F xxx\n"].concat());
        // Joining the pieces, as kubelet does, gives the line back.
        let joined: Vec<u8> = lines
            .iter()
            .flat_map(|l| l[prefix.len() + 2..l.len() - 1].to_vec())
            .collect();
        assert_eq!(joined, long[..long.len() - 1]);
    }

    #[test]
    fn invalid_utf8_passes_through_as_bytes() {
        assert_eq!(
            entries("stdout", &[b"a\xff\xfe\"\\\tb\n"]),
            b"2016-10-06T00:17:09.669794202Z stdout F a\xff\xfe\"\\\tb\n"
        );
    }

    #[test]
    fn open_creates_the_parent_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pod_uid/ctr/0.log");
        let log = CriLog::open(&path).unwrap();
        log.write_line("stdout", b"hi\n", t()).unwrap();
        assert_eq!(log.path(), path);
        assert!(std::fs::read(&path).unwrap().ends_with(b"stdout F hi\n"));
    }

    #[test]
    fn reopen_after_rename_writes_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let rotated = dir.path().join("0.log.20161006-001709");
        let log = CriLog::open(&path).unwrap();
        log.write_line("stdout", b"before\n", t()).unwrap();
        // Kubelet's rotation: rename, then reopen. Until the reopen, writes follow the old file.
        std::fs::rename(&path, &rotated).unwrap();
        log.write_line("stdout", b"late\n", t()).unwrap();
        assert!(!path.exists());
        log.reopen().unwrap();
        log.write_line("stderr", b"after\n", t()).unwrap();
        let old = String::from_utf8(std::fs::read(&rotated).unwrap()).unwrap();
        let new = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(old.lines().count(), 2);
        assert!(old.ends_with("stdout F late\n"));
        assert_eq!(new, "2016-10-06T00:17:09.669794202Z stderr F after\n");
    }
}
