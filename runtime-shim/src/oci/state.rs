//! Parsers for what the runtime writes: `state` JSON, `ps --format json`, and pid files.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The fields of the OCI `state` output the shim uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct OciState {
    pub id: String,
    /// "creating", "created", "running", "paused" or "stopped".
    pub status: String,
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub bundle: String,
}

/// Parse `state ID` output.
pub fn parse_state(out: &[u8]) -> Result<OciState> {
    serde_json::from_slice(out).map_err(|e| Error::RuntimeOutput {
        what: "runtime state".into(),
        detail: e.to_string(),
    })
}

/// Parse `ps --format json` output: a JSON array of host pids (`null` when empty).
pub fn parse_ps(out: &[u8]) -> Result<Vec<u32>> {
    let pids: Option<Vec<u32>> = serde_json::from_slice(out).map_err(|e| Error::RuntimeOutput {
        what: "runtime ps".into(),
        detail: e.to_string(),
    })?;
    Ok(pids.unwrap_or_default())
}

/// Parse a pid file (decimal, maybe without a newline).
pub fn parse_pid(text: &str) -> Result<i32> {
    match text.trim().parse::<i32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::RuntimeOutput {
            what: "pid file".into(),
            detail: format!("{:?}", text.chars().take(32).collect::<String>()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_from_crun() {
        let out = br#"{"ociVersion":"1.0.0","id":"c1","pid":4242,"status":"running",
            "bundle":"/b","rootfs":"/b/rootfs","created":"2026-01-01T00:00:00Z","owner":""}"#;
        let s = parse_state(out).unwrap();
        assert_eq!(s.status, "running");
        assert_eq!(s.pid, 4242);
    }

    #[test]
    fn ps_lists_and_null() {
        assert_eq!(parse_ps(b"[1,2,3]\n").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ps(b"null").unwrap(), Vec::<u32>::new());
        assert!(parse_ps(b"garbage").is_err());
    }

    #[test]
    fn pid_files() {
        assert_eq!(parse_pid("123").unwrap(), 123);
        assert_eq!(parse_pid("123\n").unwrap(), 123);
        assert!(parse_pid("").is_err());
        assert!(parse_pid("-1").is_err());
    }
}
