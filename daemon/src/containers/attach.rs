//! Attaching to a container's stdio through its shim. An attach to a container that has not
//! started yet waits, and is registered with the shim between the runtime's create and start,
//! so not a byte of output is missed (that is how `run` without `-d` works).

use std::sync::Arc;

use super::manager::Containers;
use super::record::State;
use crate::error::{Error, Result};
use crate::shim::{Shim, ShimAttach};

/// An attach that is connected, or waiting for the container to start.
#[derive(Debug)]
pub enum PendingAttach {
    Ready(Box<ShimAttach>),
    Waiting(tokio::sync::oneshot::Receiver<Result<ShimAttach>>),
}

impl PendingAttach {
    pub async fn ready(self) -> Result<ShimAttach> {
        match self {
            PendingAttach::Ready(a) => Ok(*a),
            PendingAttach::Waiting(rx) => rx.await.map_err(|_| {
                Error::Conflict("the container was removed before it started".into())
            })?,
        }
    }
}

impl Containers {
    /// Attaches to the container's main process. For a container that has not started, the
    /// attach is registered now (so the start that follows cannot miss it) and completes when
    /// the process is about to run.
    pub async fn attach(self: &Arc<Self>, query: &str) -> Result<PendingAttach> {
        let rec = self.get(query)?;
        let _g = self.lock(&rec.id).await;
        let rec = self.get(&rec.id)?;
        match rec.state {
            State::Running | State::Paused => {
                let attach = self.shim(&rec).await?.attach("").await?;
                Ok(PendingAttach::Ready(Box::new(attach)))
            }
            State::Created | State::Exited | State::Restarting => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let mut waiters = self
                    .attach_waiters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                waiters.entry(rec.id.clone()).or_default().push(tx);
                Ok(PendingAttach::Waiting(rx))
            }
            State::Dead => Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            )),
        }
    }

    /// Called between the shim's create and start: connects every waiting attacher.
    pub(crate) async fn hand_out_attaches(&self, id: &str, client: &Shim) {
        for w in self.take_attach_waiters(id) {
            let _ = w.send(client.attach("").await);
        }
    }

    pub(crate) fn fail_attaches(&self, id: &str, msg: &str) {
        for w in self.take_attach_waiters(id) {
            let message = msg.to_string();
            let _ = w.send(Err(Error::StartFailed {
                id: id.to_string(),
                message,
            }));
        }
    }

    fn take_attach_waiters(&self, id: &str) -> Vec<super::manager::AttachReady> {
        let mut waiters = self
            .attach_waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        waiters.remove(id).unwrap_or_default()
    }
}
