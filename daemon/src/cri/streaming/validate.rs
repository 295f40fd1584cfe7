//! The Exec, Attach and PortForward RPCs: the request is checked now (so a bad one fails
//! the RPC with its code, not the later HTTP upgrade), then cached behind a URL.

use k8s_cri::v1 as cri;

use super::Request;
use crate::containers::State;
use crate::cri::sandbox::SandboxState;
use crate::cri::Cri;
use crate::error::{Error, Result};

impl Cri {
    pub fn stream_exec(&self, r: cri::ExecRequest) -> Result<String> {
        if r.cmd.is_empty() {
            return Err(Error::InvalidArgument("cmd must not be empty".into()));
        }
        self.check_stdio(&r.container_id, r.stdin, r.stdout, r.stderr, r.tty)?;
        Ok(self.streaming.url(Request::Exec(r))?)
    }

    pub fn stream_attach(&self, r: cri::AttachRequest) -> Result<String> {
        self.check_stdio(&r.container_id, r.stdin, r.stdout, r.stderr, r.tty)?;
        Ok(self.streaming.url(Request::Attach(r))?)
    }

    pub fn stream_port_forward(&self, r: cri::PortForwardRequest) -> Result<String> {
        let sb = self.sandboxes.get(&r.pod_sandbox_id)?;
        if sb.state != SandboxState::Ready {
            let msg = format!("pod sandbox {} is not ready", sb.id);
            return Err(Error::Conflict(msg));
        }
        Ok(self.streaming.url(Request::PortForward(r))?)
    }

    /// The kubelet's own checks (one stream at least; a terminal has no stderr), and a
    /// running container of a pod.
    fn check_stdio(&self, id: &str, i: bool, o: bool, e: bool, tty: bool) -> Result<()> {
        if !(i || o || e) {
            let msg = "one of stdin, stdout, or stderr must be set";
            return Err(Error::InvalidArgument(msg.into()));
        }
        if tty && e {
            let msg = "tty and stderr cannot both be true";
            return Err(Error::InvalidArgument(msg.into()));
        }
        let rec = self.pod_container(id)?;
        if rec.state != State::Running {
            let msg = format!("container {} is not running", rec.id);
            return Err(Error::Conflict(msg));
        }
        Ok(())
    }
}
