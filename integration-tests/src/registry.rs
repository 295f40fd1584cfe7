//! A real Docker distribution registry (`/usr/bin/docker-registry`, v2.8)
//! on a free loopback port, storing blobs in a temporary directory.
//!
//! The process is killed when the [`Registry`] is dropped. Its log is kept in
//! the temporary directory and shown in panic messages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::http::Request;
use crate::token::{self, TokenServer};
use crate::{free_port, var_tmpdir, wait_until};

/// Path of the registry binary (Debian package `docker-registry`).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `docker-registry` process.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
    auth: Option<(String, String)>,
    token_auth: bool,
}

/// How a registry authenticates clients.
#[derive(Debug)]
enum AuthMode<'a> {
    Anonymous,
    Htpasswd(&'a (String, String)),
    Token(&'a TokenServer),
}

impl Registry {
    /// Starts an anonymous registry and waits until `GET /v2/` answers 200.
    pub fn start() -> Registry {
        Self::start_inner(None, None)
    }

    /// Starts a registry requiring HTTP basic auth with `user`/`pass`
    /// (htpasswd file with a bcrypt hash). Waits until `GET /v2/` with those
    /// credentials answers 200 (and without them, 401).
    pub fn start_with_auth(user: &str, pass: &str) -> Registry {
        Self::start_inner(Some((user.to_owned(), pass.to_owned())), None)
    }

    /// Starts a registry trusting bearer tokens from `tokens` (`auth: token`,
    /// realm, service, issuer and root certificate taken from it). Waits until
    /// `GET /v2/` answers 401 with a `Bearer` challenge.
    pub fn start_with_token_auth(tokens: &TokenServer) -> Registry {
        Self::start_inner(None, Some(tokens))
    }

    fn start_inner(auth: Option<(String, String)>, tokens: Option<&TokenServer>) -> Registry {
        let dir = var_tmpdir("ferry-registry-");
        let addr = format!("127.0.0.1:{}", free_port());
        let mode = match (&auth, tokens) {
            (_, Some(t)) => AuthMode::Token(t),
            (Some(a), None) => AuthMode::Htpasswd(a),
            (None, None) => AuthMode::Anonymous,
        };
        let config = write_config(dir.path(), &addr, &mode);
        let log = fs::File::create(dir.path().join("registry.log")).expect("create registry.log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone registry.log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {REGISTRY_BIN}: {e}"));
        let mut registry = Registry {
            child,
            addr,
            dir,
            auth,
            token_auth: tokens.is_some(),
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let ready = wait_until(READY_TIMEOUT, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited with {status}; log:\n{}", self.log());
            }
            let want = if self.token_auth { 401 } else { 200 };
            self.ping() == Some(want)
        });
        assert!(
            ready,
            "docker-registry on {} not ready after {READY_TIMEOUT:?}; log:\n{}",
            self.addr,
            self.log()
        );
    }

    /// Status of `GET /v2/` (with credentials if the registry has auth).
    fn ping(&self) -> Option<u16> {
        let mut req = Request::get("/v2/").timeout(Duration::from_secs(2));
        if let Some(value) = self.authorization() {
            req = req.header("Authorization", &value);
        }
        req.send(&self.addr).ok().map(|r| r.status)
    }

    /// "127.0.0.1:PORT".
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The `rootdirectory` of the filesystem storage driver (tests may tamper with it).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `(user, password)` if started with [`Registry::start_with_auth`].
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `Basic …` Authorization header value if the registry has auth.
    pub fn authorization(&self) -> Option<String> {
        self.credentials().map(|(u, p)| basic_auth(u, p))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Basic base64(user:pass)`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

fn write_config(dir: &Path, addr: &str, mode: &AuthMode<'_>) -> PathBuf {
    let storage = dir.join("storage");
    fs::create_dir_all(&storage).expect("create registry storage dir");
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n",
        storage.display()
    );
    match mode {
        AuthMode::Anonymous => {}
        AuthMode::Htpasswd((user, pass)) => {
            let htpasswd = dir.join("htpasswd");
            fs::write(&htpasswd, htpasswd_line(user, pass)).expect("write htpasswd");
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        AuthMode::Token(tokens) => yaml.push_str(&format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
             rootcertbundle: {}\n",
            tokens.realm(),
            token::SERVICE,
            token::ISSUER,
            tokens.cert_bundle().display()
        )),
    }
    let path = dir.join("config.yml");
    fs::write(&path, yaml).expect("write registry config.yml");
    path
}

fn htpasswd_line(user: &str, pass: &str) -> String {
    let hash = bcrypt::hash(pass, 4).expect("bcrypt hash of the registry password");
    format!("{user}:{hash}\n")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
