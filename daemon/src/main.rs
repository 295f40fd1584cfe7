//! ferryd: parses flags, opens the store, wires the image service to the container table,
//! networking and the shims, and serves their gRPC services on a unix socket.
//!
//! Telemetry is set up before the runtime starts: the `--otlp-*` flags become the `OTEL_*`
//! variables (while the process is still single-threaded), which the shims then inherit.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use ferry_daemon::build::Builder;
use ferry_daemon::containers::{ContainerUsers, Containers};
use ferry_daemon::cri::image_service::ImageServiceImpl;
use ferry_daemon::cri::runtime_service::RuntimeServiceImpl;
use ferry_daemon::cri::sandbox::CniSettings;
use ferry_daemon::cri::Cri;
use ferry_daemon::events::EventBus;
use ferry_daemon::info::{self, Settings};
use ferry_daemon::metrics::Metrics;
use ferry_daemon::services::{
    BuildService, ContainersService, EventsService, NetworksService, SystemService, VolumesService,
};
use ferry_image_service::config::Config;
use ferry_image_service::distribution::{Mirror, RateFloor, RegistryClient, RegistryConfig};
use ferry_image_service::pull::Puller;
use ferry_image_service::services::ImagesService;
use ferry_image_service::store::Store;
use ferry_network::Networks;
use ferry_proto::build::v1::build_server::BuildServer;
use ferry_proto::containers::v1::containers_server::ContainersServer;
use ferry_proto::events::v1::events_server::EventsServer;
use ferry_proto::images::v1::images_server::ImagesServer;
use ferry_proto::networks::v1::networks_server::NetworksServer;
use ferry_proto::system::v1::system_server::SystemServer;
use ferry_proto::volumes::v1::volumes_server::VolumesServer;
use ferry_telemetry::{ServerLayer, Telemetry};
use k8s_cri::v1::image_service_server::ImageServiceServer;
use k8s_cri::v1::runtime_service_server::RuntimeServiceServer;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Ferry's daemon: image service and container table. Flags as dockerd names them.
#[derive(Debug, Parser)]
#[command(name = "ferryd", version)]
struct Args {
    /// Socket to serve on.
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/ferry/ferryd.sock"
    )]
    host: String,
    /// Persistent state: images, content, snapshots.
    #[arg(long, default_value = "/var/lib/ferry")]
    data_root: PathBuf,
    /// Runtime state: mounts, sockets.
    #[arg(long, default_value = "/run/ferry")]
    exec_root: PathBuf,
    /// Registry (HOST:PORT) to reach over plain HTTP; loopback registries always may be.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// Pull mirror: a bare URL (http://HOST:PORT, https://HOST) for Docker Hub, or
    /// REGISTRY=URL (registry.k8s.io=http://127.0.0.1:5001) for another registry; names keep
    /// their registry, and a failing mirror falls back to the next, then to the registry.
    #[arg(long = "registry-mirror", value_name = "[REGISTRY=]URL")]
    registry_mirrors: Vec<Mirror>,
    /// Layers downloaded at once per pull.
    #[arg(long, default_value_t = 3)]
    max_concurrent_downloads: usize,
    /// Cap on one layer's decompressed size, in bytes (a gzip bomb costs at most this much).
    #[arg(long, default_value_t = 64 << 30)]
    max_layer_size: u64,
    /// A layer may inflate to N times its compressed size (or 512 MiB), bounding decompression
    /// bombs; 0 for no bound but --max-layer-size.
    #[arg(long, default_value_t = 64)]
    max_layer_ratio: u64,
    /// Free bytes a pull leaves on the data root's filesystem: a layer that would go below is
    /// stopped and the pull rolled back (0: no reserve).
    #[arg(long, default_value_t = 1 << 30)]
    min_free_space: u64,
    /// Bytes any layer may inflate to whatever its ratio (small layers compress unevenly).
    #[arg(long, default_value_t = 512 << 20)]
    layer_ratio_allowance: u64,
    /// Attempts per layer download before the pull fails (a dropped connection resumes).
    #[arg(long, default_value_t = 5)]
    max_download_attempts: u32,
    /// Seconds a registry connection may stay silent before it is dropped and resumed.
    #[arg(long, default_value_t = 30)]
    registry_timeout: u64,
    /// Bytes a second a layer download must average over --download-rate-window, or its
    /// connection is dropped and resumed (curl's --speed-limit; a registry that drips a byte
    /// every few seconds never trips --registry-timeout); 0: no floor.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    min_download_rate: u64,
    /// Seconds over which --min-download-rate is measured (curl's --speed-time).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    download_rate_window: u64,
    /// The per-container shim (default: ferry-shim next to ferryd).
    #[arg(long)]
    shim_binary: Option<PathBuf>,
    /// Interface of the default `bridge` network; `none` disables it (containers then get
    /// `--network none` unless they name a network), as dockerd's `--bridge none`.
    #[arg(short = 'b', long = "bridge", default_value = "ferry0")]
    bridge: String,
    /// Debug logging (RUST_LOG overrides).
    #[arg(short = 'D', long)]
    debug: bool,
    /// Export traces over OTLP to URL (sets OTEL_EXPORTER_OTLP_ENDPOINT, for the shims too).
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// OTLP protocol: grpc or http/protobuf (sets OTEL_EXPORTER_OTLP_PROTOCOL).
    #[arg(long, value_name = "PROTOCOL")]
    otlp_protocol: Option<String>,
    /// Serve the CRI v1 runtime and image services (kubelet, crictl) on this socket;
    /// `none` turns them off. Default: unix://<exec-root>/cri.sock (/run/ferry/cri.sock).
    #[arg(long, value_name = "unix:///PATH|none")]
    cri_socket: Option<String>,
    /// Pods join the first CNI configuration here (Ferry's default bridge when there is none).
    #[arg(long, default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
    /// Where CNI plugins are looked for, in order (repeatable).
    #[arg(long, default_values = ["/usr/lib/cni", "/opt/cni/bin"])]
    cni_bin_dir: Vec<PathBuf>,
    /// Serve the CRI streaming server (exec, attach, port-forward URLs) on ADDR; `none` turns
    /// it off. Default 127.0.0.1:0: a free loopback port.
    #[arg(long, value_name = "ADDR|none", default_value = "127.0.0.1:0")]
    stream_address: String,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9323.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    export_otlp_flags(&args);
    let mut telemetry = ferry_telemetry::Setup::new("ferryd").init();
    init_logging(args.debug, &telemetry);
    if let Some(p) = telemetry.problem() {
        tracing::warn!("{p}; traces are not exported");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let res = rt.block_on(serve(args));
    drop(rt);
    telemetry.shutdown();
    res
}

/// The flags as the variables the exporter (and every shim) reads. Called before any thread
/// exists, which is what makes `set_var` sound.
fn export_otlp_flags(args: &Args) {
    if let Some(e) = &args.otlp_endpoint {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", e);
    }
    if let Some(p) = &args.otlp_protocol {
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", p);
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let socket = socket_path(&args.host)?;
    let mut cfg = Config::new(args.data_root, args.exec_root);
    cfg.insecure_registries = args.insecure_registries;
    cfg.max_concurrent_downloads = args.max_concurrent_downloads.max(1);
    cfg.max_retries = args.max_download_attempts.saturating_sub(1);
    cfg.max_layer_bytes = args.max_layer_size;
    cfg.max_layer_ratio = args.max_layer_ratio;
    cfg.ratio_allowance = args.layer_ratio_allowance;
    cfg.min_free_bytes = args.min_free_space;
    cfg.stall_timeout = std::time::Duration::from_secs(args.registry_timeout.max(1));
    cfg.rate_floor = RateFloor {
        min: args.min_download_rate,
        window: std::time::Duration::from_secs(args.download_rate_window),
    };

    let store = {
        let (d, e) = (cfg.data_root.clone(), cfg.exec_root.clone());
        // The container table answers the image service's "who uses this image" (rmi, GC).
        let users = Arc::new(ContainerUsers);
        tokio::task::spawn_blocking(move || Store::open(&d, &e, users)).await??
    };
    let registry = RegistryClient::new(RegistryConfig {
        insecure: cfg.insecure_registries.clone(),
        connect_timeout: cfg.connect_timeout,
        read_timeout: cfg.stall_timeout,
        rate_floor: cfg.rate_floor,
        max_retries: cfg.max_retries,
        retry_backoff: std::time::Duration::from_millis(200),
        mirrors: args.registry_mirrors.clone(),
    })?;
    let store = Arc::new(store);
    let shim = match args.shim_binary {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("ferry-shim"),
    };
    let networks = Networks::new(
        &cfg.data_root,
        &cfg.exec_root,
        (args.bridge != "none").then(|| args.bridge.clone()),
    );
    let events = Arc::new(EventBus::default());
    let metrics = Arc::new(Metrics::default());
    store.events.set(Arc::clone(&events) as _);
    let containers = Containers::new(
        Arc::clone(&store),
        cfg.data_root.clone(),
        cfg.exec_root.clone(),
        shim,
        networks,
        Arc::clone(&events),
    )?;
    let puller = Arc::new(
        Puller::new(cfg.clone(), Arc::clone(&store), registry).with_metrics(metrics.pull()),
    );
    let cni = CniSettings {
        conf_dir: args.cni_conf_dir.clone(),
        bin_dirs: args.cni_bin_dir.clone(),
    };
    let cri = Cri::new(Arc::clone(&containers), Arc::clone(&puller), cni)?;
    cri.sandboxes.repair().await?;
    containers.recover(cri.sandboxes.ready_ids()?).await?;
    if let Some(addr) = args.metrics_addr {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("bind metrics address {addr}"))?;
        tracing::info!(addr = %l.local_addr()?, "serving metrics");
        tokio::spawn(Arc::clone(&metrics).serve(l, Arc::clone(&containers)));
    }
    let settings = Settings {
        engine_id: info::engine_id::load_or_create(&cfg.data_root)?,
        data_root: cfg.data_root.clone(),
        debug: args.debug,
        insecure_registries: cfg.insecure_registries.clone(),
        registry_mirrors: args.registry_mirrors,
    };
    let system = SystemService::new(Arc::clone(&store), Arc::clone(&containers), settings);
    let cri_socket = match args.cri_socket.as_deref() {
        Some("none") => None,
        Some(host) => Some(socket_path(host)?),
        None => Some(cfg.exec_root.join("cri.sock")),
    };
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown().await;
            stop.cancel();
        }
    });
    let cri_server = match cri_socket {
        Some(path) => {
            serve_streaming(&cri, &args.stream_address, stop.clone()).await?;
            Some(serve_cri(cri, path, stop.clone()).await?)
        }
        None => None,
    };
    let builder = Arc::new(Builder::new(Arc::clone(&containers), Arc::clone(&puller)));
    builder.sweep();
    let listener = bind(&socket).await?;
    tracing::info!(socket = %socket.display(), "ferryd serving");
    let served = tonic::transport::Server::builder()
        .layer(ServerLayer)
        .layer(metrics.rpc_layer())
        .add_service(ImagesServer::new(ImagesService::new(puller)))
        .add_service(ContainersServer::new(ContainersService::new(Arc::clone(
            &containers,
        ))))
        .add_service(VolumesServer::new(VolumesService::new(Arc::clone(
            &containers,
        ))))
        .add_service(NetworksServer::new(NetworksService::new(containers)))
        .add_service(SystemServer::new(system))
        .add_service(EventsServer::new(EventsService::new(events)))
        .add_service(BuildServer::new(BuildService::new(builder)))
        .serve_with_incoming_shutdown(
            UnixListenerStream::new(listener),
            stop.clone().cancelled_owned(),
        )
        .await;
    stop.cancel();
    if let Some(mut cri) = cri_server {
        // A kubelet keeps its connection (and event stream) open: after a grace period the
        // CRI server stops without waiting for it.
        match tokio::time::timeout(std::time::Duration::from_secs(2), &mut cri).await {
            Ok(res) => res??,
            Err(_) => cri.abort(),
        }
    }
    served?;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("ferryd stopped");
    Ok(())
}

/// Binds the CRI streaming server (its address is what Exec/Attach/PortForward URLs name)
/// and serves it until `stop`.
async fn serve_streaming(
    cri: &Arc<Cri>,
    addr: &str,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if addr == "none" {
        return Ok(());
    }
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("--stream-address {addr:?}: not HOST:PORT"))?;
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind stream address {addr}"))?;
    let bound = l.local_addr()?;
    cri.streaming.set_address(bound);
    tracing::info!(addr = %bound, "serving CRI streaming");
    tokio::spawn(ferry_daemon::cri::streaming::http::serve(
        l,
        Arc::clone(cri),
        stop,
    ));
    Ok(())
}

/// Serves `runtime.v1` on `path` until `stop`; the socket goes when it ends.
async fn serve_cri(
    cri: Arc<Cri>,
    path: PathBuf,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let listener = bind(&path).await?;
    tracing::info!(socket = %path.display(), "serving the CRI");
    Ok(tokio::spawn(async move {
        let res = tonic::transport::Server::builder()
            .layer(ServerLayer)
            .add_service(RuntimeServiceServer::new(RuntimeServiceImpl::new(
                Arc::clone(&cri),
            )))
            .add_service(ImageServiceServer::new(ImageServiceImpl::new(cri)))
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop.cancelled_owned())
            .await;
        let _ = std::fs::remove_file(&path);
        Ok(res?)
    }))
    // An aborted server leaves its socket file: the next start's `bind` replaces it.
}

/// Log lines to stderr (RUST_LOG, or info/debug); ferryd's own spans at info and above to the
/// OTLP exporter when there is one. A request's log lines carry its `trace_id`.
fn init_logging(debug: bool, telemetry: &Telemetry) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ours = Targets::new()
        .with_target("ferry_image_service", LevelFilter::INFO)
        .with_target("ferry_daemon", LevelFilter::INFO)
        .with_target("ferry_network", LevelFilter::INFO)
        .with_target("ferry_telemetry", LevelFilter::INFO)
        .with_target("ferryd", LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(telemetry.layer().map(|l| l.with_filter(ours)))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        .init();
}

fn socket_path(host: &str) -> anyhow::Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => bail!("invalid host {host:?}: only unix:///PATH is supported"),
    }
}

/// Binds the socket, refusing to steal one that another ferryd still serves.
async fn bind(socket: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if socket.exists() {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            bail!("{} is in use by another daemon", socket.display());
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("remove stale {}", socket.display()))?;
    }
    let listener =
        UnixListener::bind(socket).with_context(|| format!("bind {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("shutting down");
}
