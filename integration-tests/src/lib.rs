//! Harness for Ferry's end-to-end tests.
//!
//! Everything here drives real components: the Debian `docker-registry`
//! ([`registry`]), a real TCP fault-injecting proxy ([`proxy`]), images built
//! byte-for-byte in code ([`fixtures`]) and the real `ferryd`/`ferry`
//! binaries ([`daemon`]). Nothing is mocked. [`env`] puts them together into one test's world,
//! torn down (containers, mounts, namespaces, bridges, temporary roots) when it drops.

pub mod checks;
pub mod cri;
pub mod daemon;
pub mod env;
pub mod fixtures;
pub mod http;
pub mod otlp;
pub mod proxy;
pub mod registry;
pub mod server;
mod teardown;
pub mod token;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

pub use daemon::{CmdOutput, Daemon, DaemonOpts};
pub use env::{Env, EnvBuilder, BUSYBOX};
pub use fixtures::{
    Compression, Image, ImageBuilder, Index, IndexBuilder, Layer, LayerBuilder, ManifestFormat,
};
pub use otlp::{OtlpSink, RecvSpan};
pub use proxy::FaultProxy;
pub use registry::Registry;
pub use server::{HttpServer, Received, Reply};
pub use token::{TokenPolicy, TokenServer};

/// A loopback TCP port that was free a moment ago (bind to port 0, read, drop).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for a free port");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// Polls `cond` every 20 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A fresh temporary directory under `/var/tmp` (a real disk filesystem, not tmpfs).
pub fn var_tmpdir(prefix: &str) -> tempfile::TempDir {
    let base = Path::new("/var/tmp");
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .expect("create a temporary directory under /var/tmp")
}

/// A number unlikely to repeat between tests running side by side (the clock's nanoseconds
/// mixed with the pid), for names that live on the host: bridges, networks.
pub fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    t.subsec_nanos() ^ std::process::id().rotate_left(16)
}
