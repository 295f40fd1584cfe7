//! The CRI streaming server: Exec, Attach and PortForward RPCs store their request under a
//! single-use token (`tokens`) and answer a URL on this server; the client (kubelet, crictl,
//! critest) then upgrades an HTTP connection there to SPDY/3.1 or a WebSocket.
//!
//! ```text
//! http            routes /exec|attach|portforward/TOKEN, negotiates, upgrades
//! protocol        X-Stream-Protocol-Version / Sec-WebSocket-Protocol negotiation
//! spdy/           frames, zlib header blocks, the server connection
//! ws              the WebSocket channel protocols (v4, v5, base64) and SPDY tunnelled in one
//! session         a transport's streams → `remotecommand::Channels`, or port-forward pairs
//! remotecommand   exec and attach on the shim, whatever the transport
//! portforward     data/error stream pairs → TCP in the pod's network namespace
//! status          the error stream's metav1.Status
//! channel         what sessions write (outlets) and the connection writer's ops
//! ```
//! Invariant: nothing a client sends can panic or park a task forever: every wait has the
//! connection's `gone` token or a deadline beside it.

pub mod channel;
pub mod http;
pub mod portforward;
pub mod protocol;
pub mod remotecommand;
pub mod session;
pub mod spdy;
pub mod status;
pub mod tokens;
mod validate;
pub mod ws;

use std::net::SocketAddr;
use std::sync::OnceLock;

use k8s_cri::v1 as cri;

use tokens::RequestCache;

/// A request waiting for its client.
#[derive(Debug, Clone)]
pub enum Request {
    Exec(cri::ExecRequest),
    Attach(cri::AttachRequest),
    PortForward(cri::PortForwardRequest),
}

impl Request {
    /// The URL path segment this request is served under.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Exec(_) => "exec",
            Request::Attach(_) => "attach",
            Request::PortForward(_) => "portforward",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the streaming server is not serving (ferryd runs with --stream-address none?)")]
    NotServing,
    #[error("too many streaming requests in flight ({0})")]
    TooManyRequests(usize),
}

/// The request cache and the address URLs point at (known once the server is bound).
#[derive(Debug, Default)]
pub struct Streaming {
    cache: RequestCache<Request>,
    base: OnceLock<String>,
}

impl Streaming {
    /// Called once the listener is bound.
    pub fn set_address(&self, addr: SocketAddr) {
        let _ = self.base.set(format!("http://{addr}"));
    }

    /// Stores `req` and returns the absolute URL its client must use.
    pub fn url(&self, req: Request) -> Result<String, StreamError> {
        let base = self.base.get().ok_or(StreamError::NotServing)?;
        let kind = req.kind();
        let token = self
            .cache
            .insert(req)
            .ok_or(StreamError::TooManyRequests(tokens::MAX_IN_FLIGHT))?;
        Ok(format!("{base}/{kind}/{token}"))
    }

    /// The request behind `token`, once.
    pub fn take(&self, token: &str) -> Option<Request> {
        self.cache.consume(token)
    }
}
