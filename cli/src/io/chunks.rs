//! Byte chunks between a blocking task and an async one, as `std::io` readers and writers.
//!
//! `cp` builds and extracts tars with the synchronous `tar` crate on a blocking thread while the
//! gRPC stream runs on the runtime; these adapters carry the bytes over an `mpsc` channel. Both
//! block on the channel, so they must only be used off the runtime (`spawn_blocking`).

use std::io::{BufWriter, Write};

use tokio::sync::mpsc;

/// How many bytes a [`ChunkWriter`] gathers before it sends a chunk (see [`ChunkWriter::buffered`]).
pub(crate) const CHUNK: usize = 64 * 1024;

pub(crate) use ferry_proto::chunks::ChunkReader;

/// Sends what is written as chunks and counts the bytes; fails once the receiver is gone.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    tx: mpsc::Sender<Vec<u8>>,
    total: u64,
}

impl ChunkWriter {
    /// A writer sending `CHUNK`-sized chunks (each `write` would otherwise be one message).
    pub(crate) fn buffered(tx: mpsc::Sender<Vec<u8>>) -> BufWriter<ChunkWriter> {
        BufWriter::with_capacity(CHUNK, ChunkWriter { tx, total: 0 })
    }

    /// Sends what `w` still holds; the bytes sent in all.
    pub(crate) fn finish(w: BufWriter<ChunkWriter>) -> std::io::Result<u64> {
        let out = w.into_inner().map_err(|e| e.into_error())?;
        Ok(out.total)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        self.total += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_gathered_into_chunks_and_counted() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut w = ChunkWriter::buffered(tx);
        w.write_all(&[1; 10]).unwrap();
        w.write_all(&[2; CHUNK]).unwrap();
        assert_eq!(ChunkWriter::finish(w).unwrap(), 10 + CHUNK as u64);
        let mut sizes = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            sizes.push(chunk.len());
        }
        // The small write waits in the buffer; the big one flushes it, then goes out whole.
        assert_eq!(sizes, [10, CHUNK]);
    }

    #[test]
    fn writing_fails_once_the_receiver_is_gone() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut w = ChunkWriter::buffered(tx);
        w.write_all(b"x").unwrap();
        let err = ChunkWriter::finish(w).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }
}
