//! Runs the OCI runtime command line (crun or runc) with a private `--root` under the shim's
//! runtime root, `<runtime-root>/<runtime-name>`, so two ferryds never see each other's
//! containers. Argv comes from [`args`]; exits come from the [`Reaper`] (never `Child::wait`).
//!
//! Two ways to run:
//! - capture: stdout and stderr are read; a failure keeps the exit status and stderr;
//! - pass-through (`create`, `exec`): the runtime's stdio is the process's stdio, so errors are
//!   read back from the `--log` file instead.
//!
//! Each invocation is an `oci` span (named `<runtime> <verb>`, e.g. `crun create`) with its exit
//! code; a failure sets the span's error status.

pub mod args;
pub mod state;

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::io::AsyncReadExt;
use tracing::Instrument as _;

use crate::error::{Error, Result};
use crate::io::ChildStdio;
use crate::reaper::Reaper;
use args::{Argv, CreateOpts, ExecOpts, RuntimeKind};
use state::OciState;

/// stderr kept in an error, at most.
const STDERR_CAP: usize = 4096;

/// One OCI runtime with its private state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    kind: RuntimeKind,
    root: PathBuf,
    reaper: Reaper,
}

impl Runtime {
    /// Use `kind` with state under `<runtime_root>/<name>` (created 0700).
    pub fn new(kind: RuntimeKind, runtime_root: &Path, reaper: Reaper) -> Result<Self> {
        let root = runtime_root.join(kind.name());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(Error::io("create runtime root", &root))?;
        Ok(Self { kind, root, reaper })
    }

    pub fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn argv(&self) -> Argv<'_> {
        Argv::new(&self.root)
    }

    /// `create`, with the process's stdio passed through.
    pub async fn create(
        &self,
        id: &str,
        o: CreateOpts<'_>,
        io: ChildStdio,
        log: &Path,
    ) -> Result<()> {
        let args = self.argv().with_log(log).create(id, o);
        self.pass_through("create", args, io, log).await
    }

    /// `exec --detach`, with the process's stdio passed through.
    pub async fn exec(&self, id: &str, o: ExecOpts<'_>, io: ChildStdio, log: &Path) -> Result<()> {
        let args = self.argv().with_log(log).exec(id, o);
        self.pass_through("exec", args, io, log).await
    }

    pub async fn start(&self, id: &str) -> Result<()> {
        self.capture("start", self.argv().start(id)).await.map(drop)
    }

    pub async fn state(&self, id: &str) -> Result<OciState> {
        state::parse_state(&self.capture("state", self.argv().state(id)).await?)
    }

    pub async fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        self.capture("kill", self.argv().kill(id, signal, all))
            .await
            .map(drop)
    }

    pub async fn pause(&self, id: &str) -> Result<()> {
        self.capture("pause", self.argv().pause(id)).await.map(drop)
    }

    pub async fn resume(&self, id: &str) -> Result<()> {
        self.capture("resume", self.argv().resume(id))
            .await
            .map(drop)
    }

    pub async fn ps(&self, id: &str) -> Result<Vec<u32>> {
        state::parse_ps(&self.capture("ps", self.argv().ps(id)).await?)
    }

    pub async fn delete(&self, id: &str, force: bool) -> Result<()> {
        self.capture("delete", self.argv().delete(id, force))
            .await
            .map(drop)
    }

    fn command(&self, args: &[OsString]) -> Command {
        let mut cmd = Command::new(self.kind.name());
        cmd.args(args);
        cmd
    }

    fn span(&self, verb: &'static str) -> tracing::Span {
        tracing::info_span!(
            "oci",
            otel.name = %format_args!("{} {verb}", self.kind.name()),
            runtime = self.kind.name(),
            verb,
            exit_code = tracing::field::Empty,
        )
    }

    /// Run and read stdout and stderr; return stdout when the exit status is 0.
    async fn capture(&self, verb: &'static str, args: Vec<OsString>) -> Result<Vec<u8>> {
        let span = self.span(verb);
        let res = self
            .capture_inner(verb, args)
            .instrument(span.clone())
            .await;
        if let Err(e) = &res {
            ferry_telemetry::record_error(&span, e);
        }
        res
    }

    async fn capture_inner(&self, verb: &'static str, args: Vec<OsString>) -> Result<Vec<u8>> {
        tracing::debug!(?args, "run {}", self.kind);
        let mut cmd = self.command(&args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, exited) = self
            .reaper
            .spawn(&mut cmd)
            .map_err(|e| self.spawn_error(verb, e))?;
        drop(cmd);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let read =
            |p: Option<std::process::ChildStdout>| p.map(tokio::process::ChildStdout::from_std);
        let read_err =
            |p: Option<std::process::ChildStderr>| p.map(tokio::process::ChildStderr::from_std);
        let (o, e) = (read(child.stdout.take()), read_err(child.stderr.take()));
        let (o, e) = match (o, e) {
            (Some(Ok(o)), Some(Ok(e))) => (o, e),
            _ => return Err(self.spawn_error(verb, std::io::Error::other("no stdio pipes"))),
        };
        let (mut o, mut e) = (o, e);
        let _ = tokio::join!(o.read_to_end(&mut out), e.read_to_end(&mut err));
        let status = exited.await.unwrap_or(-1);
        tracing::Span::current().record("exit_code", status);
        if status != 0 {
            return Err(self.failed(verb, status, &err));
        }
        Ok(out)
    }

    /// Run with the given stdio; on failure the error text comes from the `--log` file.
    async fn pass_through(
        &self,
        verb: &'static str,
        args: Vec<OsString>,
        io: ChildStdio,
        log: &Path,
    ) -> Result<()> {
        let span = self.span(verb);
        let res = self
            .pass_through_inner(verb, args, io, log)
            .instrument(span.clone())
            .await;
        if let Err(e) = &res {
            ferry_telemetry::record_error(&span, e);
        }
        res
    }

    async fn pass_through_inner(
        &self,
        verb: &'static str,
        args: Vec<OsString>,
        io: ChildStdio,
        log: &Path,
    ) -> Result<()> {
        tracing::debug!(?args, "run {}", self.kind);
        let _ = std::fs::remove_file(log);
        let stdio = |fd: Option<std::os::fd::OwnedFd>| fd.map_or_else(Stdio::null, Stdio::from);
        let mut cmd = self.command(&args);
        cmd.stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        let (_child, exited) = self
            .reaper
            .spawn(&mut cmd)
            .map_err(|e| self.spawn_error(verb, e))?;
        // The process now holds its ends of the pipes; ours must close, or EOF never comes.
        drop(cmd);
        let status = exited.await.unwrap_or(-1);
        tracing::Span::current().record("exit_code", status);
        if status != 0 {
            let text = std::fs::read(log).unwrap_or_default();
            return Err(self.failed(verb, status, &text));
        }
        Ok(())
    }

    fn spawn_error(&self, verb: &'static str, source: std::io::Error) -> Error {
        Error::RuntimeSpawn {
            runtime: self.kind.name().into(),
            verb,
            source,
        }
    }

    fn failed(&self, verb: &'static str, status: i32, stderr: &[u8]) -> Error {
        let text = String::from_utf8_lossy(stderr);
        let text = text.trim();
        let start = text.len().saturating_sub(STDERR_CAP);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        Error::RuntimeFailed {
            runtime: self.kind.name().into(),
            verb,
            status,
            stderr: text[start..].to_string(),
        }
    }
}
