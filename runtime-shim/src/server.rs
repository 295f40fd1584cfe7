//! The shim's socket: a unix socket at a filesystem path (never the abstract namespace, which
//! any process sharing the network namespace could reach — CVE-2020-15257), mode 0600 in a
//! 0700 directory, and a peer check on every connection: SO_PEERCRED uid must be 0 or the
//! shim's own uid, or the connection is closed before gRPC sees it.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::process::Shim;
use crate::service::ShimService;

/// How long in-flight calls (Wait, Attach) get after Shutdown before the shim exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// May a peer with `uid` talk to a shim running as `own`?
pub fn peer_allowed(uid: u32, own: u32) -> bool {
    uid == 0 || uid == own
}

/// Bind the socket, replacing a stale socket file (one nobody listens on).
pub fn bind(path: &Path) -> Result<UnixListener> {
    if path.as_os_str().as_encoded_bytes().first() == Some(&b'@') || !path.is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "socket {} must be an absolute filesystem path",
            path.display()
        )));
    }
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(Error::io("create socket dir", dir))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::WrongState(format!(
                "{} is in use by a live shim",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(Error::io("remove stale socket", path))?;
    }
    let l = UnixListener::bind(path).map_err(Error::io("bind", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(Error::io("chmod", path))?;
    Ok(l)
}

/// Accept connections from allowed peers only.
fn incoming(listener: UnixListener) -> impl futures::Stream<Item = std::io::Result<UnixStream>> {
    let own = nix::unistd::geteuid().as_raw();
    futures::stream::unfold(listener, move |l| async move {
        loop {
            match l.accept().await {
                Ok((s, _)) => match s.peer_cred() {
                    Ok(c) if peer_allowed(c.uid(), own) => return Some((Ok(s), l)),
                    Ok(c) => {
                        tracing::warn!(uid = c.uid(), pid = ?c.pid(), "refused peer: wrong uid")
                    }
                    Err(e) => tracing::warn!(error = %e, "refused peer: no credentials"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serve until Shutdown is accepted.
pub async fn serve(shim: Arc<Shim>, listener: UnixListener) -> Result<()> {
    let stop = shim.shutdown_signal();
    let svc = ferry_proto::shim::v1::shim_server::ShimServer::new(ShimService::new(shim));
    let server = tonic::transport::Server::builder()
        .layer(ferry_telemetry::ServerLayer)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming(listener), stopped(stop.clone()));
    tokio::select! {
        r = server => r.map_err(|e| Error::io("serve", "grpc")(std::io::Error::other(e)))?,
        _ = async {
            stopped(stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("calls still open at shutdown; leaving anyway"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers() {
        assert!(peer_allowed(0, 1000));
        assert!(peer_allowed(1000, 1000));
        assert!(!peer_allowed(1001, 1000));
        assert!(!peer_allowed(65534, 0));
    }

    #[test]
    fn abstract_and_relative_sockets_are_refused() {
        assert!(matches!(
            bind(Path::new("@shim")),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            bind(Path::new("rel.sock")),
            Err(Error::InvalidArgument(_))
        ));
    }
}
