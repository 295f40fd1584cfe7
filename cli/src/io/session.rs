//! An attached stdio session, shared by `run`, `start -a`, `attach` and `exec`.
//!
//! The caller opens the RPC (Attach or Exec) and hands over its output as a stream of [`Out`] and
//! an `mpsc` sender of [`In`] that feeds the RPC's input. The session then, until the output ends:
//! writes output (stdout entries to stdout, stderr to stderr; a tty has one stream), forwards stdin
//! (through the detach-key matcher when a tty is attached, closing stdin at EOF), sends the window
//! size on SIGWINCH, proxies signals to the container via Kill when asked (non-tty only, as
//! Docker), and ends on a SIGTERM/SIGHUP in a raw-mode session so the terminal gets restored.

use crate::client::Channel;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use ferry_proto::containers::v1::{containers_client::ContainersClient, KillRequest, Resize};

use super::detach::DetachMatcher;
use super::tty;

/// What the daemon sends.
#[derive(Debug)]
pub(crate) enum Out {
    Data { stderr: bool, data: Vec<u8> },
    Exit(i32),
}

/// What we send.
#[derive(Debug)]
pub(crate) enum In {
    Stdin(Vec<u8>),
    Resize(Resize),
    CloseStdin,
}

#[derive(Debug, Clone)]
pub(crate) struct SessionOpts {
    pub(crate) tty: bool,
    pub(crate) stdin: bool,
    pub(crate) detach_keys: Vec<u8>,
    /// Forward the CLI's signals to this container (ignored with a tty).
    pub(crate) sig_proxy: Option<(ContainersClient<Channel>, String)>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The output ended; `exit` when the stream carried the exit code (Exec).
    Eof { exit: Option<i32> },
    /// The user typed the detach keys.
    Detached,
    /// SIGTERM/SIGHUP ended a raw-mode session.
    Signalled(i32),
}

/// Events from the local side.
#[derive(Debug)]
enum Local {
    Stdin(Vec<u8>),
    StdinEof,
    Detach,
    Signal(i32),
    Winch,
}

/// The exit status for a session ended by a signal, as a shell reports it.
pub(crate) fn signal_exit(sig: i32) -> i32 {
    128 + sig
}

/// Sends the current window size, if there is a terminal.
pub(crate) async fn send_window_size(input: &mpsc::Sender<In>) {
    if let Some((rows, cols)) = tty::window_size() {
        let _ = input.send(In::Resize(Resize { rows, cols })).await;
    }
}

/// Runs the session; the caller holds the raw-mode guard (if any) across this call.
pub(crate) async fn pump<S>(
    mut output: S,
    input: mpsc::Sender<In>,
    opts: SessionOpts,
) -> anyhow::Result<Ended>
where
    S: Stream<Item = Result<Out, tonic::Status>> + Unpin,
{
    let (local_tx, mut local) = mpsc::channel::<Local>(16);
    if opts.stdin {
        let matcher = opts
            .tty
            .then(|| DetachMatcher::new(opts.detach_keys.clone()));
        tokio::spawn(read_stdin(matcher, local_tx.clone()));
    }
    if opts.tty {
        watch_signal(SignalKind::window_change(), local_tx.clone(), true);
        for sig in [libc::SIGTERM, libc::SIGHUP] {
            watch_signal(SignalKind::from_raw(sig), local_tx.clone(), false);
        }
    } else if opts.sig_proxy.is_some() {
        for sig in PROXIED {
            watch_signal(SignalKind::from_raw(sig), local_tx.clone(), false);
        }
    }
    drop(local_tx);
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    loop {
        tokio::select! {
            item = output.next() => match item {
                None => return Ok(Ended::Eof { exit: None }),
                Some(Err(status)) => return Err(status.into()),
                Some(Ok(Out::Exit(code))) => return Ok(Ended::Eof { exit: Some(code) }),
                Some(Ok(Out::Data { stderr: true, data })) if !opts.tty => {
                    stderr.write_all(&data).await?;
                    stderr.flush().await?;
                }
                Some(Ok(Out::Data { data, .. })) => {
                    stdout.write_all(&data).await?;
                    stdout.flush().await?;
                }
            },
            Some(ev) = local.recv() => match ev {
                Local::Stdin(b) => { let _ = input.send(In::Stdin(b)).await; }
                Local::StdinEof => { let _ = input.send(In::CloseStdin).await; }
                Local::Detach => return Ok(Ended::Detached),
                Local::Winch => send_window_size(&input).await,
                Local::Signal(sig) if opts.tty => return Ok(Ended::Signalled(sig)),
                Local::Signal(sig) => proxy(&opts, sig).await,
            },
        }
    }
}

/// Docker's `ForwardAllSignals` minus the ones a terminal or the runtime owns.
const PROXIED: [i32; 7] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGALRM,
];

async fn proxy(opts: &SessionOpts, sig: i32) {
    let Some((client, id)) = &opts.sig_proxy else {
        return;
    };
    let req = KillRequest {
        id: id.clone(),
        signal: sig.to_string(),
    };
    if let Err(e) = client.clone().kill(req).await {
        eprintln!("error sending signal {sig}: {}", e.message());
    }
}

fn watch_signal(kind: SignalKind, tx: mpsc::Sender<Local>, winch: bool) {
    let Ok(mut s) = signal(kind) else {
        return;
    };
    let sig = kind.as_raw_value();
    tokio::spawn(async move {
        while s.recv().await.is_some() {
            let ev = if winch {
                Local::Winch
            } else {
                Local::Signal(sig)
            };
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    });
}

async fn read_stdin(mut matcher: Option<DetachMatcher>, tx: mpsc::Sender<Local>) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if n == 0 {
            if let Some(rest) = matcher.as_mut().map(DetachMatcher::finish) {
                if !rest.is_empty() {
                    let _ = tx.send(Local::Stdin(rest)).await;
                }
            }
            let _ = tx.send(Local::StdinEof).await;
            return;
        }
        let (bytes, detach) = match matcher.as_mut() {
            Some(m) => {
                let fed = m.feed(&buf[..n]);
                (fed.forward, fed.detach)
            }
            None => (buf[..n].to_vec(), false),
        };
        if !bytes.is_empty() && tx.send(Local::Stdin(bytes)).await.is_err() {
            return;
        }
        if detach {
            let _ = tx.send(Local::Detach).await;
            return;
        }
    }
}
