//! Reading the json-file logs the shim writes (`<id>-json.log`, rotated to `.1`, `.2`, …;
//! the highest number is the oldest), with `--tail`, `--since` and `--follow`.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::manager::Containers;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// Lines from the end; None = all.
    pub tail: Option<usize>,
    /// Seconds since the epoch; entries before are skipped.
    pub since: i64,
}

impl Containers {
    /// Streams log entries into `tx` until done (or, following, until the container stops).
    pub async fn logs(
        self: &Arc<Self>,
        query: &str,
        opts: LogsOptions,
        tx: mpsc::Sender<LogEntry>,
    ) -> Result<()> {
        let rec = self.get(query)?;
        let path = self.paths(&rec.id).log(&rec.id);
        let (entries, offset) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_all(&path))
                .await
                .map_err(Error::blocking("logs"))??
        };
        let skip = opts
            .tail
            .map(|n| entries.len().saturating_sub(n))
            .unwrap_or(0);
        for e in entries
            .into_iter()
            .skip(skip)
            .filter(|e| after(e, opts.since))
        {
            if tx.send(e).await.is_err() {
                return Ok(());
            }
        }
        if opts.follow {
            self.follow(&rec.id, &path, offset, tx).await?;
        }
        Ok(())
    }

    async fn follow(
        &self,
        id: &str,
        path: &Path,
        mut offset: u64,
        tx: mpsc::Sender<LogEntry>,
    ) -> Result<()> {
        loop {
            let live = self.table.get(id)?.is_some_and(|r| r.state.is_live());
            let (entries, next) = read_from(path, offset);
            offset = next;
            for e in entries {
                if tx.send(e).await.is_err() {
                    return Ok(());
                }
            }
            if !live {
                return Ok(());
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = tx.closed() => return Ok(()),
            }
        }
    }
}

fn after(e: &LogEntry, since: i64) -> bool {
    since <= 0
        || chrono::DateTime::parse_from_rfc3339(&e.time)
            .map(|t| t.timestamp() >= since)
            .unwrap_or(true)
}

/// Every entry, oldest first, and the current file's length.
fn read_all(path: &Path) -> Result<(Vec<LogEntry>, u64)> {
    let mut out = Vec::new();
    for f in rotated(path).into_iter().rev() {
        out.extend(read_from(&f, 0).0);
    }
    let (current, end) = read_from(path, 0);
    out.extend(current);
    Ok((out, end))
}

fn rotated(path: &Path) -> Vec<PathBuf> {
    (1..)
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .take_while(|p| p.exists())
        .collect()
}

/// Complete lines from `offset`; returns the offset after the last complete line. A file that
/// shrank was rotated: start again from its beginning.
fn read_from(path: &Path, offset: u64) -> (Vec<LogEntry>, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (Vec::new(), 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut pos = if len < offset { 0 } else { offset };
    if f.seek(SeekFrom::Start(pos)).is_err() {
        return (Vec::new(), offset);
    }
    let mut out = Vec::new();
    let mut reader = BufReader::new(f);
    let mut line = String::new();
    while let Ok(n) = reader.read_line(&mut line) {
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_str::<LogEntry>(&line) {
            out.push(e);
        }
        line.clear();
    }
    (out, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(log: &str, t: &str) -> String {
        format!("{{\"log\":\"{log}\\n\",\"stream\":\"stdout\",\"time\":\"{t}\"}}\n")
    }

    #[test]
    fn reads_rotated_files_oldest_first_and_skips_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(
            format!("{}.2", p.display()),
            line("a", "2026-01-01T00:00:00Z"),
        )
        .unwrap();
        std::fs::write(
            format!("{}.1", p.display()),
            line("b", "2026-01-01T00:00:01Z"),
        )
        .unwrap();
        let mut cur = line("c", "2026-01-01T00:00:02Z");
        cur.push_str("{\"log\":\"partial");
        std::fs::write(&p, &cur).unwrap();
        let (all, end) = read_all(&p).unwrap();
        let logs: Vec<&str> = all.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, ["a\n", "b\n", "c\n"]);
        assert_eq!(end as usize, line("c", "2026-01-01T00:00:02Z").len());
        let since = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z")
            .unwrap()
            .timestamp();
        assert_eq!(all.iter().filter(|e| after(e, since)).count(), 2);
    }
}
