//! The bridge between a blocking archive writer and an async byte stream.

use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

const CHUNK: usize = 256 << 10;

/// Collects writes into chunks of 256 KiB and sends them, blocking while the receiver is behind:
/// memory stays at a few chunks whatever the archive's size. A receiver that went away (the
/// client hung up) fails the write, which stops the writer.
#[derive(Debug)]
pub struct ChunkWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_flushes_everything() {
        let (tx, mut rx) = mpsc::channel(8);
        let t = std::thread::spawn(move || {
            let mut w = ChunkWriter::new(tx);
            w.write_all(&vec![7u8; CHUNK + 10]).unwrap();
            w.flush().unwrap();
        });
        let mut total = 0;
        while let Some(b) = rx.blocking_recv() {
            total += b.len();
        }
        t.join().unwrap();
        assert_eq!(total, CHUNK + 10);
    }
}
