//! RUN: a real container on the step's root, through ferry-shim and crun/runc like any other,
//! but with no record in the container table (a build's containers are not `ps`'s). Its
//! bundle is written by the containers' own `bundle::write_bundle` (the image config of the
//! step, the RUN's argv as the command, the entrypoint cleared); it runs in the host's network
//! namespace; its output is streamed line by line as it comes. A build dropped mid-RUN still retires the
//! shim, which kills the process.

use std::time::Instant;

use ferry_proto::docker::StartFailure;
use tokio::sync::mpsc;

use super::error::BuildError;
use super::step::StepRoot;
use super::Progress;
use crate::containers::record::{ContainerConfig, ContainerRecord, MountConfig};
use crate::containers::spec::ImageRuntimeConfig;
use crate::containers::Containers;
use crate::error::{Error, Result};
use crate::shim::client::CreateOptions;
use crate::shim::Shim;

/// What a RUN runs, fully resolved.
#[derive(Debug, Clone)]
pub(crate) struct RunSpec {
    pub argv: Vec<String>,
    /// ARG values the stage's ENV does not override (they reach RUN only, as in Docker).
    pub env: Vec<String>,
    pub image: ImageRuntimeConfig,
    pub step: u32,
    /// RUN --mount, as the container spec takes them.
    pub mounts: Vec<MountConfig>,
    /// "host" (the default) or "none".
    pub network: String,
}

/// Runs `spec` on `root` and returns its exit code; output goes to `progress`.
pub(crate) async fn run(
    containers: &Containers,
    root: &StepRoot,
    spec: &RunSpec,
    progress: &mpsc::Sender<Progress>,
) -> Result<i32> {
    let rec = ContainerRecord::new(
        root.id.clone(),
        format!("build-{}", &root.id[..12]),
        ContainerConfig {
            cmd: spec.argv.clone(),
            entrypoint: Some(String::new()),
            env: spec.env.clone(),
            network: spec.network.clone(),
            mounts: spec.mounts.clone(),
            ..Default::default()
        },
        String::new(),
    );
    let (r, img, paths, volumes) = (
        rec.clone(),
        spec.image.clone(),
        root.paths.clone(),
        std::sync::Arc::clone(&containers.volumes),
    );
    tokio::task::spawn_blocking(move || {
        crate::containers::bundle::write_bundle(&r, &img, &paths, &volumes)
    })
    .await
    .map_err(Error::blocking("build bundle"))??;
    let runtime = rec.config.runtime_name();
    let shim = containers
        .launcher
        .launch(&rec.id, &root.paths, runtime)
        .await?;
    let guard = Retire(Some(shim.clone()));
    let res = drive(&shim, &rec, runtime, root, spec, progress).await;
    guard.now().await;
    res
}

/// Retires the shim (killing the process) however the RUN ends: awaited when it ends, and
/// spawned when the build is dropped mid-step (the client hung up, Ctrl-C).
struct Retire(Option<Shim>);

impl Retire {
    async fn now(mut self) {
        if let Some(s) = self.0.take() {
            s.retire().await;
        }
    }
}

impl Drop for Retire {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            tokio::spawn(async move { s.retire().await });
        }
    }
}

async fn drive(
    shim: &Shim,
    rec: &ContainerRecord,
    runtime: &str,
    root: &StepRoot,
    spec: &RunSpec,
    progress: &mpsc::Sender<Progress>,
) -> Result<i32> {
    let opts = CreateOptions {
        bundle: &root.paths.bundle,
        runtime,
        terminal: false,
        stdin: false,
        log_max_size: rec.config.log_max_size,
        log_max_file: rec.config.log_max_file,
        cri_log: None,
    };
    if let Err(e) = shim.create(&opts).await {
        let msg = e.runtime_message();
        let _ = progress
            .send(Progress::Log {
                step: spec.step,
                line: msg.clone(),
                elapsed: 0.0,
            })
            .await;
        return Ok(StartFailure::of(&msg).exit_code());
    }
    let mut attach = shim.attach("").await?;
    shim.start().await?;
    let started = Instant::now();
    let mut pending = Vec::new();
    while let Some(out) = attach.output.message().await.map_err(Error::Shim)? {
        pending.extend_from_slice(&out.data);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            send_line(progress, spec.step, &line[..i], started).await;
        }
    }
    if !pending.is_empty() {
        send_line(progress, spec.step, &pending, started).await;
    }
    Ok(shim.wait("").await?.exit_code)
}

async fn send_line(progress: &mpsc::Sender<Progress>, step: u32, line: &[u8], t: Instant) {
    let line = String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .to_string();
    let elapsed = t.elapsed().as_secs_f64();
    let _ = progress
        .send(Progress::Log {
            step,
            line,
            elapsed,
        })
        .await;
}

/// The error of a RUN that exited `code`, in BuildKit's words.
pub(crate) fn failed(argv: &[String], code: i32) -> BuildError {
    BuildError::RunFailed {
        command: argv.join(" "),
        code,
    }
}
