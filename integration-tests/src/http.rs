//! A deliberately small HTTP/1.1 client over `std::net::TcpStream`.
//!
//! One request per connection (`Connection: close`), which keeps it simple and
//! makes every request visible to the [`crate::proxy::FaultProxy`]. Bodies are
//! delimited by `Content-Length`, `Transfer-Encoding: chunked` or EOF. A body
//! cut short by the peer is not an error: the [`Response`] says
//! `complete: false` and carries the bytes that did arrive, so tests can
//! observe truncated transfers.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Default read/write timeout of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A request to send with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

/// A response, possibly with a truncated body (see `complete`).
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes received (all of them if `complete`).
    pub body: Vec<u8>,
    /// False if the connection ended (or timed out) before the announced end of the body.
    pub complete: bool,
}

impl Request {
    /// A request with the given method and target (path + query, or absolute URL).
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `GET target`.
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// `HEAD target`.
    pub fn head(target: &str) -> Self {
        Self::new("HEAD", target)
    }

    /// Adds a header (repeatable).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body; `Content-Length` is added automatically.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Sets the socket read/write timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request to `addr` ("host:port") and reads the whole response.
    pub fn send(&self, addr: &str) -> io::Result<Response> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut writer = stream.try_clone()?;
        writer.write_all(&self.encode(addr))?;
        writer.flush()?;
        let mut reader = BufReader::new(stream);
        read_response(&mut reader, self.method == "HEAD")
    }

    fn encode(&self, addr: &str) -> Vec<u8> {
        let target = strip_origin(&self.target);
        let mut out = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", self.method, target);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "PUT" | "POST" | "PATCH") {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body as (lossy) UTF-8, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Turns `http://host:port/path?q` into `/path?q`; leaves paths untouched.
pub fn strip_origin(target: &str) -> &str {
    let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    else {
        return target;
    };
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// The first header named `name` (case-insensitive) in `headers`.
pub fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads bytes up to and including the blank line ending an HTTP head.
/// Returns `Ok(None)` on EOF before any byte.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "EOF in HTTP head",
            ));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
        if head.len() > 1 << 20 {
            return Err(io::Error::other("HTTP head larger than 1 MiB"));
        }
    }
}

/// Splits a head into its first line and its headers.
pub fn parse_head(head: &[u8]) -> io::Result<(String, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head).map_err(io::Error::other)?;
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let first = lines
        .next()
        .ok_or_else(|| io::Error::other("empty HTTP head"))?
        .to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok((first, headers))
}

/// Parses the status code out of a status line like `HTTP/1.1 200 OK`.
pub fn parse_status(status_line: &str) -> io::Result<u16> {
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))
}

fn read_response(reader: &mut impl BufRead, is_head: bool) -> io::Result<Response> {
    loop {
        let head = read_head(reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
        let (line, headers) = parse_head(&head)?;
        let status = parse_status(&line)?;
        if (100..200).contains(&status) {
            continue;
        }
        let (body, complete) = read_body(reader, &headers, status, is_head)?;
        return Ok(Response {
            status,
            headers,
            body,
            complete,
        });
    }
}

fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    status: u16,
    is_head: bool,
) -> io::Result<(Vec<u8>, bool)> {
    if is_head || status == 204 || status == 304 {
        return Ok((Vec::new(), true));
    }
    let chunked = header_value(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(reader);
    }
    match header_value(headers, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        Some(len) => read_exact_lenient(reader, len),
        None => read_to_end_lenient(reader),
    }
}

fn read_exact_lenient(reader: &mut impl Read, len: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut body = Vec::new();
    let got = copy_lenient(&mut reader.take(len), &mut body);
    Ok((body, got == len))
}

fn read_to_end_lenient(reader: &mut impl Read) -> io::Result<(Vec<u8>, bool)> {
    let mut body = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok((body, true)),
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok((body, false)),
        }
    }
}

/// Copies until EOF or error; returns the number of bytes copied.
fn copy_lenient(reader: &mut impl Read, out: &mut Vec<u8>) -> u64 {
    let mut buf = [0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return total,
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<(Vec<u8>, bool)> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Ok((body, false));
        }
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|e| io::Error::other(format!("bad chunk size {line:?}: {e}")))?;
        if size == 0 {
            return Ok((body, true));
        }
        if copy_lenient(&mut reader.take(size), &mut body) != size {
            return Ok((body, false));
        }
        let mut crlf = String::new();
        let _ = reader.read_line(&mut crlf);
    }
}
