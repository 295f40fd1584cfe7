//! The transport-neutral side of a streaming session: what exec, attach and port-forward
//! write (an [`Outlet`] per stream: SPDY stream ID or WebSocket channel number) and read
//! (a receiver of the client's bytes, closed when the client ends its half).

use bytes::Bytes;
use tokio::sync::mpsc;

/// Our bytes are cut into frames or messages of at most this (spdystream and the WebSocket
/// clients take more, but small frames keep a slow stream from holding the others up).
pub const CHUNK: usize = 32 << 10;

/// One thing for a connection's writer task to put on the wire, in order.
#[derive(Debug)]
pub enum WriteOp {
    /// Bytes for a stream; `fin` ends our half of it (SPDY FIN, WebSocket v5 close signal).
    Data { stream: u32, data: Bytes, fin: bool },
    /// SPDY only: answer a stream the client opened.
    Reply(u32),
    /// SPDY only: abandon a stream.
    Reset { stream: u32, status: u32 },
    /// SPDY only: answer a ping.
    Pong(u32),
    /// Last op: say goodbye and close the connection.
    Close,
}

/// Our half of one stream.
#[derive(Debug, Clone)]
pub struct Outlet {
    pub stream: u32,
    tx: mpsc::Sender<WriteOp>,
}

impl Outlet {
    pub fn new(stream: u32, tx: mpsc::Sender<WriteOp>) -> Self {
        Outlet { stream, tx }
    }

    /// Sends `data` in chunks; false once the connection is gone.
    pub async fn write(&self, data: &[u8]) -> bool {
        for chunk in data.chunks(CHUNK) {
            let op = WriteOp::Data {
                stream: self.stream,
                data: Bytes::copy_from_slice(chunk),
                fin: false,
            };
            if self.tx.send(op).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Ends our half of the stream.
    pub async fn close(&self) {
        let op = WriteOp::Data {
            stream: self.stream,
            data: Bytes::new(),
            fin: true,
        };
        let _ = self.tx.send(op).await;
    }
}
