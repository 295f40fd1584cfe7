//! Launching ferry-shim.
//!
//! Launch: ferryd spawns `ferry-shim … --ready-fd N`; the shim double-forks (so it is not
//! ferryd's child and outlives it), then writes one JSON line to the fd —
//! `{"pid":P,"socket":S}` or `{"error":E}` — and closes it. A restarted ferryd reconnects to
//! the socket, which sits in the container's 0700 bundle directory.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use ferry_telemetry::propagate::{self, TRACEPARENT, TRACESTATE};

use super::Shim;
use crate::containers::rootfs::Paths;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ShimLauncher {
    pub binary: PathBuf,
    pub runtime_root: PathBuf,
}

#[derive(serde::Deserialize)]
struct Ready {
    #[serde(default)]
    error: Option<String>,
}

impl ShimLauncher {
    /// Starts a shim for container `id` and returns a client once it serves. The shim's
    /// start-up joins this trace through `TRACEPARENT`.
    #[tracing::instrument(name = "shim_launch", skip_all, fields(container.id = %id, runtime = %runtime))]
    pub async fn launch(&self, id: &str, paths: &Paths, runtime: &str) -> Result<Shim> {
        let (this, paths2, id2, rt) = (
            self.clone(),
            paths.clone(),
            id.to_string(),
            runtime.to_string(),
        );
        let env = propagate::child_env(&tracing::Span::current());
        tokio::task::spawn_blocking(move || this.spawn_blocking(&id2, &paths2, &rt, env))
            .await
            .map_err(Error::blocking("shim launch"))??;
        Shim::connect(&paths.socket(), id).await
    }

    fn spawn_blocking(
        &self,
        id: &str,
        paths: &Paths,
        runtime: &str,
        trace_env: Vec<(&'static str, String)>,
    ) -> Result<()> {
        let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::ShimLaunch(format!("pipe: {e}")))?;
        let wfd = w.as_raw_fd();
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.arg("--id")
            .arg(id)
            .arg("--bundle")
            .arg(&paths.bundle)
            .arg("--socket")
            .arg(paths.socket())
            .arg("--state-dir")
            .arg(&paths.state)
            .arg("--runtime-root")
            .arg(&self.runtime_root)
            .arg("--runtime")
            .arg(runtime)
            .arg("--ready-fd")
            .arg(wfd.to_string())
            // ferryd's service name is not the shim's; the rest of OTEL_* is inherited.
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove(TRACEPARENT)
            .env_remove(TRACESTATE)
            .envs(trace_env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: fcntl is async-signal-safe; it only clears CLOEXEC on the pipe's write end,
        // so the shim inherits exactly that fd.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::ShimLaunch(format!("spawn {}: {e}", self.binary.display())))?;
        drop(w);
        let status = child
            .wait()
            .map_err(|e| Error::ShimLaunch(format!("wait for shim: {e}")))?;
        let mut line = String::new();
        std::fs::File::from(r)
            .read_to_string(&mut line)
            .map_err(|e| Error::ShimLaunch(format!("read shim readiness: {e}")))?;
        let ready: Ready = serde_json::from_str(line.trim()).map_err(|_| {
            Error::ShimLaunch(format!("shim exited {status} without reporting readiness"))
        })?;
        match ready.error {
            Some(e) => Err(Error::ShimLaunch(format!("shim failed to start: {e}"))),
            None => Ok(()),
        }
    }
}

/// The exit a dead shim left behind in `<state-dir>/exit.json`.
pub fn recorded_exit(state_dir: &Path) -> Option<(i32, String)> {
    #[derive(serde::Deserialize)]
    struct Exit {
        exit_code: i32,
        #[serde(default)]
        exited_at: serde_json::Value,
    }
    let raw = std::fs::read(state_dir.join("exit.json")).ok()?;
    let e: Exit = serde_json::from_slice(&raw).ok()?;
    let at = match e.exited_at {
        serde_json::Value::String(s) => s,
        _ => chrono::Utc::now().to_rfc3339(),
    };
    Some((e.exit_code, at))
}
