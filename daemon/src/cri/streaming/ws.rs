//! WebSockets (tokio-tungstenite). Exec and attach speak the channel protocols: every
//! binary message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize),
//! v5 adds `[255, channel]` for "the client closed this stream", and the base64 variants
//! send text messages with the channel as an ASCII digit. Port-forward speaks SPDY tunnelled
//! in binary messages (`SPDY/3.1+portforward.k8s.io`): the bytes go through a pipe to the
//! same SPDY server as a plain upgrade.
//!
//! The session ends with a Close frame (1000): that is the client's EOF on every channel,
//! the error channel included.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{header, Request as HttpRequest, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming as Body;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::channel::{Outlet, WriteOp, CHUNK};
use super::http::Reply;
use super::protocol::{self, negotiate, Version};
use super::remotecommand::{self, Channels, Target};
use super::{session, Request};
use crate::cri::Cri;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: `[CLOSE, channel]` ends that channel's input.
const CLOSE: u8 = 255;

pub fn is_websocket<B>(req: &HttpRequest<B>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers the handshake (101 with the accept key and the chosen sub-protocol) and runs
/// the session on the upgraded connection.
pub fn accept(
    mut req: HttpRequest<Body>,
    r: Request,
    cri: Arc<Cri>,
) -> Result<Reply, (StatusCode, String)> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_string());
    let key = req
        .headers()
        .get("sec-websocket-key")
        .ok_or_else(|| bad("missing Sec-WebSocket-Key"))?;
    let accept = derive_accept_key(key.as_bytes());
    let ours = match r {
        Request::PortForward(_) => protocol::WS_PORTFORWARD,
        _ => protocol::WS_REMOTECOMMAND,
    };
    let offered = req.headers().get_all("sec-websocket-protocol");
    let offered = offered.iter().filter_map(|v| v.to_str().ok());
    let chosen = negotiate(offered, ours).map_err(|_| {
        bad(&format!(
            "no common sub-protocol; this server speaks {ours:?}"
        ))
    })?;
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(up) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, None).await;
                run(cri, r, ws, chosen).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade"),
        }
    });
    let mut resp = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header("Sec-WebSocket-Accept", accept);
    if let Some(p) = chosen {
        resp = resp.header("Sec-WebSocket-Protocol", p);
    }
    resp.body(Full::default())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn run<S>(cri: Arc<Cri>, r: Request, ws: WebSocketStream<S>, chosen: Option<&'static str>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = match r {
        Request::PortForward(pf) => return tunnel(cri, Request::PortForward(pf), ws).await,
        Request::Exec(e) => Target::Exec(e),
        Request::Attach(a) => Target::Attach(a),
    };
    remote(cri, target, ws, Version::of(chosen.unwrap_or(protocol::V1))).await;
}

/// SPDY in binary messages: a pipe joins the WebSocket to the SPDY port-forward server.
async fn tunnel<S>(cri: Arc<Cri>, r: Request, ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 << 10);
    let spdy = tokio::spawn(session::spdy(cri, r, ours, Some(protocol::PORTFORWARD)));
    let (mut rd, mut wr) = tokio::io::split(theirs);
    let (mut sink, mut stream) = ws.split();
    let up = async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if wr.write_all(&b).await.is_ok() => {}
                Message::Binary(_) | Message::Close(_) => break,
                _ => {}
            }
        }
        // The client is gone: EOF to the SPDY side, which then ends its session.
        let _ = wr.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; CHUNK];
        while let Ok(n @ 1..) = rd.read(&mut buf).await {
            let msg = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
            if sink.send(msg).await.is_err() {
                return;
            }
        }
        let _ = sink.send(normal_close()).await;
    };
    tokio::join!(up, down);
    spdy.abort();
}

fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

async fn remote<S>(cri: Arc<Cri>, target: Target, ws: WebSocketStream<S>, version: Version)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let w = target.wanted();
    let (sink, stream) = ws.split();
    let (writer, ops) = mpsc::channel(64);
    let gone = CancellationToken::new();
    let (stdin_tx, stdin) = pipe(w.stdin);
    let (resize_tx, resize) = pipe(w.tty);
    let outlet = |c: u8, on: bool| on.then(|| Outlet::new(u32::from(c), writer.clone()));
    let ch = Channels {
        version,
        stdin,
        resize,
        stdout: outlet(STDOUT, w.stdout),
        stderr: outlet(STDERR, w.stderr),
        error: outlet(ERROR, true),
        inputs: Vec::new(),
        gone: gone.clone(),
    };
    let inputs = Inputs {
        stdin: stdin_tx,
        resize: resize_tx,
    };
    let reader = tokio::spawn(read_loop(stream, inputs, version, gone.clone()));
    let write_task = tokio::spawn(write_loop(sink, ops, version, gone));
    remotecommand::run(&cri, target, ch).await;
    let _ = writer.send(WriteOp::Close).await;
    drop(writer);
    let _ = tokio::time::timeout(Duration::from_secs(5), write_task).await;
    reader.abort();
}

type Pipe = (Option<mpsc::Sender<Bytes>>, Option<mpsc::Receiver<Bytes>>);

fn pipe(on: bool) -> Pipe {
    if !on {
        return (None, None);
    }
    let (tx, rx) = mpsc::channel(16);
    (Some(tx), Some(rx))
}

/// Where the client's channels go; dropping a sender is that input's EOF.
struct Inputs {
    stdin: Option<mpsc::Sender<Bytes>>,
    resize: Option<mpsc::Sender<Bytes>>,
}

async fn read_loop<St>(mut stream: St, mut to: Inputs, v: Version, gone: CancellationToken)
where
    St: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(Ok(m)) = stream.next().await {
        let (channel, data) = match m {
            Message::Binary(b) if !b.is_empty() => (b[0], b.slice(1..)),
            Message::Text(t) if v.base64 => match decode_text(t.as_str()) {
                Some(x) => x,
                None => continue,
            },
            Message::Close(_) => break,
            _ => continue,
        };
        let dest = match channel {
            STDIN => &mut to.stdin,
            RESIZE => &mut to.resize,
            CLOSE if v.close_signal => {
                match data.first() {
                    Some(&STDIN) => to.stdin = None,
                    Some(&RESIZE) => to.resize = None,
                    _ => {}
                }
                continue;
            }
            _ => continue, // output channels are ours; anything else is noise
        };
        if let Some(tx) = dest {
            if tx.send(data).await.is_err() {
                *dest = None;
            }
        }
    }
    gone.cancel();
}

/// A base64 text message: `'0' + channel` then the payload in base64.
fn decode_text(t: &str) -> Option<(u8, Bytes)> {
    let (&c, rest) = t.as_bytes().split_first()?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()?;
    Some((c.checked_sub(b'0')?, Bytes::from(data)))
}

async fn write_loop<Si>(
    mut sink: Si,
    mut ops: mpsc::Receiver<WriteOp>,
    v: Version,
    gone: CancellationToken,
) where
    Si: futures::Sink<Message> + Unpin,
{
    while let Some(op) = ops.recv().await {
        let msg = match op {
            WriteOp::Data { stream, data, .. } if !data.is_empty() => encode(stream, &data, v),
            WriteOp::Close => {
                let _ = sink.send(normal_close()).await;
                return;
            }
            _ => continue, // SPDY-only ops; a stream's end needs no message
        };
        if sink.send(msg).await.is_err() {
            gone.cancel();
            return;
        }
    }
}

pub fn encode(channel: u32, data: &[u8], v: Version) -> Message {
    let c = u8::try_from(channel).unwrap_or(ERROR);
    if v.base64 {
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        return Message::Text(format!("{}{b64}", char::from(b'0' + c)).into());
    }
    let mut b = Vec::with_capacity(data.len() + 1);
    b.push(c);
    b.extend_from_slice(data);
    Message::Binary(Bytes::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_channel_first() {
        let v4 = Version::of(protocol::V4);
        assert_eq!(
            encode(1, b"hi", v4),
            Message::Binary(Bytes::from_static(b"\x01hi"))
        );
        let b64 = Version::of(protocol::V4_BASE64);
        let Message::Text(t) = encode(2, b"hi", b64) else {
            panic!("base64 is text")
        };
        assert_eq!(t.as_str(), "2aGk=");
        assert_eq!(decode_text("0aGk="), Some((0, Bytes::from_static(b"hi"))));
        assert_eq!(decode_text("0!!"), None);
        assert_eq!(decode_text(""), None);
    }
}
