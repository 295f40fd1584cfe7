//! ferry-shim: flags, daemonize, wire the layers, serve. See the crate docs for what it does
//! and `daemon` for the startup order.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use ferry_shim::daemon::{self, Ready};
use ferry_shim::oci::args::RuntimeKind;
use ferry_shim::process::{Shim, ShimConfig};
use ferry_shim::reaper::Reaper;
use ferry_shim::server;
use ferry_telemetry::{propagate, Telemetry};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The per-container process of Ferry.
#[derive(Debug, Parser)]
#[command(name = "ferry-shim", version)]
struct Args {
    /// Container id.
    #[arg(long)]
    id: String,
    /// OCI bundle directory (config.json + rootfs).
    #[arg(long)]
    bundle: PathBuf,
    /// Unix socket to serve ferry.shim.v1 on (its directory should be 0700).
    #[arg(long)]
    socket: PathBuf,
    /// Per-container directory for logs, exit.json and the shim's own log.
    #[arg(long)]
    state_dir: PathBuf,
    /// Parent of the runtimes' private state roots (<dir>/crun, <dir>/runc).
    #[arg(long)]
    runtime_root: PathBuf,
    /// OCI runtime: crun or runc.
    #[arg(long, default_value = "crun")]
    runtime: String,
    /// Write one JSON line ({"pid","socket"} or {"error"}) to this fd when ready, then close it.
    #[arg(long)]
    ready_fd: Option<i32>,
    /// Stay in the foreground (no fork, no setsid); for debugging.
    #[arg(long)]
    foreground: bool,
    /// Log debug detail to <state-dir>/shim.log.
    #[arg(long)]
    debug: bool,
    /// Do not mask the hybrid cgroup v2 controllers (crun 1.8 then refuses; the shim falls
    /// back to runc).
    #[arg(long)]
    no_cgroup_mask: bool,
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(ferry_shim::pod_init::ARG) {
        return match ferry_shim::pod_init::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferry-shim pod-init: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::parse();
    // The launch's trace context; cleared so the runtime and the container never see it.
    let parent = propagate::take_env_context();
    let ready = match prepare(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry-shim: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferry-shim: {e:#}");
            ready.fail(&format!("{e:#}"));
            return ExitCode::FAILURE;
        }
    };
    if !args.foreground {
        if let Err(e) = daemon::daemonize().and_then(|()| daemon::redirect_stdio()) {
            ready.fail(&format!("daemonize: {e:#}"));
            return ExitCode::FAILURE;
        }
    }
    // After daemonizing: the exporter's threads would not survive the forks.
    let mut telemetry = ferry_telemetry::Setup::new("ferry-shim")
        .attribute("container.id", cfg.id.clone())
        .init();
    init_tracing(&cfg.state_dir.join("shim.log"), args.debug, &telemetry);
    let start = tracing::info_span!("shim_start", container.id = %cfg.id, runtime = %args.runtime);
    propagate::set_parent(&start, parent);
    let code = match run(cfg, &args.socket, !args.no_cgroup_mask, ready, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

/// Create the state dir and take the ready fd, before anything can fail silently.
fn prepare(args: &Args) -> anyhow::Result<Ready> {
    let ready = Ready::from_fd(args.ready_fd)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.state_dir)
        .with_context(|| format!("create state dir {}", args.state_dir.display()))?;
    Ok(ready)
}

fn config(args: &Args) -> anyhow::Result<ShimConfig> {
    let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("path {}", p.display()));
    Ok(ShimConfig {
        id: args.id.clone(),
        bundle: abs(&args.bundle)?,
        state_dir: abs(&args.state_dir)?,
        runtime_root: abs(&args.runtime_root)?,
        runtime: RuntimeKind::parse(&args.runtime)
            .with_context(|| format!("unknown runtime {:?} (crun or runc)", args.runtime))?,
        console_prefix: abs(&args.socket.with_extension(""))?,
    })
}

fn init_tracing(path: &Path, debug: bool, telemetry: &Telemetry) {
    let file = File::options().create(true).append(true).open(path).ok();
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    // Our own events at `level`; the libraries' (h2, tonic) only when they warn.
    let filter = Targets::new()
        .with_target("ferry_shim", level)
        .with_target("ferry_telemetry", tracing::Level::INFO)
        .with_default(tracing::Level::WARN);
    let fmt = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_writer(Mutex::new(f))
            .with_ansi(false)
    });
    tracing_subscriber::registry()
        .with(telemetry.layer())
        .with(fmt)
        .with(filter)
        .init();
}

/// Everything after daemonizing: namespace, reaper, socket, serve. `start` spans the start-up,
/// up to readiness.
fn run(
    cfg: ShimConfig,
    socket: &Path,
    mask: bool,
    ready: Ready,
    start: tracing::Span,
) -> anyhow::Result<()> {
    let start = start.entered();
    let socket = std::path::absolute(socket).context("socket path")?;
    if let Err(e) = daemon::become_subreaper() {
        tracing::warn!("{e:#}");
    }
    match daemon::isolate_mounts(&cfg.state_dir, mask) {
        Ok(note) => tracing::info!("{note}"),
        Err(e) => tracing::warn!("mount namespace: {e:#}; crun may refuse hybrid cgroups"),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async {
        let started = Reaper::start().and_then(|reaper| Ok((reaper, server::bind(&socket)?)));
        let (reaper, listener) = match started {
            Ok(x) => x,
            Err(e) => {
                ready.fail(&format!("{e:#}"));
                return Err(e.into());
            }
        };
        tracing::info!(id = %cfg.id, socket = %socket.display(), "serving");
        ready.ok(std::process::id(), &socket);
        // No await has happened yet: the start-up span ends here, before serving.
        drop(start);
        let shim = Arc::new(Shim::new(cfg, reaper));
        let r = server::serve(shim, listener).await;
        let _ = std::fs::remove_file(&socket);
        tracing::info!("shim exiting");
        r.map_err(anyhow::Error::from)
    })
}
