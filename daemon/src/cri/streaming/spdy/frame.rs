//! SPDY/3.1 frames as bytes: the control frames the Kubernetes client (moby/spdystream) sends
//! and expects, and DATA frames. Decoding is incremental (`Ok(None)`: not a whole frame yet) and
//! bounded: a length over [`MAX_FRAME`] is refused before anything is buffered for it.
//!
//! ```text
//! control: |1| version(15) | type(16) | flags(8) | length(24) | payload
//! data:    |0| stream id(31)          | flags(8) | length(24) | payload
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::headers::{HeaderDecoder, HeaderEncoder, Headers};
use super::SpdyError;

pub const VERSION: u16 = 3;
/// DATA, SYN_STREAM, SYN_REPLY, HEADERS: the sender's half of the stream ends.
pub const FLAG_FIN: u8 = 0x01;
/// A frame's payload may not exceed this: kubectl's frames are a few KiB, so anything much
/// bigger is hostile, and refusing it early bounds what one connection can make us buffer.
pub const MAX_FRAME: usize = 1 << 20;
/// RST_STREAM status codes (SPDY/3 §2.6.3).
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_REFUSED_STREAM: u32 = 3;
pub const RST_CANCEL: u32 = 5;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// Read and ignored: spdystream sends none and we need none of its values.
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// A control frame type SPDY/3 does not define: the spec says to ignore it.
    Unknown {
        kind: u16,
    },
}

/// Reads frames from a byte buffer, inflating header blocks with the connection's one zlib
/// stream (which is why a decoder belongs to exactly one connection direction).
#[derive(Debug, Default)]
pub struct Decoder {
    headers: HeaderDecoder,
}

impl Decoder {
    /// The next whole frame at the front of `buf` (consumed), or None while it is incomplete.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = usize::from(buf[5]) << 16 | usize::from(buf[6]) << 8 | usize::from(buf[7]);
        if len > MAX_FRAME {
            return Err(SpdyError::FrameTooLarge(len));
        }
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        let head = buf.split_to(8);
        let payload = buf.split_to(len).freeze();
        let word = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        if word & 0x8000_0000 == 0 {
            let stream_id = word & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                stream_id,
                flags,
                data: payload,
            }));
        }
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        self.control((word & 0xffff) as u16, flags, payload)
            .map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, mut p: Bytes) -> Result<Frame, SpdyError> {
        let need = |n: usize, p: &Bytes| {
            if p.len() < n {
                Err(SpdyError::Truncated(kind))
            } else {
                Ok(())
            }
        };
        Ok(match kind {
            SYN_STREAM => {
                need(10, &p)?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let associated = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                p.advance(1);
                let headers = self.headers.decode(&p)?;
                Frame::SynStream {
                    stream_id,
                    associated,
                    priority,
                    flags,
                    headers,
                }
            }
            SYN_REPLY | HEADERS => {
                need(4, &p)?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let headers = self.headers.decode(&p)?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            RST_STREAM | GOAWAY | WINDOW_UPDATE => {
                need(8, &p)?;
                let (a, b) = (p.get_u32() & 0x7fff_ffff, p.get_u32());
                match kind {
                    RST_STREAM => Frame::RstStream {
                        stream_id: a,
                        status: b,
                    },
                    GOAWAY => Frame::GoAway {
                        last_good: a,
                        status: b,
                    },
                    _ => Frame::WindowUpdate {
                        stream_id: a,
                        delta: b & 0x7fff_ffff,
                    },
                }
            }
            PING => {
                need(4, &p)?;
                Frame::Ping { id: p.get_u32() }
            }
            SETTINGS => Frame::Settings,
            kind => Frame::Unknown { kind },
        })
    }
}

/// Writes frames, deflating header blocks with the connection's outgoing zlib stream.
#[derive(Debug, Default)]
pub struct Encoder {
    headers: HeaderEncoder,
}

impl Encoder {
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), SpdyError> {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                out.put_u32(stream_id & 0x7fff_ffff);
                put_flags_len(out, *flags, data.len())?;
                out.put_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                flags,
                headers,
            } => {
                let block = self.headers.encode(headers)?;
                control_head(out, SYN_STREAM, *flags, 10 + block.len())?;
                out.put_u32(*stream_id);
                out.put_u32(*associated);
                out.put_u8(priority << 5);
                out.put_u8(0);
                out.put_slice(&block);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = match frame {
                    Frame::SynReply { .. } => SYN_REPLY,
                    _ => HEADERS,
                };
                let block = self.headers.encode(headers)?;
                control_head(out, kind, *flags, 4 + block.len())?;
                out.put_u32(*stream_id);
                out.put_slice(&block);
            }
            other => encode_fixed(other, out)?,
        }
        Ok(())
    }
}

/// The control frames without a header block.
fn encode_fixed(frame: &Frame, out: &mut BytesMut) -> Result<(), SpdyError> {
    let (kind, a, b) = match *frame {
        Frame::RstStream { stream_id, status } => (RST_STREAM, stream_id, Some(status)),
        Frame::GoAway { last_good, status } => (GOAWAY, last_good, Some(status)),
        Frame::WindowUpdate { stream_id, delta } => (WINDOW_UPDATE, stream_id, Some(delta)),
        Frame::Ping { id } => (PING, id, None),
        Frame::Settings => (SETTINGS, 0, None),
        Frame::Unknown { kind } => (kind, 0, None),
        _ => return Err(SpdyError::Protocol("not a fixed-size control frame")),
    };
    control_head(out, kind, 0, if b.is_some() { 8 } else { 4 })?;
    out.put_u32(a);
    if let Some(b) = b {
        out.put_u32(b);
    }
    Ok(())
}

fn control_head(out: &mut BytesMut, kind: u16, flags: u8, len: usize) -> Result<(), SpdyError> {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    put_flags_len(out, flags, len)
}

fn put_flags_len(out: &mut BytesMut, flags: u8, len: usize) -> Result<(), SpdyError> {
    let len = u32::try_from(len)
        .ok()
        .filter(|l| *l < 1 << 24)
        .ok_or(SpdyError::FrameTooLarge(len))?;
    out.put_u32(u32::from(flags) << 24 | len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn round_trip(frames: &[Frame]) -> Vec<Frame> {
        let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
        let mut buf = BytesMut::new();
        for f in frames {
            enc.encode(f, &mut buf).unwrap();
        }
        let mut out = Vec::new();
        while let Some(f) = dec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn every_frame_survives_a_round_trip_with_one_zlib_stream_per_direction() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated: 0,
                priority: 3,
                flags: 0,
                headers: hdrs(&[("streamtype", "error")]),
            },
            Frame::SynStream {
                stream_id: 3,
                associated: 0,
                priority: 0,
                flags: FLAG_FIN,
                headers: hdrs(&[("streamtype", "stdout"), ("port", "80")]),
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                headers: hdrs(&[]),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hello"),
            },
            Frame::RstStream {
                stream_id: 5,
                status: RST_CANCEL,
            },
            Frame::Ping { id: 7 },
            Frame::GoAway {
                last_good: 3,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 1024,
            },
            Frame::Headers {
                stream_id: 1,
                flags: 0,
                headers: hdrs(&[("a", "b")]),
            },
        ];
        assert_eq!(round_trip(&frames), frames);
    }

    #[test]
    fn a_frame_split_anywhere_is_waited_for() {
        let mut enc = Encoder::default();
        let mut all = BytesMut::new();
        let f = Frame::Data {
            stream_id: 9,
            flags: 0,
            data: Bytes::from_static(b"abcdef"),
        };
        enc.encode(&f, &mut all).unwrap();
        for cut in 0..all.len() {
            let mut dec = Decoder::default();
            let mut buf = BytesMut::from(&all[..cut]);
            assert_eq!(dec.decode(&mut buf).unwrap(), None, "cut at {cut}");
            buf.extend_from_slice(&all[cut..]);
            assert_eq!(dec.decode(&mut buf).unwrap(), Some(f.clone()));
        }
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        let mut dec = Decoder::default();
        // A DATA frame claiming 16 MiB - 1: refused before any of it arrives.
        let mut big = BytesMut::from(&[0, 0, 0, 1, 0, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            dec.decode(&mut big),
            Err(SpdyError::FrameTooLarge(_))
        ));
        // A PING with 2 of its 4 bytes.
        let mut short = BytesMut::from(&[0x80, 3, 0, 6, 0, 0, 0, 2, 0, 1][..]);
        assert!(matches!(
            dec.decode(&mut short),
            Err(SpdyError::Truncated(6))
        ));
        // SPDY/2.
        let mut v2 = BytesMut::from(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(matches!(dec.decode(&mut v2), Err(SpdyError::Version(2))));
        // A SYN_STREAM whose header block is not zlib.
        let mut junk =
            BytesMut::from(&[0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0][..]);
        junk.extend_from_slice(b"junk");
        assert!(matches!(
            dec.decode(&mut junk),
            Err(SpdyError::HeaderBlock(_))
        ));
    }

    #[test]
    fn an_unknown_control_type_is_read_and_skipped() {
        let mut dec = Decoder::default();
        let mut buf = BytesMut::from(&[0x80, 3, 0x12, 0x34, 0, 0, 0, 2, 9, 9][..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(Frame::Unknown { kind: 0x1234 })
        );
        assert!(buf.is_empty());
    }
}
