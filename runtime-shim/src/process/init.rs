//! The container and its init process: create (with the crun -> runc fallback), start, kill,
//! pause, resume, ps, delete, reopen of the CRI log. Runtime calls that change the status are
//! serialised by `op`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::exec::ExecEntry;
use super::status::{write_exit_file, Exit, Status};
use super::{read_pid_file, IoPlan, Process, ShimConfig};
use crate::error::{Error, Result};
use crate::io::cri::CriLog;
use crate::io::logs::JsonLog;
use crate::io::{Logs, ProcessIo};
use crate::oci::args::{CreateOpts, RuntimeKind};
use crate::oci::Runtime;
use crate::reaper::Reaper;

/// How long Delete waits for a killed init to be reaped.
const DELETE_WAIT: Duration = Duration::from_secs(10);

/// What Create asks for.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// `None`: the shim's `--bundle`.
    pub bundle: Option<PathBuf>,
    pub terminal: bool,
    pub stdin: bool,
    /// `None`: the shim's `--runtime`.
    pub runtime: Option<RuntimeKind>,
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// Also log the init's output here in the CRI format (absolute; kubelet's file).
    pub cri_log: Option<PathBuf>,
}

/// Where the json-file log lives: the state dir, named as Docker names it.
fn json_log_path(cfg: &ShimConfig) -> PathBuf {
    cfg.state_dir.join(format!("{}-json.log", cfg.id))
}

/// What Create reports.
#[derive(Debug, Clone)]
pub struct Created {
    pub pid: i32,
    pub runtime_used: RuntimeKind,
    pub warning: Option<String>,
}

/// The shim's container.
#[derive(Debug)]
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub log_path: PathBuf,
    pub warning: Option<String>,
    pub(super) runtime: Runtime,
    pub(super) state_dir: PathBuf,
    pub(super) console_prefix: PathBuf,
    pub(super) reaper: Reaper,
    pub init: Arc<Process>,
    /// Shared with the init's output pumps, which write it; ReopenLog swaps its file.
    cri_log: Option<Arc<CriLog>>,
    /// Last status set by a runtime call; `Stopped` is derived from the init's exit.
    status: Mutex<Status>,
    op: tokio::sync::Mutex<()>,
    pub(super) execs: Mutex<HashMap<String, ExecEntry>>,
}

impl Container {
    /// Run `create`; with crun, retry with runc when crun refused for a cgroup reason.
    pub(super) async fn create(
        cfg: &ShimConfig,
        reaper: &Reaper,
        o: CreateOptions,
    ) -> Result<(Self, Created)> {
        let bundle = o.bundle.clone().unwrap_or_else(|| cfg.bundle.clone());
        let kind = o.runtime.unwrap_or(cfg.runtime);
        let log_path = json_log_path(cfg);
        // Opened before the runtime runs, so a bad path fails Create with nothing to undo.
        let cri_log = o.cri_log.as_deref().map(CriLog::open).transpose()?;
        let cri_log = cri_log.map(Arc::new);
        let cri = cri_log.as_ref();
        let rt = Runtime::new(kind, &cfg.runtime_root, reaper.clone())?;
        let (rt, pid, io, warning) = match Self::try_create(cfg, &rt, &bundle, &o, cri).await {
            Ok((pid, io)) => (rt, pid, io, None),
            Err(e) if kind == RuntimeKind::Crun && e.is_cgroup_failure() => {
                let warning = format!("crun refused the container ({e}); fell back to runc");
                tracing::warn!("{warning}");
                let _ = rt.delete(&cfg.id, true).await;
                let runc = Runtime::new(RuntimeKind::Runc, &cfg.runtime_root, reaper.clone())?;
                let (pid, io) = Self::try_create(cfg, &runc, &bundle, &o, cri).await?;
                (runc, pid, io, Some(warning))
            }
            Err(e) => return Err(e),
        };
        let exit_file = cfg.state_dir.join("exit.json");
        let init = Process::track(pid, o.terminal, io, reaper, move |exit| {
            if let Err(e) = write_exit_file(&exit_file, exit) {
                tracing::error!(error = %e, "cannot record exit");
            }
        });
        tracing::info!(pid, runtime = %rt.kind(), "container created");
        let created = Created {
            pid,
            runtime_used: rt.kind(),
            warning: warning.clone(),
        };
        let c = Container {
            id: cfg.id.clone(),
            bundle,
            log_path,
            warning,
            runtime: rt,
            state_dir: cfg.state_dir.clone(),
            console_prefix: cfg.console_prefix.clone(),
            reaper: reaper.clone(),
            init,
            cri_log,
            status: Mutex::new(Status::Created),
            op: tokio::sync::Mutex::new(()),
            execs: Mutex::new(HashMap::new()),
        };
        Ok((c, created))
    }

    /// One create attempt; the init's output goes to the json-file log and `cri`.
    async fn try_create(
        cfg: &ShimConfig,
        rt: &Runtime,
        bundle: &Path,
        o: &CreateOptions,
        cri: Option<&Arc<CriLog>>,
    ) -> Result<(i32, Arc<ProcessIo>)> {
        let pid_file = cfg.state_dir.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let console = cfg.console_socket("init");
        let (plan, child) = IoPlan::new(o.terminal, o.stdin, &console)?;
        let opts = CreateOpts {
            bundle,
            console_socket: plan.console_path(),
            pid_file: &pid_file,
        };
        let rt_log = cfg.state_dir.join("runtime-create.log");
        rt.create(&cfg.id, opts, child, &rt_log).await?;
        let finish = async {
            let pid = read_pid_file(&pid_file)?;
            let json = JsonLog::open(&json_log_path(cfg), o.log_max_size, o.log_max_file)?;
            let logs = Logs {
                json: Some(json),
                cri: cri.cloned(),
            };
            let io = ProcessIo::new(o.stdin);
            plan.finish(&io, logs).await?;
            Ok((pid, io))
        };
        let r = finish.await;
        if r.is_err() {
            let _ = rt.delete(&cfg.id, true).await;
        }
        r
    }

    fn status_lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current status.
    pub fn status(&self) -> Status {
        if self.init.exit().is_some() {
            Status::Stopped
        } else {
            *self.status_lock()
        }
    }

    pub fn runtime_kind(&self) -> RuntimeKind {
        self.runtime.kind()
    }

    fn require(&self, ok: impl Fn(Status) -> bool, what: &str) -> Result<()> {
        let s = self.status();
        if ok(s) {
            Ok(())
        } else {
            Err(Error::WrongState(format!(
                "cannot {what} a {} container",
                s.as_str()
            )))
        }
    }

    /// Run the user's program.
    pub async fn start(&self) -> Result<i32> {
        let _op = self.op.lock().await;
        self.require(Status::can_start, "start")?;
        self.runtime.start(&self.id).await?;
        *self.status_lock() = Status::Running;
        Ok(self.init.pid)
    }

    /// Signal init, or every process with `all`.
    pub async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.require(Status::can_kill, "kill")?;
        self.runtime.kill(&self.id, signal, all).await
    }

    pub async fn pause(&self) -> Result<()> {
        let _op = self.op.lock().await;
        self.require(Status::can_pause, "pause")?;
        self.runtime.pause(&self.id).await?;
        *self.status_lock() = Status::Paused;
        Ok(())
    }

    pub async fn resume(&self) -> Result<()> {
        let _op = self.op.lock().await;
        self.require(Status::can_resume, "resume")?;
        self.runtime.resume(&self.id).await?;
        *self.status_lock() = Status::Running;
        Ok(())
    }

    /// Host pids of the container's processes.
    pub async fn ps(&self) -> Result<Vec<u32>> {
        self.runtime.ps(&self.id).await
    }

    /// Close the CRI log and start a new file at its path (kubelet renamed the old one away).
    pub fn reopen_log(&self) -> Result<()> {
        let log = self.cri_log.as_ref().ok_or(Error::NoCriLog)?;
        if !self.status().can_reopen_log() {
            // The CRI's own words, which kubelet and crictl users know.
            return Err(Error::WrongState("container is not running".into()));
        }
        log.reopen()
    }

    /// Remove the container from the runtime; with `force`, kill it first. Returns the exit.
    pub(super) async fn delete(&self, force: bool) -> Result<Exit> {
        let _op = self.op.lock().await;
        let s = self.status();
        self.require(|s| s.can_delete(force), "delete")?;
        if s == Status::Paused {
            // A frozen process cannot die; thaw it so the SIGKILL lands.
            let _ = self.runtime.resume(&self.id).await;
        }
        self.runtime
            .delete(&self.id, force || s == Status::Created)
            .await?;
        match tokio::time::timeout(DELETE_WAIT, self.init.wait()).await {
            Ok(r) => r,
            Err(_) => Err(Error::WrongState(format!(
                "init pid {} did not exit after delete",
                self.init.pid
            ))),
        }
    }
}
