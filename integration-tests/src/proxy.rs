//! A real TCP proxy in front of a registry that records every request and
//! injects faults configured at run time.
//!
//! Each client connection carries exactly one request: the proxy parses the
//! request head, rewrites it to `Connection: close`, forwards it (and any
//! body) to a fresh upstream connection, then relays the response with
//! `Connection: close` so the client opens a new connection for its next
//! request. Other headers (`Range`, `Authorization`, ...) pass through
//! untouched, so `Range` requests reach the registry.
//!
//! Faults apply to `GET …/blobs/<digest>` answered 200 or 206:
//! [`FaultProxy::drop_after`], [`FaultProxy::corrupt`], [`FaultProxy::stall`],
//! [`FaultProxy::drip`].
//! [`FaultProxy::fail_status`] answers chosen paths with an error status (a
//! flaky registry) and [`FaultProxy::redirect_blob`] answers a blob GET with a
//! 307 to another host (a CDN), both without asking the registry.
//! [`FaultProxy::serve_manifest`] / [`FaultProxy::replace_manifest`] answer
//! chosen manifest requests without asking the registry (the registry itself
//! refuses to store manifests over 4 MiB or of unknown types).

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::http::{header_value, parse_head, parse_status, read_head};
use crate::sha256_digest;

/// A running fault-injecting proxy; stops accepting when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: String,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    shutdown: AtomicBool,
    requests: Mutex<Vec<String>>,
    faults: Mutex<Faults>,
}

#[derive(Debug, Default)]
struct Faults {
    drops: HashMap<String, (u64, u32)>,
    corrupt: HashSet<String>,
    stall: HashSet<String>,
    /// Digest → (pause between bytes, remaining times).
    drips: HashMap<String, (Duration, u32)>,
    canned: Vec<(String, Canned)>,
    /// Path suffix → (status, remaining times; `u32::MAX` means forever).
    statuses: Vec<(String, u16, u32)>,
    /// Blob digest → absolute URL to redirect GETs to.
    redirects: HashMap<String, String>,
}

/// A response the proxy serves itself.
#[derive(Debug, Clone)]
struct Canned {
    content_type: String,
    body: Arc<Vec<u8>>,
}

/// The fault chosen for one response.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    DropAfter(u64),
    Corrupt,
    Stall,
    Drip(Duration),
}

/// A parsed request head.
#[derive(Debug)]
struct RequestHead {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The digest if this is a `GET` of a blob.
    fn blob_get(&self) -> Option<&str> {
        if self.method != "GET" {
            return None;
        }
        let (_, digest) = self.path().rsplit_once("/blobs/")?;
        Some(digest)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream_addr` ("host:port").
    pub fn start(upstream_addr: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener
            .local_addr()
            .expect("local_addr of the proxy listener")
            .to_string();
        let state = Arc::new(State {
            upstream: upstream_addr.to_owned(),
            shutdown: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
        });
        let accept_state = Arc::clone(&state);
        let acceptor = thread::spawn(move || accept_loop(&listener, &accept_state));
        FaultProxy {
            addr,
            state,
            acceptor: Some(acceptor),
        }
    }

    /// "127.0.0.1:PORT" of the proxy.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Every request seen so far, as `"METHOD target"` (target includes the query).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Number of `GET …/blobs/<digest>` requests seen.
    pub fn count_blob_gets(&self, digest: &str) -> usize {
        let suffix = format!("/blobs/{digest}");
        self.count_matching("GET", |path| path.ends_with(&suffix))
    }

    /// Number of requests with `method` whose path (without query) satisfies `pred`.
    pub fn count_matching(&self, method: &str, pred: impl Fn(&str) -> bool) -> usize {
        lock(&self.state.requests)
            .iter()
            .filter_map(|r| r.split_once(' '))
            .filter(|(m, target)| *m == method && pred(target.split('?').next().unwrap_or("")))
            .count()
    }

    /// Cuts the connection after `n_bytes` of body, for the next `times` GETs of blob `digest`.
    pub fn drop_after(&self, digest: &str, n_bytes: u64, times: u32) {
        lock(&self.state.faults)
            .drops
            .insert(digest.to_owned(), (n_bytes, times));
    }

    /// Flips one byte (the middle byte of the blob) of every GET of `digest`; length unchanged.
    pub fn corrupt(&self, digest: &str) {
        lock(&self.state.faults).corrupt.insert(digest.to_owned());
    }

    /// Sends response headers for GETs of `digest`, then nothing until the proxy is dropped.
    pub fn stall(&self, digest: &str) {
        lock(&self.state.faults).stall.insert(digest.to_owned());
    }

    /// Relays the next `times` GETs of `digest` one byte at a time, `every` apart: never a
    /// stall, and as slow as a registry likes (the registry's answer is read as it goes, so
    /// the connection ends when the proxy is dropped or the client hangs up).
    pub fn drip(&self, digest: &str, every: Duration, times: u32) {
        lock(&self.state.faults)
            .drips
            .insert(digest.to_owned(), (every, times));
    }

    /// Answers the next `times` requests (any method) whose path ends with
    /// `path_suffix` with `status` and a distribution error body, without
    /// asking the registry; `u32::MAX` means every request.
    pub fn fail_status(&self, path_suffix: &str, status: u16, times: u32) {
        lock(&self.state.faults)
            .statuses
            .push((path_suffix.to_owned(), status, times));
    }

    /// Number of responses [`FaultProxy::fail_status`] still has to inject for `path_suffix`.
    pub fn pending_status_faults(&self, path_suffix: &str) -> u32 {
        lock(&self.state.faults)
            .statuses
            .iter()
            .filter(|(s, _, _)| s == path_suffix)
            .map(|(_, _, n)| *n)
            .fold(0, u32::saturating_add)
    }

    /// Answers every `GET …/blobs/<digest>` with `307 Temporary Redirect` to `url`.
    pub fn redirect_blob(&self, digest: &str, url: &str) {
        lock(&self.state.faults)
            .redirects
            .insert(digest.to_owned(), url.to_owned());
    }

    /// Removes every fault and canned response.
    pub fn clear_faults(&self) {
        *lock(&self.state.faults) = Faults::default();
    }

    /// Answers `GET`/`HEAD` of any path ending with `path_suffix` (e.g.
    /// `/v2/big/manifests/latest`) with `body`, itself, with a correct
    /// `Docker-Content-Digest`.
    pub fn serve_manifest(&self, path_suffix: &str, content_type: &str, body: Vec<u8>) {
        let canned = Canned {
            content_type: content_type.to_owned(),
            body: Arc::new(body),
        };
        lock(&self.state.faults)
            .canned
            .push((path_suffix.to_owned(), canned));
    }

    /// Like [`FaultProxy::serve_manifest`] with a generated JSON body of exactly
    /// `size` bytes (a manifest padded with a long annotation).
    pub fn replace_manifest(&self, path_suffix: &str, content_type: &str, size: usize) {
        self.serve_manifest(
            path_suffix,
            content_type,
            padded_manifest(content_type, size),
        );
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A JSON manifest of exactly `size` bytes (at least ~100).
pub fn padded_manifest(content_type: &str, size: usize) -> Vec<u8> {
    let prefix = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{content_type}\",\"annotations\":{{\"pad\":\""
    );
    let suffix = "\"}}";
    let pad = size.saturating_sub(prefix.len() + suffix.len());
    let mut body = prefix.into_bytes();
    body.resize(body.len() + pad, b'a');
    body.extend_from_slice(suffix.as_bytes());
    body
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>) {
    for stream in listener.incoming() {
        if state.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let state = Arc::clone(state);
        thread::spawn(move || {
            let _ = handle_connection(stream, &state);
        });
    }
}

fn handle_connection(client: TcpStream, state: &State) -> io::Result<()> {
    let mut client_reader = BufReader::new(client.try_clone()?);
    let Some(head) = read_head(&mut client_reader)? else {
        return Ok(());
    };
    let (line, headers) = parse_head(&head)?;
    let mut parts = line.split_whitespace();
    let req = RequestHead {
        method: parts.next().unwrap_or("").to_owned(),
        target: parts.next().unwrap_or("").to_owned(),
        headers,
    };
    lock(&state.requests).push(format!("{} {}", req.method, req.target));
    let mut client_writer = client.try_clone()?;
    if let Some(canned) = state.canned_for(&req) {
        let result = write_canned(&mut client_writer, &req, &canned);
        let _ = client.shutdown(Shutdown::Both);
        return result;
    }
    if let Some(reply) = state.injected_reply(&req) {
        let result = client_writer
            .write_all(&reply)
            .and_then(|()| client_writer.flush());
        let _ = client.shutdown(Shutdown::Both);
        return result;
    }
    let result = forward(&req, client_reader, &mut client_writer, state);
    let _ = client.shutdown(Shutdown::Both);
    result
}

impl State {
    fn canned_for(&self, req: &RequestHead) -> Option<Canned> {
        if req.method != "GET" && req.method != "HEAD" {
            return None;
        }
        let faults = lock(&self.faults);
        faults
            .canned
            .iter()
            .rev()
            .find(|(suffix, _)| req.path().ends_with(suffix.as_str()))
            .map(|(_, c)| c.clone())
    }

    /// A whole response for a request that [`FaultProxy::fail_status`] or
    /// [`FaultProxy::redirect_blob`] covers (consuming one counted failure).
    fn injected_reply(&self, req: &RequestHead) -> Option<Vec<u8>> {
        let mut faults = lock(&self.faults);
        if let Some(url) = req.blob_get().and_then(|d| faults.redirects.get(d)) {
            return Some(
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {url}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .into_bytes(),
            );
        }
        let (_, status, times) = faults
            .statuses
            .iter_mut()
            .find(|(suffix, _, times)| *times > 0 && req.path().ends_with(suffix.as_str()))?;
        if *times != u32::MAX {
            *times -= 1;
        }
        let body = format!(
            r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected {status}","detail":null}}]}}"#
        );
        let head = format!(
            "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let body = if req.method == "HEAD" { "" } else { &body };
        Some(format!("{head}{body}").into_bytes())
    }

    /// Chooses (and consumes, for counted faults) the fault for a response.
    fn take_fault(&self, req: &RequestHead, status: u16) -> Fault {
        let Some(digest) = req.blob_get() else {
            return Fault::None;
        };
        if status != 200 && status != 206 {
            return Fault::None;
        }
        let mut faults = lock(&self.faults);
        if faults.stall.contains(digest) {
            return Fault::Stall;
        }
        if let Some((every, times)) = faults.drips.get_mut(digest) {
            if *times > 0 {
                *times -= 1;
                return Fault::Drip(*every);
            }
        }
        if let Some((n, times)) = faults.drops.get_mut(digest) {
            if *times > 0 {
                *times -= 1;
                return Fault::DropAfter(*n);
            }
        }
        if faults.corrupt.contains(digest) {
            return Fault::Corrupt;
        }
        Fault::None
    }
}

fn write_canned(out: &mut TcpStream, req: &RequestHead, canned: &Canned) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Docker-Content-Digest: {}\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\
         Connection: close\r\n\r\n",
        canned.content_type,
        canned.body.len(),
        sha256_digest(&canned.body)
    );
    out.write_all(head.as_bytes())?;
    if req.method == "GET" {
        out.write_all(&canned.body)?;
    }
    out.flush()
}

/// Rebuilds a head with `Connection: close` instead of any connection headers.
fn rewrite_head(first_line: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("{first_line}\r\n");
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn forward(
    req: &RequestHead,
    client_reader: BufReader<TcpStream>,
    client: &mut TcpStream,
    state: &State,
) -> io::Result<()> {
    let mut upstream = TcpStream::connect(&state.upstream)?;
    let line = format!("{} {} HTTP/1.1", req.method, req.target);
    upstream.write_all(&rewrite_head(&line, &req.headers))?;
    let body_sink = upstream.try_clone()?;
    // The request body (if any, possibly including bytes already buffered)
    // flows upstream until the client side is shut down.
    thread::spawn(move || copy_request_body(client_reader, body_sink));
    let mut upstream_reader = BufReader::new(upstream);
    let (status, headers) = relay_response_head(&mut upstream_reader, client)?;
    let fault = state.take_fault(req, status);
    relay_body(&mut upstream_reader, client, fault, &headers, state)
}

fn copy_request_body(mut from: BufReader<TcpStream>, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
}

/// Relays interim (1xx) heads verbatim and the final head with `Connection: close`.
fn relay_response_head(
    upstream: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
) -> io::Result<(u16, Vec<(String, String)>)> {
    loop {
        let head = read_head(upstream)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed"))?;
        let (line, headers) = parse_head(&head)?;
        let status = parse_status(&line)?;
        if (100..200).contains(&status) {
            client.write_all(&head)?;
            continue;
        }
        client.write_all(&rewrite_head(&line, &headers))?;
        return Ok((status, headers));
    }
}

fn relay_body(
    upstream: &mut impl Read,
    client: &mut TcpStream,
    fault: Fault,
    headers: &[(String, String)],
    state: &State,
) -> io::Result<()> {
    match fault {
        Fault::None => io::copy(upstream, client).map(drop),
        Fault::DropAfter(n) => io::copy(&mut upstream.take(n), client).map(drop),
        Fault::Stall => {
            client.flush()?;
            while !state.shutdown.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Fault::Corrupt => copy_corrupting(upstream, client, corrupt_offset(headers)),
        Fault::Drip(every) => drip(upstream, client, every, state),
    }
}

/// Copies one byte per `every` until the body ends, the client hangs up or the proxy stops.
fn drip(
    upstream: &mut impl Read,
    client: &mut TcpStream,
    every: Duration,
    state: &State,
) -> io::Result<()> {
    let mut byte = [0u8; 1];
    while !state.shutdown.load(Ordering::SeqCst) && upstream.read(&mut byte)? == 1 {
        client.write_all(&byte)?;
        client.flush()?;
        thread::sleep(every);
    }
    Ok(())
}

/// Offset in this response body of the blob's middle byte, from
/// `Content-Range: bytes start-end/total` or `Content-Length`.
fn corrupt_offset(headers: &[(String, String)]) -> Option<u64> {
    if let Some(range) = header_value(headers, "content-range") {
        let spec = range.trim_start_matches("bytes").trim();
        let (span, total) = spec.split_once('/')?;
        let (start, end) = span.split_once('-')?;
        let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
        let middle = total.parse::<u64>().ok()? / 2;
        return (start..=end).contains(&middle).then(|| middle - start);
    }
    let len: u64 = header_value(headers, "content-length")?.parse().ok()?;
    (len > 0).then_some(len / 2)
}

fn copy_corrupting(
    upstream: &mut impl Read,
    client: &mut TcpStream,
    offset: Option<u64>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(off) = offset {
            if (pos..pos + n as u64).contains(&off) {
                let i = usize::try_from(off - pos).expect("in-buffer offset fits usize");
                buf[i] ^= 0xff;
            }
        }
        client.write_all(&buf[..n])?;
        pos += n as u64;
    }
}
