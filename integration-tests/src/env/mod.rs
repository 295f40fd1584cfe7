//! One test's world: a real `ferryd` in private roots and, as the test asks, a real
//! `docker-registry` (with a [`FaultProxy`] in front of it), an OTLP collector, and a scratch
//! directory for the files a test hands to the CLI.
//!
//! [`EnvBuilder`] names what differs between tests (no registry, a proxy, a mirror, daemon
//! flags and variables, a default bridge, a collector, images pushed or pulled up front);
//! [`Env`] runs the `ferry` CLI against the daemon ([`cli`]).
//!
//! Teardown is `Drop`, so it happens whether the test passes, fails or panics. The fields drop
//! in declaration order: the daemon first (its own `Drop` removes containers, mounts,
//! namespaces and bridges, see [`crate::teardown`]), then the proxy, registry and collector it
//! talked to, then the scratch directory.

mod builder;
mod cli;

use crate::{Daemon, FaultProxy, Image, OtlpSink, Registry};

pub use builder::EnvBuilder;

/// The repository and tag [`EnvBuilder::with_busybox`] pushes `fixtures::busybox()` as.
pub const BUSYBOX: &str = "library/busybox:latest";

/// A running test environment; see the module doc.
#[derive(Debug)]
pub struct Env {
    daemon: Daemon,
    proxy: Option<FaultProxy>,
    registry: Option<Registry>,
    sink: Option<OtlpSink>,
    /// `OTEL_*` variables given to ferryd, and to the CLI by [`Env::traced`].
    otel: Vec<(String, String)>,
    /// `--bridge` of the daemon, if the builder set one.
    bridge: Option<String>,
    /// Images pushed by the builder, by `repo:tag`.
    pushed: Vec<(String, Image)>,
    scratch: tempfile::TempDir,
}

impl Env {
    /// A builder with the defaults: a registry, no proxy, a plain daemon.
    pub fn builder() -> EnvBuilder {
        EnvBuilder::default()
    }

    /// The defaults, started: a registry and a daemon.
    pub fn start() -> Env {
        Self::builder().build()
    }

    /// The daemon.
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// The daemon, to kill, stop or restart it.
    pub fn daemon_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }

    /// The registry; panics if built with [`EnvBuilder::no_registry`].
    pub fn registry(&self) -> &Registry {
        self.registry
            .as_ref()
            .expect("this Env was built without a registry")
    }

    /// The fault proxy; panics unless built with [`EnvBuilder::proxy`].
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy
            .as_ref()
            .expect("this Env was built without EnvBuilder::proxy")
    }

    /// The OTLP collector; panics unless built with [`EnvBuilder::otlp`].
    pub fn sink(&self) -> &OtlpSink {
        self.sink
            .as_ref()
            .expect("this Env was built without EnvBuilder::otlp")
    }

    /// The daemon's default bridge; panics unless the builder set one.
    pub fn bridge(&self) -> &str {
        self.bridge
            .as_deref()
            .expect("this Env was built without a bridge")
    }

    /// The image the builder pushed as `repo_tag`.
    pub fn image(&self, repo_tag: &str) -> &Image {
        self.pushed
            .iter()
            .find(|(t, _)| t == repo_tag)
            .map(|(_, image)| image)
            .unwrap_or_else(|| panic!("the builder pushed nothing as {repo_tag}"))
    }

    /// `<addr>/<repo_tag>` where `addr` is the proxy's if there is one, else the registry's:
    /// what the daemon should pull.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.pull_addr())
    }

    /// The reference of [`BUSYBOX`].
    pub fn busybox(&self) -> String {
        self.reference(BUSYBOX)
    }

    fn pull_addr(&self) -> String {
        match &self.proxy {
            Some(proxy) => proxy.addr(),
            None => self.registry().addr(),
        }
    }

    /// `name` in the scratch directory (which need not exist yet), as a string for the CLI.
    pub fn scratch_path(&self, name: &str) -> String {
        self.scratch.path().join(name).display().to_string()
    }

    /// Writes `bytes` to `name` in the scratch directory; returns its path.
    pub fn scratch_write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.scratch_path(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {p}: {e}"));
        p
    }
}
