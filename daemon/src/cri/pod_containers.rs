//! The CRI's container verbs on Ferry's container table: create in a ready sandbox, start,
//! stop and remove that succeed for a container already gone, exec with a deadline and
//! capped output, and a log reopen.

use std::path::PathBuf;
use std::time::Duration;

use ferry_proto::shim::v1::attach_output::Stream;
use k8s_cri::v1 as cri;
use tokio_stream::StreamExt;

use super::container_config::{container_name, translate};
use super::sandbox::SandboxState;
use super::Cri;
use crate::containers::exec::ExecConfig;
use crate::containers::{ContainerRecord, State};
use crate::error::{Error, Result};

/// ExecSync's output cap per stream (CVE-2022-1708): the rest is dropped.
pub const MAX_EXEC_OUTPUT: usize = 16 << 20;

/// What ExecSync returns.
#[derive(Debug, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

impl Cri {
    /// CreateContainer: the image must be here (the kubelet pulls first).
    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: &cri::ContainerConfig,
    ) -> Result<String> {
        let sb = self.sandboxes.get(sandbox_id)?;
        if sb.state != SandboxState::Ready {
            return Err(Error::Conflict(format!(
                "pod sandbox {} is not ready",
                sb.id
            )));
        }
        let image = config.image.as_ref().map_or("", |i| i.image.as_str());
        if image.is_empty() {
            return Err(Error::InvalidArgument(
                "container config must name an image".into(),
            ));
        }
        let pid_ns = self.pid_namespace(config)?;
        let translated = translate(&sb, config, image, pid_ns)?;
        let meta = translated.pod.as_ref().map(|p| (p.name.clone(), p.attempt));
        let name = meta.map_or_else(String::new, |(n, a)| container_name(&sb, &n, a));
        let (id, _warnings) = self.containers.create(&name, translated).await?;
        Ok(id)
    }

    /// The PID namespace a TARGET container joins: its target's (POD joins the pod's, held
    /// by the sandbox; None otherwise).
    fn pid_namespace(&self, config: &cri::ContainerConfig) -> Result<Option<PathBuf>> {
        let ns = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone())
            .unwrap_or_default();
        if ns.pid != cri::NamespaceMode::Target as i32 {
            return Ok(None);
        }
        let target = self.containers.get(&ns.target_id)?;
        if target.pid == 0 || !target.state.is_live() {
            return Err(Error::Conflict(format!(
                "target container {} is not running",
                ns.target_id
            )));
        }
        Ok(Some(PathBuf::from(format!("/proc/{}/ns/pid", target.pid))))
    }

    /// A container of a pod, by ID or unique prefix; a CLI container is not the CRI's.
    pub fn pod_container(&self, query: &str) -> Result<ContainerRecord> {
        let rec = self.containers.get(query)?;
        match rec.config.pod {
            Some(_) => Ok(rec),
            None => Err(Error::ContainerNotFound(query.to_string())),
        }
    }

    pub async fn start_container(&self, id: &str) -> Result<()> {
        let rec = self.pod_container(id)?;
        if rec.state != State::Created {
            return Err(Error::Conflict(format!(
                "container {} is in state {}, not created",
                rec.id,
                rec.state.as_str()
            )));
        }
        self.containers.start(&rec.id).await
    }

    /// StopContainer: SIGTERM, SIGKILL after `timeout` seconds; gone or stopped is success.
    pub async fn stop_container(&self, id: &str, timeout: i64) -> Result<()> {
        let rec = match self.pod_container(id) {
            Ok(r) => r,
            Err(Error::ContainerNotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let secs = i32::try_from(timeout.max(0)).unwrap_or(i32::MAX);
        self.containers.stop(&rec.id, Some(secs)).await
    }

    /// RemoveContainer: a running one is killed first; gone is success.
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let rec = match self.pod_container(id) {
            Ok(r) => r,
            Err(Error::ContainerNotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.containers.remove(&rec.id, true, true).await {
            Ok(()) | Err(Error::ContainerNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// ExecSync: runs `cmd`, collects its output (capped), kills it at the deadline.
    pub async fn exec_sync(&self, id: &str, cmd: Vec<String>, timeout: i64) -> Result<ExecOutput> {
        let rec = self.pod_container(id)?;
        let cfg = ExecConfig {
            cmd,
            ..Default::default()
        };
        let (attach, session) = self.containers.exec(&rec.id, cfg).await?;
        drop(attach.input);
        let mut out = ExecOutput::default();
        let mut output = attach.output;
        let collect = async {
            while let Some(Ok(chunk)) = output.next().await {
                let buf = match Stream::try_from(chunk.stream) {
                    Ok(Stream::Stderr) => &mut out.stderr,
                    _ => &mut out.stdout,
                };
                let room = MAX_EXEC_OUTPUT.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk.data[..chunk.data.len().min(room)]);
            }
        };
        let deadline = (timeout > 0).then(|| Duration::from_secs(timeout as u64));
        match deadline {
            Some(d) => {
                if tokio::time::timeout(d, collect).await.is_err() {
                    session.kill().await;
                    return Err(Error::DeadlineExceeded(format!(
                        "command timed out after {timeout}s"
                    )));
                }
            }
            None => collect.await,
        }
        out.exit_code = session.finish().await?;
        Ok(out)
    }

    /// ReopenContainerLog: the shim starts a new file at the log path.
    pub async fn reopen_log(&self, id: &str) -> Result<()> {
        let rec = self.pod_container(id)?;
        if rec.state != State::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        self.containers.shim_of(&rec).await?.reopen_log().await
    }
}
