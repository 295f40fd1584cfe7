//! A process's stdio as the shim holds it: either three pipes (stdin only with `-i`) or a pty
//! master. Output is read by one pump task per stream and fanned out to the logs ([`Logs`]: the
//! json-file log and, under kubelet, the CRI log; init only, since neither Docker nor the CRI
//! logs exec output), both fed by the stream's one line splitter so they agree line for line,
//! and to every attached client (a broadcast channel: a client that falls too far behind loses
//! output, the logs never do). Stdin from any attached client goes through one writer task, so
//! writes never interleave mid-message.
//!
//! Lifecycle: `ProcessIo` is built after the runtime has created the process; the pumps end at
//! EOF (all writers of the pipes or the pty slave closed); then `done()` turns true and
//! attached streams get [`Output::Eof`].

pub mod cri;
pub mod logs;
pub mod pty;

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Utc;
use nix::fcntl::OFlag;
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, mpsc, watch};

use crate::error::{Error, Result};
use cri::CriLog;
use logs::{JsonLog, LineSplitter};
use pty::Master;

/// Attached clients may lag this many chunks before losing output.
const FANOUT_CAPACITY: usize = 256;
/// Read size of the pumps (conmon's too): two of these live per process, so they are a
/// visible part of the shim's footprint.
const CHUNK: usize = 8 * 1024;

/// Which output stream a chunk came from. A terminal has only stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// What attached clients receive.
#[derive(Debug, Clone)]
pub enum Output {
    Data(Stream, Arc<[u8]>),
    /// All output streams reached EOF; nothing follows.
    Eof,
}

/// Input from an attached client.
#[derive(Debug)]
pub enum Input {
    Data(Vec<u8>),
    Close,
}

/// The process-side ends handed to the runtime (its stdio, passed through to the process).
#[derive(Debug, Default)]
pub struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// The shim-side ends of pipes made by [`pipes`].
#[derive(Debug)]
pub struct PipeEnds {
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Make the pipes for a process without a terminal: the runtime gets `ChildStdio`.
pub fn pipes(stdin: bool) -> Result<(ChildStdio, PipeEnds)> {
    let mk = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"));
    let (out_r, out_w) = mk()?;
    let (err_r, err_w) = mk()?;
    let (in_child, in_ours) = if stdin {
        let (r, w) = mk()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let child = ChildStdio {
        stdin: in_child,
        stdout: Some(out_w),
        stderr: Some(err_w),
    };
    let ours = PipeEnds {
        stdin: in_ours,
        stdout: out_r,
        stderr: err_r,
    };
    Ok((child, ours))
}

/// Where a process's output is logged. The init has the json-file log and, when kubelet asked
/// for one, a CRI log (shared with the container, which reopens it); an exec has neither.
#[derive(Debug, Default)]
pub struct Logs {
    pub json: Option<JsonLog>,
    pub cri: Option<Arc<CriLog>>,
}

/// Where output goes: attached clients and the logs.
#[derive(Debug)]
struct Sink {
    fanout: broadcast::Sender<Output>,
    json: Option<Mutex<JsonLog>>,
    cri: Option<Arc<CriLog>>,
}

impl Sink {
    fn new(fanout: broadcast::Sender<Output>, logs: Logs) -> Self {
        Self {
            fanout,
            json: logs.json.map(Mutex::new),
            cri: logs.cri,
        }
    }

    /// Write one splitter piece to every log, with one time stamp so the two logs agree.
    fn log_line(&self, stream: Stream, line: &[u8]) {
        let now = Utc::now();
        if let Some(log) = &self.json {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = log.write_line(stream.as_str(), line, now) {
                tracing::warn!(error = %e, "json log");
            }
        }
        if let Some(log) = &self.cri {
            if let Err(e) = log.write_line(stream.as_str(), line, now) {
                tracing::warn!(error = %e, "cri log");
            }
        }
    }

    fn chunk(&self, stream: Stream, data: &[u8], split: &mut LineSplitter) {
        let _ = self.fanout.send(Output::Data(stream, Arc::from(data)));
        split.push(data, |l| self.log_line(stream, l));
    }
}

/// A process's stdio hub. It exists before the process does (an exec registered but not
/// started, a container created but not started), so a client can attach first and miss no
/// output; `connect_pipes`/`connect_pty` then start the pumps once the runtime succeeded.
#[derive(Debug)]
pub struct ProcessIo {
    fanout: broadcast::Sender<Output>,
    stdin: Mutex<Option<mpsc::Sender<Input>>>,
    pending: Mutex<Option<Pending>>,
    done: watch::Receiver<bool>,
    pty: OnceLock<Arc<Master>>,
}

/// What the pumps take when the process's stdio is connected.
#[derive(Debug)]
struct Pending {
    stdin: Option<mpsc::Receiver<Input>>,
    done: watch::Sender<bool>,
}

impl ProcessIo {
    /// A hub with no process yet; `stdin` keeps an input queue (docker -i).
    pub fn new(stdin: bool) -> Arc<Self> {
        let (fanout, _) = broadcast::channel(FANOUT_CAPACITY);
        let (done_tx, done) = watch::channel(false);
        let (tx, rx) = if stdin {
            let (tx, rx) = mpsc::channel(16);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        Arc::new(Self {
            fanout,
            stdin: Mutex::new(tx),
            pending: Mutex::new(Some(Pending {
                stdin: rx,
                done: done_tx,
            })),
            done,
            pty: OnceLock::new(),
        })
    }

    fn take_pending(&self) -> Result<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| Error::WrongState("process stdio already connected".into()))
    }

    /// Start pumping pipes.
    pub fn connect_pipes(&self, ends: PipeEnds, logs: Logs) -> Result<()> {
        let reg = |fd| pipe::Receiver::from_owned_fd(fd).map_err(Error::io("register pipe", "-"));
        let out = reg(ends.stdout)?;
        let err = reg(ends.stderr)?;
        let stdin = match ends.stdin {
            Some(fd) => {
                Some(pipe::Sender::from_owned_fd(fd).map_err(Error::io("register pipe", "-"))?)
            }
            None => None,
        };
        let p = self.take_pending()?;
        let sink = Sink::new(self.fanout.clone(), logs);
        tokio::spawn(async move {
            tokio::join!(
                pump_pipe(&sink, out, Stream::Stdout),
                pump_pipe(&sink, err, Stream::Stderr)
            );
            let _ = sink.fanout.send(Output::Eof);
            let _ = p.done.send(true);
        });
        if let (Some(rx), Some(w)) = (p.stdin, stdin) {
            tokio::spawn(stdin_to_pipe(rx, w));
        }
        Ok(())
    }

    /// Start pumping a pty master.
    pub fn connect_pty(&self, master: Master, logs: Logs) -> Result<()> {
        let master = Arc::new(master);
        let p = self.take_pending()?;
        let _ = self.pty.set(master.clone());
        let sink = Sink::new(self.fanout.clone(), logs);
        let m = master.clone();
        tokio::spawn(async move {
            pump_pty(&sink, &m).await;
            let _ = sink.fanout.send(Output::Eof);
            let _ = p.done.send(true);
        });
        if let Some(rx) = p.stdin {
            tokio::spawn(stdin_to_pty(rx, master));
        }
        Ok(())
    }

    /// Whether the process gets a stdin (an input queue exists or existed).
    pub fn has_stdin(&self) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.as_ref().is_some_and(|p| p.stdin.is_some())
    }

    /// Subscribe to output. `None` when output already ended (nothing more will come).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Output>> {
        let rx = self.fanout.subscribe();
        // Subscribed before checking: an Eof sent after this point is in `rx`.
        (!*self.done.borrow()).then_some(rx)
    }

    /// Wait until every output stream reached EOF.
    pub async fn wait_done(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Queue input for the process. Fails when it has no stdin or stdin was closed.
    pub async fn write_stdin(&self, input: Input) -> Result<()> {
        let tx = {
            let mut guard = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(input, Input::Close) {
                guard.take()
            } else {
                guard.clone()
            }
        };
        let Some(tx) = tx else {
            return Err(Error::WrongState("process stdin is not open".into()));
        };
        tx.send(input)
            .await
            .map_err(|_| Error::WrongState("process stdin is closed".into()))
    }

    /// Set the terminal size.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        match self.pty.get() {
            Some(m) => m.resize(rows, cols),
            None => Err(Error::WrongState("process has no terminal".into())),
        }
    }
}

async fn pump_pipe(sink: &Sink, mut r: pipe::Receiver, stream: Stream) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; CHUNK];
    let mut split = LineSplitter::default();
    loop {
        match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => sink.chunk(stream, &buf[..n], &mut split),
            Err(e) => {
                tracing::warn!(error = %e, stream = stream.as_str(), "read output");
                break;
            }
        }
    }
    split.finish(|l| sink.log_line(stream, l));
}

async fn pump_pty(sink: &Sink, m: &Master) {
    let mut buf = vec![0u8; CHUNK];
    let mut split = LineSplitter::default();
    loop {
        match m.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => sink.chunk(Stream::Stdout, &buf[..n], &mut split),
            Err(e) => {
                tracing::warn!(error = %e, "read pty");
                break;
            }
        }
    }
    split.finish(|l| sink.log_line(Stream::Stdout, l));
}

async fn stdin_to_pipe(mut rx: mpsc::Receiver<Input>, mut w: pipe::Sender) {
    use tokio::io::AsyncWriteExt;
    while let Some(input) = rx.recv().await {
        match input {
            Input::Data(d) => {
                if let Err(e) = w.write_all(&d).await {
                    tracing::debug!(error = %e, "write stdin");
                    return;
                }
            }
            Input::Close => return,
        }
    }
}

async fn stdin_to_pty(mut rx: mpsc::Receiver<Input>, m: Arc<Master>) {
    /// ^D: the line discipline turns it into EOF for the reader.
    const EOT: &[u8] = &[4];
    while let Some(input) = rx.recv().await {
        let data = match &input {
            Input::Data(d) => d.as_slice(),
            Input::Close => EOT,
        };
        if let Err(e) = m.write_all(data).await {
            tracing::debug!(error = %e, "write pty");
            return;
        }
        if matches!(input, Input::Close) {
            return;
        }
    }
}
