//! Readers that connect the async download to the blocking extraction: a channel of chunks read
//! as a byte stream, a tee into the content ingest, and a counting hasher for the diff_id.

use std::io::{self, Read, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::content::{Digester, Ingest};

/// A message from the downloader. `End` distinguishes a complete stream from a downloader that
/// went away (cancelled or failed), which the reader reports as an error.
#[derive(Debug)]
pub(crate) enum Chunk {
    Data(Bytes),
    End,
}

#[derive(Debug)]
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    cur: Bytes,
    done: bool,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<Chunk>) -> Self {
        ChannelReader {
            rx,
            cur: Bytes::new(),
            done: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.cur = b,
                Some(Chunk::End) => self.done = true,
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "download stopped",
                    ))
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Passes bytes through while writing them to the blob's ingest file (which hashes them).
#[derive(Debug)]
pub(crate) struct TeeReader<R> {
    pub(crate) inner: R,
    pub(crate) ingest: Option<Ingest>,
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(ingest) = self.ingest.as_mut() {
            ingest.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Hashes and counts what is read, failing once more than `max` bytes went through: the cap
/// that bounds a decompression bomb.
#[derive(Debug)]
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) digester: Digester,
    pub(crate) max: u64,
    /// Stops the layer before the data root's free space falls under the reserve.
    pub(crate) space: Option<SpaceGuard>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(g) = self.space.as_mut() {
            g.check(self.digester.len())?;
        }
        let n = self.inner.read(buf)?;
        self.digester.update(&buf[..n]);
        if self.digester.len() > self.max {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "decompressed layer exceeds its cap",
            ));
        }
        Ok(n)
    }
}

/// How often, in decompressed bytes, the free space is looked at (a statvfs each time).
const SPACE_CHECK_EVERY: u64 = 32 << 20;

/// The data root's free space, checked as a layer is extracted: below `reserve` bytes the read
/// fails with `StorageFull`, so the pull stops and rolls back before the disk is full.
#[derive(Debug)]
pub(crate) struct SpaceGuard {
    pub(crate) root: std::path::PathBuf,
    pub(crate) reserve: u64,
    pub(crate) next: u64,
    /// Set once the reserve was hit: the unpacker reports a failed read as a bad archive, so
    /// the caller asks here what really happened.
    pub(crate) tripped: bool,
}

impl SpaceGuard {
    fn check(&mut self, done: u64) -> io::Result<()> {
        if done < self.next {
            return Ok(());
        }
        self.next = done + SPACE_CHECK_EVERY;
        let st = rustix::fs::statvfs(&self.root)?;
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        if free < self.reserve {
            self.tripped = true;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "below the free-space reserve",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_reader_reads_until_end_and_fails_when_sender_vanishes() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Data(Bytes::from_static(b"abc")))
            .unwrap();
        tx.try_send(Chunk::Data(Bytes::from_static(b"de"))).unwrap();
        tx.try_send(Chunk::End).unwrap();
        let mut out = Vec::new();
        ChannelReader::new(rx).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcde");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Data(Bytes::from_static(b"abc")))
            .unwrap();
        drop(tx);
        let mut out = Vec::new();
        let err = ChannelReader::new(rx).read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[test]
    fn hashing_reader_enforces_its_cap() {
        let mut r = HashingReader {
            inner: &b"0123456789"[..],
            digester: Digester::default(),
            max: 5,
            space: None,
        };
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }
}
