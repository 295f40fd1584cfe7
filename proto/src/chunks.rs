//! Byte chunks sent by another task, read as a `std::io::Read`: both ends of the byte streams
//! (`cp` in the CLI, `CopyTo` in ferryd) feed gRPC chunks to the synchronous `tar` crate on a
//! blocking thread. It blocks on the channel, so use it only off the runtime (`spawn_blocking`).

use std::io::Read;

use tokio::sync::mpsc;

/// Reads the chunks another task sends; an `Err` chunk fails the read, so a sender can abort a
/// reader that would otherwise take a truncated stream for a complete one.
#[derive(Debug)]
pub struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    pub fn new(rx: mpsc::Receiver<std::io::Result<Vec<u8>>>) -> Self {
        ChunkReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => (self.buf, self.pos) = (chunk?, 0),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_chunks_until_the_senders_are_gone() {
        let (tx, rx) = mpsc::channel(4);
        for chunk in [&b"ab"[..], b"", b"cde"] {
            tx.try_send(Ok(chunk.to_vec())).unwrap();
        }
        drop(tx);
        let mut r = ChunkReader::new(rx);
        let mut two = [0u8; 2];
        assert_eq!(r.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"ab");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"cde");
    }

    #[test]
    fn an_err_chunk_fails_the_read() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(b"partial".to_vec())).unwrap();
        tx.try_send(Err(std::io::Error::other("copy interrupted")))
            .unwrap();
        drop(tx);
        let mut all = Vec::new();
        let err = ChunkReader::new(rx).read_to_end(&mut all).unwrap_err();
        assert_eq!(err.to_string(), "copy interrupted");
    }
}
