//! The OCI runtimes' versions, as `ferry version` and `ferry info` report them: each binary's
//! `--version`, first line, run with a deadline so a wedged runtime cannot hang `info`.
//!
//! ferry-shim finds the runtimes on ferryd's `PATH`; so does this.

use std::time::Duration;

use tokio::process::Command;

use crate::containers::record::RUNTIMES;

/// How long a runtime may take to say its version.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub name: String,
    /// "1.8.1"; empty when the runtime is missing, failed or was too slow.
    pub version: String,
}

/// Every runtime containers may name, in [`RUNTIMES`] order (the default first), probed at once.
pub async fn probe_all() -> Vec<Runtime> {
    let probes = RUNTIMES.iter().map(|name| async move {
        Runtime {
            name: name.to_string(),
            version: version_of(name, PROBE_TIMEOUT).await.unwrap_or_default(),
        }
    });
    futures::future::join_all(probes).await
}

/// The version `program --version` prints, or `None` if it cannot be run, fails, or takes
/// longer than `timeout` (then it is killed).
pub async fn version_of(program: &str, timeout: Duration) -> Option<String> {
    let child = Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, child).await.ok()?.ok()?;
    if !out.status.success() {
        return None;
    }
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// The version in a `--version` text's first line: what follows "version" ("crun version
/// 1.8.1" → "1.8.1"), else the whole line.
pub fn parse_version(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim();
    let mut words = line.split_whitespace();
    let version = match words.position(|w| w == "version") {
        Some(_) => words.next(),
        None => Some(line),
    };
    version.filter(|v| !v.is_empty()).map(String::from)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn versions_come_from_the_first_line() {
        let crun = "crun version 1.8.1\ncommit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30\n+SYSTEMD";
        assert_eq!(parse_version(crun).as_deref(), Some("1.8.1"));
        let runc = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1\nspec: 1.0.2-dev\n";
        assert_eq!(parse_version(runc).as_deref(), Some("1.1.5+ds1"));
        assert_eq!(
            parse_version("youki 0.3.0\n").as_deref(),
            Some("youki 0.3.0")
        );
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("x version\n"), None);
    }

    fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }

    #[tokio::test]
    async fn a_runtime_is_run_with_a_deadline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = script(&dir, "ok", "echo 'fake version 9.9'; echo more");
        let slow = script(&dir, "slow", "sleep 30");
        let failing = script(&dir, "failing", "echo 'fake version 1'; exit 3");
        let t = Duration::from_millis(500);
        assert_eq!(version_of(&ok, t).await.as_deref(), Some("9.9"));
        let started = std::time::Instant::now();
        assert_eq!(version_of(&slow, t).await, None);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the deadline holds"
        );
        assert_eq!(version_of(&failing, t).await, None);
        assert_eq!(version_of("/nonexistent/runtime", t).await, None);
    }

    #[tokio::test]
    async fn every_known_runtime_is_listed_default_first() {
        let all = probe_all().await;
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, RUNTIMES);
    }
}
