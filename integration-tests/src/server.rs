//! A tiny threaded HTTP/1.1 server for the test doubles that stand beside the
//! registry: the token issuer ([`crate::token`]) and the "other host" a blob
//! download is redirected to.
//!
//! One request per connection (`Connection: close`); every request head is
//! recorded so tests can assert on what a client sent (e.g. that no
//! `Authorization` header reached a host it was not meant for). Request
//! bodies are ignored: the doubles only answer `GET`s.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use crate::http::{header_value, parse_head, read_head};

/// A request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Every value of query parameter `name`, percent-decoded.
    pub fn query_values(&self, name: &str) -> Vec<String> {
        let Some((_, query)) = self.target.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| percent_decode(k) == name)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers besides `Content-Length` and `Connection`.
    pub headers: Vec<(String, String)>,
    /// Body (not sent for `HEAD`).
    pub body: Vec<u8>,
}

impl Reply {
    /// A reply with `status` and `body`, no extra header.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A 200 `application/json` reply.
    pub fn json(body: &serde_json::Value) -> Reply {
        Reply::new(200, body.to_string()).header("Content-Type", "application/json")
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// A running server; stops accepting when dropped.
pub struct HttpServer {
    addr: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    handler: Box<Handler>,
    requests: Mutex<Vec<Received>>,
    shutdown: AtomicBool,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Serves `handler` on a free port of `ip` (e.g. "127.0.0.1", "127.0.0.2").
    pub fn start(ip: &str, handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        let listener =
            TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0 for a server: {e}"));
        let addr = listener
            .local_addr()
            .expect("local_addr of a bound listener")
            .to_string();
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::spawn(move || accept_loop(&listener, &accept_shared));
        HttpServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// "IP:PORT" of the server.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            let _ = serve(stream, &shared);
        });
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let (line, headers) = parse_head(&head)?;
    let mut parts = line.split_whitespace();
    let req = Received {
        method: parts.next().unwrap_or("").to_owned(),
        target: parts.next().unwrap_or("").to_owned(),
        headers,
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(req.clone());
    let reply = (shared.handler)(&req);
    let mut out = stream;
    write_reply(&mut out, &reply, req.method == "HEAD")?;
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}

fn write_reply(out: &mut TcpStream, reply: &Reply, head_only: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    out.write_all(head.as_bytes())?;
    if !head_only {
        out.write_all(&reply.body)?;
    }
    out.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
