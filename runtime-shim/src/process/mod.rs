//! The shim's domain: its one container ([`init::Container`]), the container's exec processes
//! ([`exec`]), and what they share: a started [`Process`] with its stdio and exit.
//!
//! Lifecycle of the shim's container slot: empty -> Create -> (container) -> Delete -> empty;
//! Shutdown is allowed only with an empty slot (or `now`).
//!
//! State dir layout (`--state-dir`, one per container; ferryd reads the first three):
//! ```text
//! <state-dir>/
//!   <id>-json.log[.N]   container output, Docker json-file (io::logs)
//!   (the CRI log, io::cri, is wherever Create's cri_log_path says: kubelet's log directory)
//!   exit.json           init exit record, written atomically (status::write_exit_file)
//!   shim.log            the shim's own diagnostics
//!   init.pid            runtime --pid-file for create
//!   runtime-*.log       runtime --log for create/exec (errors are read back from it)
//!   exec-<eid>.json     process spec of an exec; exec-<eid>.pid its pid file
//!   (console sockets live beside the shim socket: <socket>-<process>.sock, short paths)
//! ```

pub mod exec;
pub mod init;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::io::pty::ConsoleSocket;
use crate::io::{self as pio, ChildStdio, Logs, PipeEnds, ProcessIo};
use crate::oci::args::RuntimeKind;
use crate::reaper::Reaper;
use status::Exit;

pub use init::{Container, CreateOptions, Created};

/// How long an exiting process's output may take to drain before its exit is published.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What the shim was started with.
#[derive(Debug, Clone)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub runtime: RuntimeKind,
    /// Console sockets are `<prefix>-<process>.sock`: beside the shim's socket, because a unix
    /// socket path must fit in 107 bytes and the state dir can be deep.
    pub console_prefix: PathBuf,
}

impl ShimConfig {
    pub fn console_socket(&self, process: &str) -> PathBuf {
        PathBuf::from(format!("{}-{process}.sock", self.console_prefix.display()))
    }
}

/// A process the runtime started: init or exec.
#[derive(Debug)]
pub struct Process {
    pub pid: i32,
    pub terminal: bool,
    pub io: Arc<ProcessIo>,
    exit: watch::Receiver<Option<Exit>>,
}

impl Process {
    /// Track `pid`: when the reaper reports its exit, let output drain, run `on_exit`, then
    /// publish the exit to waiters.
    fn track(
        pid: i32,
        terminal: bool,
        io: Arc<ProcessIo>,
        reaper: &Reaper,
        on_exit: impl FnOnce(&Exit) + Send + 'static,
    ) -> Arc<Self> {
        let exited = reaper.subscribe(pid);
        let (tx, exit) = watch::channel(None);
        let drain = io.clone();
        tokio::spawn(async move {
            let exit_code = exited.await.unwrap_or(-1);
            if tokio::time::timeout(DRAIN_TIMEOUT, drain.wait_done())
                .await
                .is_err()
            {
                tracing::warn!(
                    pid,
                    "output still open 2s after exit; publishing exit anyway"
                );
            }
            let exit = Exit {
                pid,
                exit_code,
                exited_at: Utc::now(),
            };
            tracing::info!(pid, exit_code, "process exited");
            on_exit(&exit);
            let _ = tx.send(Some(exit));
        });
        Arc::new(Self {
            pid,
            terminal,
            io,
            exit,
        })
    }

    /// The exit, once the process has exited.
    pub fn exit(&self) -> Option<Exit> {
        *self.exit.borrow()
    }

    /// Wait for the exit.
    pub async fn wait(&self) -> Result<Exit> {
        let mut rx = self.exit.clone();
        let r = rx.wait_for(Option::is_some).await;
        match r.as_deref() {
            Ok(Some(e)) => Ok(*e),
            _ => Err(Error::WrongState("process monitor is gone".into())),
        }
    }
}

/// How a process's stdio is being set up: pipes are ready, a console master is awaited.
#[derive(Debug)]
enum IoPlan {
    Pipes(PipeEnds),
    Console(ConsoleSocket),
}

impl IoPlan {
    /// Make pipes, or listen on `console` for a terminal. Returns the runtime's stdio too.
    fn new(terminal: bool, stdin: bool, console: &Path) -> Result<(Self, ChildStdio)> {
        if terminal {
            Ok((
                IoPlan::Console(ConsoleSocket::bind(console)?),
                ChildStdio::default(),
            ))
        } else {
            let (child, ours) = pio::pipes(stdin)?;
            Ok((IoPlan::Pipes(ours), child))
        }
    }

    fn console_path(&self) -> Option<&Path> {
        match self {
            IoPlan::Console(c) => Some(c.path()),
            IoPlan::Pipes(_) => None,
        }
    }

    /// After the runtime succeeded: connect the process to `io` and start pumping.
    async fn finish(self, io: &ProcessIo, logs: Logs) -> Result<()> {
        match self {
            IoPlan::Pipes(ends) => io.connect_pipes(ends, logs),
            IoPlan::Console(sock) => io.connect_pty(sock.receive_master().await?, logs),
        }
    }
}

/// Read a pid file the runtime wrote.
fn read_pid_file(path: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read pid file", path))?;
    crate::oci::state::parse_pid(&text)
}

/// The shim: its configuration, reaper, and the container slot.
#[derive(Debug)]
pub struct Shim {
    cfg: ShimConfig,
    reaper: Reaper,
    container: tokio::sync::Mutex<Option<Arc<Container>>>,
    shutdown: watch::Sender<bool>,
}

impl Shim {
    pub fn new(cfg: ShimConfig, reaper: Reaper) -> Self {
        Self {
            cfg,
            reaper,
            container: tokio::sync::Mutex::new(None),
            shutdown: watch::Sender::new(false),
        }
    }

    pub fn config(&self) -> &ShimConfig {
        &self.cfg
    }

    /// Turns true once Shutdown was accepted.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn check_id(&self, id: &str) -> Result<()> {
        if id.is_empty() || id == self.cfg.id {
            Ok(())
        } else {
            Err(Error::NoSuchContainer(id.into()))
        }
    }

    /// Create the container (once).
    pub async fn create(&self, id: &str, opts: CreateOptions) -> Result<Created> {
        self.check_id(id)?;
        let mut slot = self.container.lock().await;
        if slot.is_some() {
            return Err(Error::AlreadyCreated(self.cfg.id.clone()));
        }
        let (container, created) = Container::create(&self.cfg, &self.reaper, opts).await?;
        *slot = Some(Arc::new(container));
        Ok(created)
    }

    /// The container, when `id` names it and it exists.
    pub async fn container(&self, id: &str) -> Result<Arc<Container>> {
        self.check_id(id)?;
        self.container
            .lock()
            .await
            .clone()
            .ok_or_else(|| Error::NoSuchContainer(self.cfg.id.clone()))
    }

    /// Delete the container from the runtime and empty the slot.
    pub async fn delete(&self, id: &str, force: bool) -> Result<Exit> {
        let c = self.container(id).await?;
        let exit = c.delete(force).await?;
        *self.container.lock().await = None;
        Ok(exit)
    }

    /// Accept a shutdown request: only with no container unless `now`.
    pub async fn shutdown(&self, id: &str, now: bool) -> Result<()> {
        self.check_id(id)?;
        if !now && self.container.lock().await.is_some() {
            return Err(Error::WrongState(
                "container exists; delete it first".into(),
            ));
        }
        self.shutdown.send_replace(true);
        Ok(())
    }
}
