//! The pod's shared PID namespace, held by `ferry-shim pod-init` (its PID 1).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Starts the pod's init; its host PID.
pub(super) fn start(shim: &Path) -> Result<u32> {
    let out = Command::new(shim)
        .arg("pod-init")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::io("spawn pod init", shim, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse::<u32>() {
        Ok(pid) if out.status.success() && pid > 0 => Ok(pid),
        _ => Err(Error::ShimLaunch(format!(
            "pod init: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// Where its containers join it.
pub(super) fn namespace(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/pid"))
}

/// Whether `pid` is still a pod init (not a PID the kernel reused for something else).
pub(super) fn is_init(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"pod-init"))
}

/// Ends the init (and with it every process left in the namespace).
pub(super) fn stop(pid: u32) {
    if pid > 0 && is_init(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
