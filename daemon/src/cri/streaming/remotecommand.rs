//! Exec and attach, whatever the transport: the client's stdin and resize bytes go to the
//! shim's attach input, the process's output to the stdout/stderr outlets, and the outcome
//! to the error stream. An exec whose client goes away mid-stream is killed (no process is
//! left behind for nobody); an attach just detaches.

use bytes::Bytes;
use ferry_proto::shim::v1::attach_input::Input;
use ferry_proto::shim::v1::attach_output::Stream;
use ferry_proto::shim::v1::{AttachInput, AttachOutput, Resize};
use k8s_cri::v1 as cri;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use super::channel::Outlet;
use super::protocol::Version;
use super::status::{self, Outcome};
use crate::containers::exec::ExecConfig;
use crate::cri::Cri;
use crate::shim::ShimAttach;

/// An exec or attach the client has connected to.
#[derive(Debug, Clone)]
pub enum Target {
    Exec(cri::ExecRequest),
    Attach(cri::AttachRequest),
}

/// Which streams a session has (from the RPC's request, not the client's say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Target {
    pub fn wanted(&self) -> Wanted {
        let (stdin, stdout, stderr, tty) = match self {
            Target::Exec(r) => (r.stdin, r.stdout, r.stderr, r.tty),
            Target::Attach(r) => (r.stdin, r.stdout, r.stderr, r.tty),
        };
        Wanted {
            stdin,
            stdout,
            // A terminal has one output stream.
            stderr: stderr && !tty,
            tty,
        }
    }
}

/// A connected session's streams.
#[derive(Debug)]
pub struct Channels {
    pub version: Version,
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    pub resize: Option<mpsc::Receiver<Bytes>>,
    pub stdout: Option<Outlet>,
    pub stderr: Option<Outlet>,
    pub error: Option<Outlet>,
    /// Our halves of the client's input streams, closed at the end as upstream does.
    pub inputs: Vec<Outlet>,
    pub gone: CancellationToken,
}

/// Runs the session to its end and reports the outcome on the error stream.
pub async fn run(cri: &Cri, target: Target, mut ch: Channels) {
    let outcome = match target {
        Target::Exec(r) => exec(cri, r, &mut ch).await,
        Target::Attach(r) => attach(cri, r, &mut ch).await,
    };
    let Some(outcome) = outcome else {
        return; // the client is gone: there is no one to tell
    };
    for o in ch
        .stdout
        .iter()
        .chain(ch.stderr.iter())
        .chain(ch.inputs.iter())
    {
        o.close().await;
    }
    if let Some(e) = &ch.error {
        let msg = status::encode(&outcome, ch.version.json_status);
        if !msg.is_empty() {
            e.write(&msg).await;
        }
        e.close().await;
    }
}

/// None when the client went away (the process was killed).
async fn exec(cri: &Cri, r: cri::ExecRequest, ch: &mut Channels) -> Option<Outcome> {
    let cfg = ExecConfig {
        cmd: r.cmd,
        tty: r.tty,
        stdin: r.stdin,
        ..Default::default()
    };
    let (attach, session) = match cri.containers.exec(&r.container_id, cfg).await {
        Ok(x) => x,
        Err(e) => return Some(Outcome::Failed(e.to_string())),
    };
    let finished = pump(attach, ch, true).await;
    if !finished {
        session.kill().await;
        return None;
    }
    Some(match session.finish().await {
        Ok(code) => Outcome::Exited(code),
        Err(e) => Outcome::Failed(e.to_string()),
    })
}

async fn attach(cri: &Cri, r: cri::AttachRequest, ch: &mut Channels) -> Option<Outcome> {
    let rec = match cri.pod_container(&r.container_id) {
        Ok(rec) => rec,
        Err(e) => return Some(Outcome::Failed(e.to_string())),
    };
    // The kubelet's StdinOnce: the container's stdin closes with the first attach's.
    let once = rec.config.pod.as_ref().is_some_and(|p| p.stdin_once);
    let pending = cri.containers.attach(&rec.id).await;
    let attach = match pending {
        Ok(p) => p.ready().await,
        Err(e) => Err(e),
    };
    let attach = match attach {
        Ok(a) => a,
        Err(e) => return Some(Outcome::Failed(e.to_string())),
    };
    let finished = pump(attach, ch, once).await;
    finished.then_some(Outcome::Exited(0))
}

/// Connects the process to the client until its output ends (true) or the client goes.
async fn pump(attach: ShimAttach, ch: &mut Channels, close_stdin: bool) -> bool {
    let (stdin, resize) = (ch.stdin.take(), ch.resize.take());
    let input = tokio::spawn(pump_input(stdin, resize, attach.input, close_stdin));
    let output = pump_output(attach.output, ch.stdout.as_ref(), ch.stderr.as_ref());
    let finished = tokio::select! {
        () = output => true,
        () = ch.gone.cancelled() => false,
    };
    input.abort();
    finished
}

/// Copies the process's output until it ends (or the connection does).
async fn pump_output(
    mut out: tonic::Streaming<AttachOutput>,
    stdout: Option<&Outlet>,
    stderr: Option<&Outlet>,
) {
    while let Some(Ok(chunk)) = out.next().await {
        let dest = match Stream::try_from(chunk.stream) {
            Ok(Stream::Stderr) => stderr,
            _ => stdout,
        };
        if let Some(o) = dest {
            if !o.write(&chunk.data).await {
                return;
            }
        }
    }
}

/// The client's stdin (closing the process's when the client ends it and `close` says so)
/// and its terminal sizes, to the shim.
async fn pump_input(
    stdin: Option<mpsc::Receiver<Bytes>>,
    resize: Option<mpsc::Receiver<Bytes>>,
    tx: mpsc::Sender<AttachInput>,
    close: bool,
) {
    let send = |input: Input| {
        let tx = tx.clone();
        async move {
            let msg = AttachInput {
                input: Some(input),
                ..Default::default()
            };
            tx.send(msg).await.is_ok()
        }
    };
    let stdin = async {
        let Some(mut rx) = stdin else { return };
        while let Some(d) = rx.recv().await {
            if !send(Input::Stdin(d.to_vec())).await {
                return;
            }
        }
        if close {
            send(Input::CloseStdin(true)).await;
        }
    };
    let sizes = async {
        let Some(mut rx) = resize else { return };
        let mut buf = Vec::new();
        while let Some(d) = rx.recv().await {
            buf.extend_from_slice(&d);
            for (rows, cols) in take_sizes(&mut buf) {
                send(Input::Resize(Resize { rows, cols })).await;
            }
        }
    };
    tokio::join!(stdin, sizes);
}

/// `{"Width":80,"Height":24}` messages, back to back or newline-separated (Go's json
/// Encoder), possibly split across frames: the complete ones as (rows, cols), the partial
/// tail kept. Garbage is dropped rather than fatal: a bad resize must not end a session.
pub fn take_sizes(buf: &mut Vec<u8>) -> Vec<(u32, u32)> {
    #[derive(serde::Deserialize)]
    struct Size {
        #[serde(rename = "Width")]
        width: u32,
        #[serde(rename = "Height")]
        height: u32,
    }
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    let used = loop {
        match it.next() {
            Some(Ok(s)) => out.push((s.height, s.width)),
            Some(Err(e)) if e.is_eof() && buf.len() < 4096 => break it.byte_offset(),
            Some(Err(_)) => break buf.len(),
            None => break it.byte_offset(),
        }
    };
    buf.drain(..used);
    out
}

#[cfg(test)]
mod tests {
    use super::take_sizes;

    #[test]
    fn sizes_are_read_across_frames_and_garbage_is_dropped() {
        let mut buf = b"{\"Width\":80,\"Height\":24}\n{\"Width\":1".to_vec();
        assert_eq!(take_sizes(&mut buf), vec![(24, 80)]);
        buf.extend_from_slice(b"00,\"Height\":50}");
        assert_eq!(take_sizes(&mut buf), vec![(50, 100)]);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"not json at all");
        assert_eq!(take_sizes(&mut buf), vec![]);
        assert!(buf.is_empty());
    }
}
