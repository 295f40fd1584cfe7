//! A minimal SPDY/3.1 streaming client for the tests, on ferryd's own codec: upgrades a URL
//! the CRI returned, opens the streams kubectl would, and collects what comes back.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_daemon::cri::streaming::spdy::frame::{Decoder, Encoder, Frame, FLAG_FIN};
use ferry_daemon::cri::streaming::spdy::Headers;

/// An upgraded connection, or the HTTP status that refused it.
#[derive(Debug)]
pub struct SpdyClient {
    sock: TcpStream,
    enc: Encoder,
    dec: Decoder,
    buf: BytesMut,
    next_id: u32,
}

/// Sends the upgrade request; Err(status line) unless the server switches protocols.
pub fn upgrade(url: &str, protocol: &str) -> Result<SpdyClient, String> {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut sock = TcpStream::connect(host).expect("connect to the streaming server");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let req = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).expect("send upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match sock.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    Ok(SpdyClient {
        sock,
        enc: Encoder::default(),
        dec: Decoder::default(),
        buf: BytesMut::new(),
        next_id: 1,
    })
}

impl SpdyClient {
    /// Opens a stream with `streamType: kind`; its ID.
    pub fn open(&mut self, kind: &str) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        let headers = Headers(vec![("streamType".into(), kind.into())]);
        self.send(&Frame::SynStream {
            stream_id: id,
            associated: 0,
            priority: 0,
            flags: 0,
            headers,
        });
        id
    }

    pub fn send(&mut self, f: &Frame) {
        let mut out = BytesMut::new();
        self.enc.encode(f, &mut out).expect("encode");
        self.sock.write_all(&out).expect("send frame");
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.sock.write_all(bytes);
    }

    /// Ends our half of stream `id`.
    pub fn fin(&mut self, id: u32) {
        let data = Bytes::new();
        self.send(&Frame::Data {
            stream_id: id,
            flags: FLAG_FIN,
            data,
        });
    }

    /// Every stream's bytes until the server closes the connection (or says GOAWAY).
    pub fn collect(&mut self) -> HashMap<u32, Vec<u8>> {
        let mut got: HashMap<u32, Vec<u8>> = HashMap::new();
        let mut chunk = [0u8; 16 << 10];
        loop {
            while let Some(f) = self.dec.decode(&mut self.buf).expect("a valid frame") {
                match f {
                    Frame::Data {
                        stream_id, data, ..
                    } => got.entry(stream_id).or_default().extend_from_slice(&data),
                    Frame::GoAway { .. } => return got,
                    _ => {}
                }
            }
            match self.sock.read(&mut chunk) {
                Ok(0) | Err(_) => return got,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// True once the server has closed the connection (reads give EOF or an error).
    pub fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return e.kind() != std::io::ErrorKind::WouldBlock
                        && e.kind() != std::io::ErrorKind::TimedOut
                }
            }
        }
    }
}
