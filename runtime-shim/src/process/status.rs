//! The container's status as a state machine, and its exit record.
//!
//! ```text
//!   Created --start--> Running --pause--> Paused
//!      |                  |   <--resume--    |
//!      +-------exit-------+-------exit-------+--> Stopped
//! ```
//!
//! `exit.json` in the state dir keeps the init's exit after the shim is gone:
//! `{"pid":4242,"exit_code":3,"exited_at":"2026-11-23T07:00:00.123456789Z"}`. It is written to
//! `exit.json.tmp`, fsynced, renamed over `exit.json` and the directory fsynced, so a reader
//! sees either no file or a whole record, even across a power cut.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    pub fn can_start(self) -> bool {
        self == Status::Created
    }

    pub fn can_pause(self) -> bool {
        self == Status::Running
    }

    pub fn can_resume(self) -> bool {
        self == Status::Paused
    }

    pub fn can_kill(self) -> bool {
        self != Status::Stopped
    }

    pub fn can_exec(self) -> bool {
        self == Status::Running
    }

    /// The CRI counts a paused container as running; one that has not started or has stopped
    /// writes nothing, so kubelet has no reason to reopen its log.
    pub fn can_reopen_log(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }

    /// Without force only a container that is not running can go; force kills it first.
    pub fn can_delete(self, force: bool) -> bool {
        force || matches!(self, Status::Created | Status::Stopped)
    }
}

/// How and when a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub pid: i32,
    /// Exit status, or 128 + signal number when a signal killed the process.
    pub exit_code: i32,
    pub exited_at: DateTime<Utc>,
}

/// Write `exit` to `path` atomically (temp file, fsync, rename, fsync the directory).
pub fn write_exit_file(path: &Path, exit: &Exit) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let data = serde_json::to_vec(exit).expect("Exit always serialises");
    let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(&data).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("fsync", dir))?;
    }
    Ok(())
}

/// Read an exit record; `None` when there is none yet.
pub fn read_exit_file(path: &Path) -> Result<Option<Exit>> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| Error::RuntimeOutput {
                what: path.display().to_string(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        assert!(Status::Created.can_start());
        assert!(!Status::Running.can_start());
        assert!(Status::Running.can_pause() && !Status::Paused.can_pause());
        assert!(Status::Paused.can_resume());
        assert!(!Status::Stopped.can_kill());
        assert!(!Status::Running.can_delete(false) && Status::Running.can_delete(true));
        assert!(Status::Stopped.can_delete(false) && Status::Created.can_delete(false));
    }

    #[test]
    fn exit_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        assert_eq!(read_exit_file(&path).unwrap(), None);
        let exit = Exit {
            pid: 42,
            exit_code: 137,
            exited_at: Utc::now(),
        };
        write_exit_file(&path, &exit).unwrap();
        assert_eq!(read_exit_file(&path).unwrap(), Some(exit));
        assert!(!dir.path().join("exit.json.tmp").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"exit_code\":137"), "{text}");
    }

    #[test]
    fn exit_file_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        std::fs::write(&path, "{").unwrap();
        assert!(read_exit_file(&path).is_err());
    }
}
