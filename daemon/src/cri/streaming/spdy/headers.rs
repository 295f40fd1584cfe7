//! SPDY/3 header blocks: `count(32) {len(32) name len(32) value}*`, deflated with zlib and
//! the SPDY/3 dictionary. Each direction of a connection is ONE zlib stream (every block ends
//! with a sync flush, none with a stream end), so an encoder or decoder lives as long as its
//! connection. Names are lowercase on the wire (spdystream refuses others); a value holding
//! several is NUL-separated, which we keep as one string.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::SpdyError;

/// SPDY/3 §2.6.10.1: the dictionary both sides prime zlib with (1423 bytes).
const DICTIONARY: &[u8] = include_bytes!("dictionary.bin");
/// An inflated header block may not exceed this (a zlib bomb of a few bytes could otherwise
/// make us allocate without bound).
pub const MAX_HEADER_BLOCK: usize = 64 << 10;

/// Header name/value pairs in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The value of `name`, compared case-insensitively (Go clients capitalize, the wire
    /// lowercases).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub struct HeaderDecoder(Decompress);

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder(Decompress::new(true))
    }
}

impl HeaderDecoder {
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        parse(&self.inflate(block)?)
    }

    fn inflate(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let bad = |e: flate2::DecompressError| SpdyError::HeaderBlock(e.to_string());
        let mut out = Vec::with_capacity(1024);
        let mut pos = 0;
        loop {
            if out.len() >= MAX_HEADER_BLOCK {
                return Err(SpdyError::HeaderBlock("header block too large".into()));
            }
            out.reserve(4096);
            let before = self.0.total_in();
            let res = self
                .0
                .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync);
            pos += usize::try_from(self.0.total_in() - before).unwrap_or(usize::MAX);
            match res {
                // The peer named a dictionary in its zlib header: it can only be SPDY's.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0.set_dictionary(DICTIONARY).map_err(bad)?;
                }
                Err(e) => return Err(bad(e)),
                Ok(Status::StreamEnd) => return Ok(out),
                Ok(_) if pos >= input.len() && out.len() < out.capacity() => return Ok(out),
                Ok(Status::BufError) if pos >= input.len() => return Ok(out),
                Ok(_) => {}
            }
        }
    }
}

fn parse(mut b: &[u8]) -> Result<Headers, SpdyError> {
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        if b.len() < n {
            return Err(SpdyError::HeaderBlock("truncated header block".into()));
        }
        let (head, rest) = b.split_at(n);
        b = rest;
        Ok(head)
    };
    let word = |bytes: &[u8]| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let count = word(take(4)?);
    let mut pairs = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = word(take(4)?);
        let name = String::from_utf8_lossy(take(n)?).into_owned();
        let n = word(take(4)?);
        let value = String::from_utf8_lossy(take(n)?).into_owned();
        pairs.push((name, value));
    }
    Ok(Headers(pairs))
}

#[derive(Debug)]
pub struct HeaderEncoder(Compress);

impl Default for HeaderEncoder {
    fn default() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        // A fresh deflate stream always takes a dictionary: failure here is a zlib bug.
        z.set_dictionary(DICTIONARY)
            .expect("a new deflate stream accepts a dictionary");
        HeaderEncoder(z)
    }
}

impl HeaderEncoder {
    pub fn encode(&mut self, h: &Headers) -> Result<Vec<u8>, SpdyError> {
        let mut raw = Vec::new();
        let len = |n: usize| u32::try_from(n).map_err(|_| SpdyError::FrameTooLarge(n));
        raw.extend_from_slice(&len(h.0.len())?.to_be_bytes());
        for (k, v) in &h.0 {
            raw.extend_from_slice(&len(k.len())?.to_be_bytes());
            raw.extend_from_slice(k.to_ascii_lowercase().as_bytes());
            raw.extend_from_slice(&len(v.len())?.to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        self.deflate(&raw)
    }

    fn deflate(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut pos = 0;
        loop {
            out.reserve(1024);
            let before = self.0.total_in();
            self.0
                .compress_vec(&input[pos..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::HeaderBlock(e.to_string()))?;
            pos += usize::try_from(self.0.total_in() - before).unwrap_or(usize::MAX);
            if pos >= input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_share_one_stream() {
        let (mut enc, mut dec) = (HeaderEncoder::default(), HeaderDecoder::default());
        for i in 0..5 {
            let h = Headers(vec![
                ("streamType".into(), "stdout".into()),
                ("requestid".into(), i.to_string()),
                ("big".into(), "x".repeat(10_000)),
            ]);
            let block = enc.encode(&h).unwrap();
            let got = dec.decode(&block).unwrap();
            assert_eq!(got.get("StreamType"), Some("stdout"));
            assert_eq!(got.0[0].0, "streamtype", "names go out lowercase");
            assert_eq!(got.get("requestID"), Some(i.to_string().as_str()));
            assert_eq!(got.get("big").map(str::len), Some(10_000));
        }
    }

    #[test]
    fn the_first_block_names_the_spdy_dictionary() {
        let block = HeaderEncoder::default()
            .encode(&Headers::default())
            .unwrap();
        // zlib header with FDICT set, then the dictionary's Adler-32.
        assert_eq!(block[1] & 0x20, 0x20);
        assert_eq!(&block[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
    }

    #[test]
    fn a_zlib_bomb_is_refused() {
        let mut enc = HeaderEncoder::default();
        let h = Headers(vec![("a".into(), "a".repeat(MAX_HEADER_BLOCK * 2))]);
        let block = enc.encode(&h).unwrap();
        assert!(block.len() < MAX_HEADER_BLOCK / 4);
        assert!(HeaderDecoder::default().decode(&block).is_err());
    }

    #[test]
    fn a_lying_count_or_length_is_an_error() {
        assert!(parse(&[0, 0, 0, 1]).is_err());
        assert!(parse(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']).is_err());
        assert!(parse(&[0, 0, 0]).is_err());
    }
}
