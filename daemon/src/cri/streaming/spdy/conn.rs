//! A server-side SPDY connection: a reader task that turns the client's frames into
//! [`Incoming`] streams (each answered with a SYN_REPLY at once, since spdystream's
//! CreateStream waits for it) and their bytes, and a writer task that owns the outgoing zlib
//! stream and puts [`WriteOp`]s on the wire in order.
//!
//! Lifecycle: `start` → the handler takes streams and writes → `finish` (GOAWAY, close).
//! When the client goes (EOF, GOAWAY, a bad frame), `gone` fires and every stream's receiver
//! ends, so a handler never waits on a dead connection. Dropping a `Conn` aborts both tasks.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::frame::{self, Decoder, Encoder, Frame, FLAG_FIN};
use super::{Headers, SpdyError};
use crate::cri::streaming::channel::WriteOp;

/// Streams one connection may have open at once (exec needs 5; port-forward 2 per request).
pub const MAX_STREAMS: usize = 128;

/// A stream the client opened: its headers and its bytes (None: the client's half ended).
#[derive(Debug)]
pub struct Incoming {
    pub id: u32,
    pub headers: Headers,
    pub data: mpsc::Receiver<Bytes>,
}

#[derive(Debug)]
pub struct Conn {
    pub streams: mpsc::Receiver<Incoming>,
    pub writer: mpsc::Sender<WriteOp>,
    /// Fires when the client is gone (or broke the protocol).
    pub gone: CancellationToken,
    reader: JoinHandle<()>,
    write_task: Option<JoinHandle<()>>,
}

impl Conn {
    pub fn start<IO>(io: IO) -> Conn
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (writer, ops) = mpsc::channel(64);
        let (new_streams, streams) = mpsc::channel(16);
        let gone = CancellationToken::new();
        let reader = tokio::spawn(read_loop(rd, new_streams, writer.clone(), gone.clone()));
        let write_task = Some(tokio::spawn(write_loop(wr, ops, gone.clone())));
        Conn {
            streams,
            writer,
            gone,
            reader,
            write_task,
        }
    }

    /// Says GOAWAY, waits (briefly) for everything queued to be written, and closes.
    pub async fn finish(mut self) {
        let _ = self.writer.send(WriteOp::Close).await;
        if let Some(w) = self.write_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(w) = &self.write_task {
            w.abort();
        }
    }
}

/// The reader's view of the connection: open streams and the last ID the client used.
struct ReadState {
    open: HashMap<u32, mpsc::Sender<Bytes>>,
    last_id: u32,
    new_streams: mpsc::Sender<Incoming>,
    writer: mpsc::Sender<WriteOp>,
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    new_streams: mpsc::Sender<Incoming>,
    writer: mpsc::Sender<WriteOp>,
    gone: CancellationToken,
) {
    let mut st = ReadState {
        open: HashMap::new(),
        last_id: 0,
        new_streams,
        writer,
    };
    if let Err(e) = read_frames(&mut rd, &mut st).await {
        tracing::debug!(error = %e, "spdy connection ends");
    }
    // Every stream's receiver ends now: handlers see the client's halves closed.
    st.open.clear();
    gone.cancel();
}

async fn read_frames<R: AsyncRead + Unpin>(
    rd: &mut R,
    st: &mut ReadState,
) -> Result<(), SpdyError> {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::with_capacity(16 << 10);
    loop {
        while let Some(f) = dec.decode(&mut buf)? {
            if !st.handle(f).await? {
                return Ok(());
            }
        }
        if rd.read_buf(&mut buf).await? == 0 {
            return match buf.is_empty() {
                true => Ok(()),
                false => Err(SpdyError::Protocol("connection closed mid-frame")),
            };
        }
    }
}

impl ReadState {
    /// Acts on one frame; false when the client said GOAWAY.
    async fn handle(&mut self, f: Frame) -> Result<bool, SpdyError> {
        match f {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => self.open_stream(stream_id, flags, headers).await?,
            Frame::Data {
                stream_id,
                flags,
                data,
            } => self.data(stream_id, flags, data).await,
            Frame::RstStream { stream_id, .. } => {
                self.open.remove(&stream_id);
            }
            Frame::Ping { id } => {
                let _ = self.writer.send(WriteOp::Pong(id)).await;
            }
            Frame::GoAway { .. } => return Ok(false),
            Frame::SynReply { .. } => return Err(SpdyError::Protocol("SYN_REPLY from a client")),
            Frame::Headers { .. }
            | Frame::Settings
            | Frame::WindowUpdate { .. }
            | Frame::Unknown { .. } => {}
        }
        Ok(true)
    }

    async fn open_stream(&mut self, id: u32, flags: u8, headers: Headers) -> Result<(), SpdyError> {
        // Client streams are odd and increasing (SPDY/3 §2.3.2); anything else is an attack
        // or a bug, and the connection ends.
        if id.is_multiple_of(2) || id <= self.last_id {
            return Err(SpdyError::Protocol("stream id out of order"));
        }
        self.last_id = id;
        if self.open.len() >= MAX_STREAMS {
            let status = frame::RST_REFUSED_STREAM;
            let _ = self
                .writer
                .send(WriteOp::Reset { stream: id, status })
                .await;
            return Ok(());
        }
        let _ = self.writer.send(WriteOp::Reply(id)).await;
        let (tx, data) = mpsc::channel(16);
        if flags & FLAG_FIN == 0 {
            self.open.insert(id, tx);
        }
        let s = Incoming { id, headers, data };
        if self.new_streams.send(s).await.is_err() {
            self.open.remove(&id);
            let status = frame::RST_REFUSED_STREAM;
            let _ = self
                .writer
                .send(WriteOp::Reset { stream: id, status })
                .await;
        }
        Ok(())
    }

    async fn data(&mut self, id: u32, flags: u8, data: Bytes) {
        // Data for a stream we do not know (or already reset) is dropped, as spdystream does.
        let Some(tx) = self.open.get(&id) else {
            return;
        };
        if !data.is_empty() && tx.send(data).await.is_err() {
            // The handler stopped reading this stream: drop what comes for it.
            self.open.remove(&id);
        }
        if flags & FLAG_FIN != 0 {
            self.open.remove(&id);
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut ops: mpsc::Receiver<WriteOp>,
    gone: CancellationToken,
) {
    let mut enc = Encoder::default();
    let mut buf = BytesMut::with_capacity(16 << 10);
    let mut last_id = 0;
    while let Some(op) = ops.recv().await {
        let close = matches!(op, WriteOp::Close);
        if let WriteOp::Reply(id) = op {
            last_id = id;
        }
        let res = match enc.encode(&to_frame(op, last_id), &mut buf) {
            Ok(()) => wr.write_all(&buf).await.map_err(SpdyError::from),
            Err(e) => Err(e),
        };
        buf.clear();
        if let Err(e) = res {
            tracing::debug!(error = %e, "spdy write failed");
            gone.cancel();
            return;
        }
        if close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

fn to_frame(op: WriteOp, last_id: u32) -> Frame {
    match op {
        WriteOp::Data { stream, data, fin } => Frame::Data {
            stream_id: stream,
            flags: if fin { FLAG_FIN } else { 0 },
            data,
        },
        WriteOp::Reply(stream_id) => Frame::SynReply {
            stream_id,
            flags: 0,
            headers: Headers::default(),
        },
        WriteOp::Reset { stream, status } => Frame::RstStream {
            stream_id: stream,
            status,
        },
        WriteOp::Pong(id) => Frame::Ping { id },
        WriteOp::Close => Frame::GoAway {
            last_good: last_id,
            status: 0,
        },
    }
}
