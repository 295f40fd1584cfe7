//! Port-forward (`portforward.k8s.io`): per forwarded connection the client opens an error
//! and a data stream with the same `port` and `requestID` headers; once both are here we
//! connect to 127.0.0.1:PORT inside the pod's network namespace and copy both ways. The
//! connect runs on a throwaway std thread, since `setns` changes the calling thread for
//! good; the socket keeps the namespace it was made in and is then handed to tokio.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcp};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::channel::Outlet;
use super::spdy::{Conn, Incoming};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One half of a forwarding request, waiting for its partner.
#[derive(Debug, Default)]
struct Pair {
    error: Option<Incoming>,
    data: Option<Incoming>,
}

/// Serves a port-forward connection until the client leaves. `netns`: the pod's network
/// namespace (None: the host's, for a host-network pod).
pub async fn serve(mut conn: Conn, pod: String, netns: Option<PathBuf>) {
    let mut pending: HashMap<String, Pair> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let s = tokio::select! {
            s = conn.streams.recv() => s,
            () = conn.gone.cancelled() => None,
        };
        let Some(s) = s else { break };
        let Some((id, pair)) = file(&mut pending, s) else {
            continue;
        };
        pending.remove(&id);
        if let (Some(error), Some(data)) = (pair.error, pair.data) {
            let ctx = (pod.clone(), netns.clone(), conn.writer.clone());
            tasks.spawn(forward(ctx, error, data));
        }
    }
    // Dropping the set aborts the copies: their sockets close with them.
    drop(tasks);
    conn.finish().await;
}

/// Files a stream under its request; the request when it is complete.
fn file(pending: &mut HashMap<String, Pair>, s: Incoming) -> Option<(String, Pair)> {
    let kind = s.headers.get("streamtype").unwrap_or_default().to_string();
    let id = match s.headers.get("requestid") {
        Some(id) => id.to_string(),
        // Clients before Kubernetes 1.6 send no requestID: the data stream follows its
        // error stream, two IDs on.
        None if kind == "data" => s.id.saturating_sub(2).to_string(),
        None => s.id.to_string(),
    };
    let pair = pending.entry(id.clone()).or_default();
    match kind.as_str() {
        "error" => pair.error = Some(s),
        "data" => pair.data = Some(s),
        _ => return None, // an unknown stream type is ignored (its receiver drops)
    }
    let done = pair.error.is_some() && pair.data.is_some();
    done.then(|| (id.clone(), std::mem::take(pair)))
}

type Ctx = (
    String,
    Option<PathBuf>,
    tokio::sync::mpsc::Sender<super::channel::WriteOp>,
);

async fn forward((pod, netns, writer): Ctx, error: Incoming, data: Incoming) {
    let err_out = Outlet::new(error.id, writer.clone());
    let data_out = Outlet::new(data.id, writer);
    let port = data.headers.get("port").unwrap_or_default().to_string();
    let res = match parse_port(&port) {
        Some(p) => connect(netns.as_deref(), p).await,
        None => Err(std::io::Error::other(format!("invalid port {port:?}"))),
    };
    match res {
        Ok(sock) => copy(sock, data, &data_out).await,
        Err(e) => {
            let msg = format!("error forwarding port {port} to pod {pod}: {e}");
            err_out.write(msg.as_bytes()).await;
            data_out.close().await;
        }
    }
    err_out.close().await;
}

/// A TCP port: a number from 1 to 65535 (anything else is the client's mistake).
pub fn parse_port(s: &str) -> Option<u16> {
    s.trim().parse::<u16>().ok().filter(|p| *p != 0)
}

async fn copy(sock: TcpStream, mut data: Incoming, out: &Outlet) {
    let (mut rd, mut wr) = sock.into_split();
    let to_pod = async {
        while let Some(b) = data.data.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        // The client ended its half: so do we, towards the pod.
        let _ = wr.shutdown().await;
    };
    let from_pod = async {
        let mut buf = vec![0u8; super::channel::CHUNK];
        while let Ok(n @ 1..) = rd.read(&mut buf).await {
            if !out.write(&buf[..n]).await {
                break;
            }
        }
        out.close().await;
    };
    tokio::join!(to_pod, from_pod);
}

/// Connects to 127.0.0.1:`port`, in `netns` when given.
pub async fn connect(netns: Option<&Path>, port: u16) -> std::io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Some(ns) = netns else {
        return tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?;
    };
    let ns = ns.to_path_buf();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("ferry-portforward".into())
        .spawn(move || {
            let _ = tx.send(connect_in(&ns, addr));
        })?;
    let sock = rx
        .await
        .map_err(|_| std::io::Error::other("the connecting thread died"))??;
    TcpStream::from_std(sock)
}

/// Runs on its own thread, which it leaves in the pod's namespace (and then ends).
fn connect_in(ns: &Path, addr: SocketAddr) -> std::io::Result<StdTcp> {
    let f = std::fs::File::open(ns)?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
    let sock = StdTcp::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_numbers_from_1_to_65535() {
        assert_eq!(parse_port("80"), Some(80));
        assert_eq!(parse_port("65535"), Some(65535));
        for bad in ["0", "65536", "-1", "http", ""] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_host_connect_reaches_a_loopback_listener() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (c, a) = tokio::join!(connect(None, port), l.accept());
        assert!(c.is_ok() && a.is_ok());
    }
}
