//! From an upgraded connection to a running session: SPDY streams are gathered by their
//! `streamType` header into `remotecommand::Channels` (waiting at most
//! [`STREAM_CREATION_TIMEOUT`] for the ones the request asked for), or handed to
//! port-forward.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::channel::{Outlet, WriteOp};
use super::protocol::{self, Version};
use super::remotecommand::{self, Channels, Target, Wanted};
use super::spdy::{frame, Conn};
use super::{portforward, Request};
use crate::cri::Cri;

/// How long a client has to open the streams it asked for (the kubelet's default).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn spdy<IO>(cri: Arc<Cri>, r: Request, io: IO, proto: Option<&'static str>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let conn = Conn::start(io);
    let version = Version::of(proto.unwrap_or(protocol::V1));
    let target = match r {
        Request::PortForward(pf) => {
            let netns = pod_netns(&cri, &pf.pod_sandbox_id);
            return portforward::serve(conn, pf.pod_sandbox_id, netns).await;
        }
        Request::Exec(e) => Target::Exec(e),
        Request::Attach(a) => Target::Attach(a),
    };
    remote(cri, target, conn, version).await;
}

/// The pod's network namespace; None for a host-network pod (or one gone since).
pub fn pod_netns(cri: &Cri, id: &str) -> Option<PathBuf> {
    let sb = cri.sandboxes.get(id).ok()?;
    if sb.host_network() {
        return None;
    }
    sb.namespaces
        .iter()
        .find(|(k, _)| k == "network")
        .map(|(_, p)| p.clone())
}

async fn remote(cri: Arc<Cri>, target: Target, mut conn: Conn, version: Version) {
    let wanted = target.wanted();
    match tokio::time::timeout(STREAM_CREATION_TIMEOUT, gather(&mut conn, wanted, version)).await {
        Ok(Some(ch)) => remotecommand::run(&cri, target, ch).await,
        Ok(None) => {}
        Err(_) => tracing::debug!("streaming client did not open its streams in time"),
    }
    conn.finish().await;
}

/// Takes the client's streams until every one `wanted` is here; None if it leaves first.
async fn gather(conn: &mut Conn, w: Wanted, version: Version) -> Option<Channels> {
    let mut ch = Channels {
        version,
        stdin: None,
        resize: None,
        stdout: None,
        stderr: None,
        error: None,
        inputs: Vec::new(),
        gone: conn.gone.clone(),
    };
    while !complete(&ch, w) {
        let s = tokio::select! {
            s = conn.streams.recv() => s?,
            () = conn.gone.cancelled() => return None,
        };
        let out = Outlet::new(s.id, conn.writer.clone());
        match s.headers.get("streamtype").unwrap_or_default() {
            "error" => ch.error = Some(out),
            "stdin" if w.stdin => {
                ch.stdin = Some(s.data);
                ch.inputs.push(out);
            }
            "stdout" if w.stdout => ch.stdout = Some(out),
            "stderr" if w.stderr => ch.stderr = Some(out),
            "resize" if w.tty => {
                ch.resize = Some(s.data);
                ch.inputs.push(out);
            }
            _ => {
                let status = frame::RST_REFUSED_STREAM;
                let _ = conn
                    .writer
                    .send(WriteOp::Reset {
                        stream: s.id,
                        status,
                    })
                    .await;
            }
        }
    }
    Some(ch)
}

/// Every stream the request asked for is open (resize is optional: v1/v2 have none).
fn complete(ch: &Channels, w: Wanted) -> bool {
    ch.error.is_some()
        && (!w.stdin || ch.stdin.is_some())
        && (!w.stdout || ch.stdout.is_some())
        && (!w.stderr || ch.stderr.is_some())
        && (!(w.tty && ch.version.resize) || ch.resize.is_some())
}
