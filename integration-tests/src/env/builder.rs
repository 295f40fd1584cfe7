//! [`EnvBuilder`]: what a test's [`Env`] starts with.
//!
//! [`EnvBuilder::build`] starts the parts in the order the daemon needs them: the collector and
//! the registry (and its proxy) exist, and the images are pushed, before `ferryd` starts with
//! flags naming them; the images to pull are pulled last, by the daemon.

use crate::{var_tmpdir, Daemon, DaemonOpts, FaultProxy, Image, OtlpSink, Registry};

use super::{Env, BUSYBOX};

/// The options of an [`Env`]; start one with [`Env::builder`].
#[derive(Debug)]
pub struct EnvBuilder {
    registry: bool,
    proxy: bool,
    /// Registries the harness's registry mirrors (`--registry-mirror`), in order.
    mirrors: Vec<String>,
    otlp: Option<String>,
    bridge: Option<String>,
    opts: DaemonOpts,
    /// `(repo_tag, image, pull it too)`, in order.
    images: Vec<(String, Image, bool)>,
}

impl Default for EnvBuilder {
    fn default() -> Self {
        EnvBuilder {
            registry: true,
            proxy: false,
            mirrors: Vec::new(),
            otlp: None,
            bridge: None,
            opts: DaemonOpts::default(),
            images: Vec::new(),
        }
    }
}

impl EnvBuilder {
    /// No registry (and so no proxy, mirror or images).
    pub fn no_registry(mut self) -> Self {
        self.registry = false;
        self
    }

    /// A [`FaultProxy`] in front of the registry; [`Env::reference`] then names the proxy.
    pub fn proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    /// The registry as ferryd's `--registry-mirror` (so Docker Hub names resolve to it).
    pub fn mirror(self) -> Self {
        self.mirror_for("docker.io")
    }

    /// The registry as `registry`'s mirror (`--registry-mirror REGISTRY=URL`), so names such
    /// as `registry.k8s.io/pause:3.9` resolve to it; Docker Hub's is given in Docker's form.
    pub fn mirror_for(mut self, registry: &str) -> Self {
        self.mirrors.push(registry.to_owned());
        self
    }

    /// An [`OtlpSink`] receiving ferryd's spans over `protocol` (`grpc` or `http/protobuf`),
    /// exported every 100 ms; [`Env::traced`] points the CLI at it too.
    pub fn otlp(mut self, protocol: &str) -> Self {
        self.otlp = Some(protocol.to_owned());
        self
    }

    /// `--bridge <name>`: the daemon's default network gets this bridge (the harness otherwise
    /// starts daemons with `--bridge none`, as many run side by side).
    pub fn bridge(mut self, name: &str) -> Self {
        self.bridge = Some(name.to_owned());
        self
    }

    /// A ferryd argument, e.g. `.daemon_arg("--max-layer-size").daemon_arg("65536")`.
    pub fn daemon_arg(mut self, arg: &str) -> Self {
        self.opts = self.opts.arg(arg);
        self
    }

    /// A variable in ferryd's environment.
    pub fn daemon_env(mut self, key: &str, value: &str) -> Self {
        self.opts = self.opts.env(key, value);
        self
    }

    /// Pushes `image` to the registry as `repo_tag` (see [`Env::image`]).
    pub fn push(mut self, image: Image, repo_tag: &str) -> Self {
        self.images.push((repo_tag.to_owned(), image, false));
        self
    }

    /// Pushes `image` as `repo_tag`, and has the daemon pull it (`pull -q`) once started.
    pub fn pull(mut self, image: Image, repo_tag: &str) -> Self {
        self.images.push((repo_tag.to_owned(), image, true));
        self
    }

    /// Pulls `fixtures::busybox()` as [`BUSYBOX`] (see [`Env::busybox`]).
    pub fn with_busybox(self) -> Self {
        self.pull(crate::fixtures::busybox(), BUSYBOX)
    }

    /// Starts everything; see the module doc for the order.
    pub fn build(self) -> Env {
        let sink = self.otlp.as_ref().map(|_| OtlpSink::start());
        let otel = match (&sink, &self.otlp) {
            (Some(sink), Some(protocol)) => otel_vars(sink, protocol),
            _ => Vec::new(),
        };
        let registry = self.registry.then(Registry::start);
        let proxy = match (&registry, self.proxy) {
            (Some(r), true) => Some(FaultProxy::start(&r.addr())),
            (None, true) => panic!("EnvBuilder::proxy needs a registry"),
            _ => None,
        };
        let mut pulls = Vec::new();
        let mut pushed = Vec::new();
        for (repo_tag, image, pull) in self.images {
            let r = registry.as_ref().expect("pushing images needs a registry");
            image.push(&r.addr(), &repo_tag);
            if pull {
                pulls.push(repo_tag.clone());
            }
            pushed.push((repo_tag, image));
        }
        let opts = daemon_opts(self.opts, &registry, &self.mirrors, &self.bridge, &otel);
        let env = Env {
            daemon: Daemon::start(opts),
            proxy,
            registry,
            sink,
            otel,
            bridge: self.bridge,
            pushed,
            scratch: var_tmpdir("ferry-scratch-"),
        };
        for repo_tag in pulls {
            env.ok(&["pull", "-q", &env.reference(&repo_tag)]);
        }
        env
    }
}

/// The exporter's variables for `sink` over `protocol`.
fn otel_vars(sink: &OtlpSink, protocol: &str) -> Vec<(String, String)> {
    let endpoint = match protocol {
        "grpc" => sink.grpc_endpoint(),
        _ => sink.http_endpoint(),
    };
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            protocol.to_owned(),
        ),
        // ferryd exports every 100 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
    ]
}

/// The caller's options plus the flags and variables naming the other parts.
fn daemon_opts(
    mut opts: DaemonOpts,
    registry: &Option<Registry>,
    mirrors: &[String],
    bridge: &Option<String>,
    otel: &[(String, String)],
) -> DaemonOpts {
    for mirrored in mirrors {
        let r = registry
            .as_ref()
            .expect("EnvBuilder::mirror needs a registry");
        let url = format!("http://{}", r.addr());
        let flag = match mirrored.as_str() {
            "docker.io" => url,
            other => format!("{other}={url}"),
        };
        opts = opts.arg("--registry-mirror").arg(&flag);
    }
    if let Some(bridge) = bridge {
        opts = opts.arg("--bridge").arg(bridge);
    }
    for (k, v) in otel {
        opts = opts.env(k, v);
    }
    opts
}
