//! Attaching to a container's stdio through its shim. An attach to a container that has not
//! started yet waits, and is registered with the shim between the runtime's create and start,
//! so not a byte of output is missed (that is how `run` without `-d` works).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// Attachers waiting for a created container to start: each gets the shim's output stream and
/// a sender for its input, registered with the shim before the process starts.
type AttachReady = tokio::sync::oneshot::Sender<Result<ShimAttach>>;

/// The attachers parked per container until its next start.
#[derive(Debug, Default)]
pub(crate) struct AttachWaiters(Mutex<HashMap<String, Vec<AttachReady>>>);

impl AttachWaiters {
    fn park(&self, id: &str) -> tokio::sync::oneshot::Receiver<Result<ShimAttach>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(id.to_string()).or_default().push(tx);
        rx
    }

    fn take(&self, id: &str) -> Vec<AttachReady> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(id).unwrap_or_default()
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
                Ok(PendingAttach::Waiting(self.attach_waiters.park(&rec.id)))
            }
            State::Dead => Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            )),
        }
    }

    /// Called between the shim's create and start: connects every waiting attacher.
    pub(crate) async fn hand_out_attaches(&self, id: &str, client: &Shim) {
        for w in self.attach_waiters.take(id) {
            let _ = w.send(client.attach("").await);
        }
    }

    pub(crate) fn fail_attaches(&self, id: &str, msg: &str) {
        for w in self.attach_waiters.take(id) {
            let message = msg.to_string();
            let _ = w.send(Err(Error::StartFailed {
                id: id.to_string(),
                message,
            }));
        }
    }
}
