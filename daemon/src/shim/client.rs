//! One shim, as ferryd sees it: a typed client bound to its container, whose calls keep the
//! shim's gRPC code (`Error::Shim` carries the status whole).

use std::path::Path;

use ferry_proto::shim::v1 as pb;
use ferry_proto::shim::v1::shim_client::ShimClient;
use ferry_telemetry::Traced;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};

type Raw = ShimClient<Traced<Channel>>;

/// A connected shim; each call carries the caller's trace context (see `ferry_telemetry::grpc`).
/// Cloning is cheap (the channel is shared).
#[derive(Debug, Clone)]
pub struct Shim {
    id: String,
    raw: Raw,
}

/// What the runtime's `create` reported.
#[derive(Debug, Clone)]
pub struct Created {
    pub pid: u32,
    pub runtime_used: String,
    pub warning: String,
}

/// How to create the container's process.
#[derive(Debug, Clone)]
pub struct CreateOptions<'a> {
    pub bundle: &'a Path,
    pub runtime: &'a str,
    pub terminal: bool,
    pub stdin: bool,
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// Where the shim also writes the CRI-format log kubelet reads (absolute); `None`: no CRI log.
    pub cri_log: Option<&'a Path>,
}

/// A process's output from the shim, and the sender of its input (dropping the sender closes
/// the process's stdin).
#[derive(Debug)]
pub struct ShimAttach {
    pub output: tonic::Streaming<pb::AttachOutput>,
    pub input: mpsc::Sender<pb::AttachInput>,
}

impl Shim {
    /// Connects to the shim serving container `id` on `socket`.
    pub async fn connect(socket: &Path, id: &str) -> Result<Shim> {
        let path = socket.to_path_buf();
        let channel = Endpoint::try_from("http://ferry-shim.local")
            .map_err(|e| Error::ShimGone(e.to_string()))?
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let p = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?))
                }
            }))
            .await
            .map_err(|e| Error::ShimGone(format!("{}: {e}", socket.display())))?;
        Ok(Shim {
            id: id.to_string(),
            raw: ShimClient::new(Traced::new(channel)),
        })
    }

    fn raw(&self) -> Raw {
        self.raw.clone()
    }

    pub async fn create(&self, o: &CreateOptions<'_>) -> Result<Created> {
        let req = pb::CreateRequest {
            id: self.id.clone(),
            bundle: o.bundle.display().to_string(),
            terminal: o.terminal,
            stdin: o.stdin,
            runtime: o.runtime.to_string(),
            log_max_size: o.log_max_size,
            log_max_file: o.log_max_file,
            cri_log_path: o
                .cri_log
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        let r = self
            .raw()
            .create(req)
            .await
            .map_err(Error::Shim)?
            .into_inner();
        Ok(Created {
            pid: r.pid,
            runtime_used: r.runtime_used,
            warning: r.warning,
        })
    }

    pub async fn start(&self) -> Result<()> {
        let req = pb::StartRequest {
            id: self.id.clone(),
        };
        self.raw().start(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    pub async fn state(&self) -> Result<pb::StateResponse> {
        let req = pb::StateRequest {
            id: self.id.clone(),
        };
        Ok(self
            .raw()
            .state(req)
            .await
            .map_err(Error::Shim)?
            .into_inner())
    }

    /// Signals the main process (`all`: every process of the container).
    pub async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.signal(signal, all, String::new()).await
    }

    /// Signals one exec process.
    pub async fn kill_exec(&self, exec_id: &str, signal: i32) -> Result<()> {
        self.signal(signal, false, exec_id.to_string()).await
    }

    async fn signal(&self, signal: i32, all: bool, exec_id: String) -> Result<()> {
        let req = pb::KillRequest {
            id: self.id.clone(),
            signal: signal as u32,
            all,
            exec_id,
        };
        self.raw().kill(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    pub async fn pause(&self) -> Result<()> {
        let req = pb::PauseRequest {
            id: self.id.clone(),
        };
        self.raw().pause(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    pub async fn resume(&self) -> Result<()> {
        let req = pb::ResumeRequest {
            id: self.id.clone(),
        };
        self.raw().resume(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    /// Registers an exec process (`process_json`: its OCI process); `start_exec` runs it.
    pub async fn exec(
        &self,
        exec_id: &str,
        process_json: Vec<u8>,
        tty: bool,
        stdin: bool,
    ) -> Result<()> {
        let req = pb::ExecRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
            process_json,
            terminal: tty,
            stdin,
        };
        self.raw().exec(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    pub async fn start_exec(&self, exec_id: &str) -> Result<()> {
        let req = pb::StartExecRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
        };
        self.raw().start_exec(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    /// The PIDs of the container's processes.
    pub async fn ps(&self) -> Result<Vec<u32>> {
        let req = pb::PsRequest {
            id: self.id.clone(),
        };
        Ok(self
            .raw()
            .ps(req)
            .await
            .map_err(Error::Shim)?
            .into_inner()
            .pids)
    }

    /// Blocks until the process (exec_id "" is the main one) exits.
    pub async fn wait(&self, exec_id: &str) -> Result<pb::WaitResponse> {
        let req = pb::WaitRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
        };
        Ok(self
            .raw()
            .wait(req)
            .await
            .map_err(Error::Shim)?
            .into_inner())
    }

    pub async fn resize(&self, exec_id: &str, rows: u32, cols: u32) -> Result<()> {
        let req = pb::ResizePtyRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
            rows,
            cols,
        };
        self.raw().resize_pty(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    /// Opens an Attach stream for a process (exec_id "" is the container's main process).
    pub async fn attach(&self, exec_id: &str) -> Result<ShimAttach> {
        let (tx, rx) = mpsc::channel(64);
        let first = pb::AttachInput {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
            input: None,
        };
        // The channel was just made with room: this send cannot find it closed or full.
        let _ = tx.try_send(first);
        let output = self
            .raw()
            .attach(ReceiverStream::new(rx))
            .await
            .map_err(Error::Shim)?
            .into_inner();
        Ok(ShimAttach { output, input: tx })
    }

    /// Makes the shim close the CRI log and open a new file at its path, after kubelet rotated
    /// it. FailedPrecondition when the container has no CRI log or is not running.
    pub async fn reopen_log(&self) -> Result<()> {
        let req = pb::ReopenLogRequest {};
        self.raw().reopen_log(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    /// Deletes an exec process's state once it has been waited for.
    pub async fn delete_exec(&self, exec_id: &str) -> Result<()> {
        let req = pb::DeleteRequest {
            id: self.id.clone(),
            exec_id: exec_id.to_string(),
            force: false,
        };
        self.raw().delete(req).await.map_err(Error::Shim)?;
        Ok(())
    }

    /// Best effort, for a container whose shim must go (start failed, exited, removed, or an
    /// earlier shim still serving): force-deletes the runtime's container, then stops the shim.
    pub async fn retire(&self) {
        let mut raw = self.raw();
        let del = pb::DeleteRequest {
            id: self.id.clone(),
            exec_id: String::new(),
            force: true,
        };
        if let Err(s) = raw.delete(del).await {
            tracing::debug!(id = %self.id, error = %s, "shim delete");
        }
        let stop = pb::ShutdownRequest {
            id: self.id.clone(),
            now: true,
        };
        if let Err(s) = raw.shutdown(stop).await {
            tracing::debug!(id = %self.id, error = %s, "shim shutdown");
        }
    }
}
