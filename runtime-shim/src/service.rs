//! `ferry.shim.v1` over the domain in [`crate::process`]: each RPC converts the request, calls
//! one domain method, and converts back; errors go through [`into_status`].

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_proto::shim::v1 as pb;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status, Streaming};

use crate::error::Error;
use crate::io::{Input, Output};
use crate::oci::args::RuntimeKind;
use crate::process::status::{Exit, Status as CStatus};
use crate::process::{CreateOptions, Shim};

/// Longest error message sent to a client.
const MESSAGE_CAP: usize = 2048;

/// Map a domain error to a gRPC status: one arm per variant, no catch-all.
pub fn into_status(e: Error) -> Status {
    let code = match &e {
        Error::NoSuchContainer(_) | Error::NoSuchExec(_) => tonic::Code::NotFound,
        Error::AlreadyCreated(_) | Error::ExecExists(_) => tonic::Code::AlreadyExists,
        Error::WrongState(_) | Error::NoCriLog => tonic::Code::FailedPrecondition,
        Error::InvalidArgument(_) => tonic::Code::InvalidArgument,
        Error::RuntimeSpawn { .. }
        | Error::RuntimeFailed { .. }
        | Error::RuntimeOutput { .. }
        | Error::Io { .. }
        | Error::Sys { .. } => tonic::Code::Internal,
    };
    let mut msg = error_chain(&e);
    if code == tonic::Code::Internal {
        tracing::error!(error = %msg, "internal error");
    }
    if msg.len() > MESSAGE_CAP {
        let cut = (0..=MESSAGE_CAP)
            .rev()
            .find(|&i| msg.is_char_boundary(i))
            .unwrap_or(0);
        msg.truncate(cut);
    }
    Status::new(code, msg)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn status_pb(s: CStatus) -> pb::Status {
    match s {
        CStatus::Created => pb::Status::Created,
        CStatus::Running => pb::Status::Running,
        CStatus::Paused => pb::Status::Paused,
        CStatus::Stopped => pb::Status::Stopped,
    }
}

fn pid_u32(pid: i32) -> u32 {
    u32::try_from(pid).unwrap_or(0)
}

fn signal(sig: u32) -> Result<i32, Status> {
    match i32::try_from(sig) {
        Ok(s) if (1..=64).contains(&s) => Ok(s),
        _ => Err(Status::invalid_argument(format!("invalid signal {sig}"))),
    }
}

fn window(rows: u32, cols: u32) -> Result<(u16, u16), Status> {
    match (u16::try_from(rows), u16::try_from(cols)) {
        (Ok(r), Ok(c)) => Ok((r, c)),
        _ => Err(Status::invalid_argument(format!(
            "invalid window size {rows}x{cols}"
        ))),
    }
}

/// Create's `cri_log_path`: empty for none. A relative path would land wherever the shim's
/// working directory is, so it is refused.
fn cri_log_path(p: String) -> Result<Option<PathBuf>, Status> {
    match PathBuf::from(p) {
        p if p.as_os_str().is_empty() => Ok(None),
        p if p.is_absolute() => Ok(Some(p)),
        p => Err(Status::invalid_argument(format!(
            "cri_log_path {} is not absolute",
            p.display()
        ))),
    }
}

fn wait_response(e: Exit) -> pb::WaitResponse {
    pb::WaitResponse {
        exit_code: e.exit_code,
        exited_at: Some(timestamp(e.exited_at)),
    }
}

/// Give freed heap back to the kernel. Create and Start allocate transiently (runtime output,
/// argv, h2 buffers) and then the shim idles for the container's whole life; glibc keeps
/// freed top-of-heap memory otherwise, and that is per-container memory.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointers are passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The gRPC service over one [`Shim`].
#[derive(Debug, Clone)]
pub struct ShimService {
    shim: Arc<Shim>,
}

impl ShimService {
    pub fn new(shim: Arc<Shim>) -> Self {
        Self { shim }
    }
}

type AttachStream = Pin<Box<dyn Stream<Item = Result<pb::AttachOutput, Status>> + Send>>;

#[tonic::async_trait]
impl pb::shim_server::Shim for ShimService {
    async fn create(
        &self,
        req: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::CreateResponse>, Status> {
        let r = req.into_inner();
        let runtime = match r.runtime.as_str() {
            "" => None,
            name => Some(
                RuntimeKind::parse(name)
                    .ok_or_else(|| Status::invalid_argument(format!("unknown runtime {name:?}")))?,
            ),
        };
        let opts = CreateOptions {
            bundle: (!r.bundle.is_empty()).then(|| r.bundle.into()),
            terminal: r.terminal,
            stdin: r.stdin,
            runtime,
            log_max_size: r.log_max_size,
            log_max_file: r.log_max_file,
            cri_log: cri_log_path(r.cri_log_path)?,
        };
        let c = self.shim.create(&r.id, opts).await.map_err(into_status);
        trim_heap();
        let c = c?;
        Ok(Response::new(pb::CreateResponse {
            pid: pid_u32(c.pid),
            runtime_used: c.runtime_used.to_string(),
            warning: c.warning.unwrap_or_default(),
        }))
    }

    async fn start(
        &self,
        req: Request<pb::StartRequest>,
    ) -> Result<Response<pb::StartResponse>, Status> {
        let c = self
            .shim
            .container(&req.get_ref().id)
            .await
            .map_err(into_status)?;
        let pid = c.start().await.map_err(into_status);
        trim_heap();
        let pid = pid?;
        Ok(Response::new(pb::StartResponse { pid: pid_u32(pid) }))
    }

    async fn state(
        &self,
        req: Request<pb::StateRequest>,
    ) -> Result<Response<pb::StateResponse>, Status> {
        let c = self
            .shim
            .container(&req.get_ref().id)
            .await
            .map_err(into_status)?;
        let exit = c.init.exit();
        Ok(Response::new(pb::StateResponse {
            id: c.id.clone(),
            bundle: c.bundle.display().to_string(),
            status: status_pb(c.status()).into(),
            pid: pid_u32(c.init.pid),
            exit_code: exit.map_or(0, |e| e.exit_code),
            exited_at: exit.map(|e| timestamp(e.exited_at)),
            runtime_used: c.runtime_kind().to_string(),
            warning: c.warning.clone().unwrap_or_default(),
            terminal: c.init.terminal,
            log_path: c.log_path.display().to_string(),
        }))
    }

    async fn kill(&self, req: Request<pb::KillRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let sig = signal(r.signal)?;
        let c = self.shim.container(&r.id).await.map_err(into_status)?;
        if r.exec_id.is_empty() {
            c.kill(sig, r.all).await.map_err(into_status)?;
        } else {
            c.kill_exec(&r.exec_id, sig).map_err(into_status)?;
        }
        Ok(Response::new(pb::Empty {}))
    }

    async fn pause(&self, req: Request<pb::PauseRequest>) -> Result<Response<pb::Empty>, Status> {
        let c = self
            .shim
            .container(&req.get_ref().id)
            .await
            .map_err(into_status)?;
        c.pause().await.map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn resume(&self, req: Request<pb::ResumeRequest>) -> Result<Response<pb::Empty>, Status> {
        let c = self
            .shim
            .container(&req.get_ref().id)
            .await
            .map_err(into_status)?;
        c.resume().await.map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn exec(&self, req: Request<pb::ExecRequest>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let c = self.shim.container(&r.id).await.map_err(into_status)?;
        c.add_exec(&r.exec_id, &r.process_json, r.terminal, r.stdin)
            .map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn start_exec(
        &self,
        req: Request<pb::StartExecRequest>,
    ) -> Result<Response<pb::StartExecResponse>, Status> {
        let r = req.into_inner();
        let c = self.shim.container(&r.id).await.map_err(into_status)?;
        let pid = c.start_exec(&r.exec_id).await.map_err(into_status)?;
        Ok(Response::new(pb::StartExecResponse { pid: pid_u32(pid) }))
    }

    async fn ps(&self, req: Request<pb::PsRequest>) -> Result<Response<pb::PsResponse>, Status> {
        let c = self
            .shim
            .container(&req.get_ref().id)
            .await
            .map_err(into_status)?;
        let pids = c.ps().await.map_err(into_status)?;
        Ok(Response::new(pb::PsResponse { pids }))
    }

    async fn wait(
        &self,
        req: Request<pb::WaitRequest>,
    ) -> Result<Response<pb::WaitResponse>, Status> {
        let r = req.into_inner();
        let c = self.shim.container(&r.id).await.map_err(into_status)?;
        let p = c.process(&r.exec_id).map_err(into_status)?;
        let exit = p.wait().await.map_err(into_status)?;
        Ok(Response::new(wait_response(exit)))
    }

    type AttachStream = AttachStream;

    async fn attach(
        &self,
        req: Request<Streaming<pb::AttachInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("attach: first message missing"))?;
        let c = self.shim.container(&first.id).await.map_err(into_status)?;
        let io = c.io(&first.exec_id).map_err(into_status)?;
        // Subscribe before handling input, so output caused by that input is not missed.
        let rx = io.subscribe();
        tokio::spawn(async move {
            let mut msg = Some(first);
            while let Some(m) = msg {
                if let Err(e) = handle_input(&io, m.input).await {
                    tracing::debug!(error = %e, "attach input");
                }
                msg = input.message().await.ok().flatten();
            }
        });
        let Some(rx) = rx else {
            return Ok(Response::new(Box::pin(futures::stream::empty())));
        };
        let out = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(Output::Data(stream, data)) => {
                        let stream = match stream {
                            crate::io::Stream::Stdout => pb::attach_output::Stream::Stdout,
                            crate::io::Stream::Stderr => pb::attach_output::Stream::Stderr,
                        };
                        let o = pb::AttachOutput {
                            stream: stream.into(),
                            data: data.to_vec(),
                        };
                        return Some((Ok(o), rx));
                    }
                    Ok(Output::Eof) | Err(RecvError::Closed) => return None,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(n, "attach client lagged; output dropped")
                    }
                }
            }
        });
        Ok(Response::new(out.boxed()))
    }

    async fn resize_pty(
        &self,
        req: Request<pb::ResizePtyRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let (rows, cols) = window(r.rows, r.cols)?;
        let c = self.shim.container(&r.id).await.map_err(into_status)?;
        c.io(&r.exec_id)
            .map_err(into_status)?
            .resize(rows, cols)
            .map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn close_stdin(
        &self,
        req: Request<pb::CloseStdinRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let c = self.shim.container(&r.id).await.map_err(into_status)?;
        let io = c.io(&r.exec_id).map_err(into_status)?;
        io.write_stdin(Input::Close).await.map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn delete(
        &self,
        req: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let r = req.into_inner();
        let exit = if r.exec_id.is_empty() {
            Some(
                self.shim
                    .delete(&r.id, r.force)
                    .await
                    .map_err(into_status)?,
            )
        } else {
            let c = self.shim.container(&r.id).await.map_err(into_status)?;
            c.delete_exec(&r.exec_id).map_err(into_status)?
        };
        Ok(Response::new(pb::DeleteResponse {
            pid: exit.map_or(0, |e| pid_u32(e.pid)),
            exit_code: exit.map_or(0, |e| e.exit_code),
            exited_at: exit.map(|e| timestamp(e.exited_at)),
        }))
    }

    async fn reopen_log(
        &self,
        _req: Request<pb::ReopenLogRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        // The request names no container: the shim has one, and "" is taken to mean it.
        let c = self.shim.container("").await.map_err(into_status)?;
        c.reopen_log().map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn shutdown(
        &self,
        req: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        self.shim
            .shutdown(&r.id, r.now)
            .await
            .map_err(into_status)?;
        Ok(Response::new(pb::Empty {}))
    }
}

async fn handle_input(
    io: &crate::io::ProcessIo,
    input: Option<pb::attach_input::Input>,
) -> crate::error::Result<()> {
    use pb::attach_input::Input as I;
    match input {
        None => Ok(()),
        Some(I::Stdin(d)) => io.write_stdin(Input::Data(d)).await,
        Some(I::CloseStdin(true)) => io.write_stdin(Input::Close).await,
        Some(I::CloseStdin(false)) => Ok(()),
        Some(I::Resize(r)) => match (u16::try_from(r.rows), u16::try_from(r.cols)) {
            (Ok(rows), Ok(cols)) => io.resize(rows, cols),
            _ => Err(Error::InvalidArgument(format!(
                "window size {}x{}",
                r.rows, r.cols
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(
            into_status(Error::NoSuchExec("e".into())).code(),
            tonic::Code::NotFound
        );
        assert_eq!(
            into_status(Error::WrongState("x".into())).code(),
            tonic::Code::FailedPrecondition
        );
        let e = Error::RuntimeFailed {
            runtime: "crun".into(),
            verb: "create",
            status: 1,
            stderr: "x".repeat(10_000),
        };
        let s = into_status(e);
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(s.message().len() <= MESSAGE_CAP);
        assert!(s.message().starts_with("crun create failed (1)"));
    }

    #[test]
    fn signals_and_windows() {
        assert!(signal(0).is_err());
        assert_eq!(signal(15).unwrap(), 15);
        assert!(signal(65).is_err());
        assert!(window(70_000, 80).is_err());
        assert_eq!(window(24, 80).unwrap(), (24, 80));
    }

    #[test]
    fn cri_log_paths() {
        assert_eq!(cri_log_path(String::new()).unwrap(), None);
        assert_eq!(
            cri_log_path("/var/log/pods/p/c/0.log".into()).unwrap(),
            Some(PathBuf::from("/var/log/pods/p/c/0.log"))
        );
        let e = cri_log_path("c/0.log".into()).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            into_status(Error::NoCriLog).message(),
            "container has no CRI log"
        );
        assert_eq!(
            into_status(Error::NoCriLog).code(),
            tonic::Code::FailedPrecondition
        );
    }
}
