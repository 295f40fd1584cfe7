//! Pod sandboxes: the namespaces a pod's containers share, without a pause process. A sandbox
//! pins a new IPC and UTS namespace (with the pod's hostname) on files, starts a tiny init
//! holding a shared PID namespace when the pod asks for one (the CRI's default), joins Ferry's default
//! bridge network in its own network namespace (ports published as the pod asks), and writes
//! the /etc files its containers share. Stopping tears the network and namespaces down and
//! stops the containers; removing also removes them. Both succeed for a sandbox already gone,
//! as the CRI asks.
//!
//! ```text
//! <data-root>/pods/<id>/   hostname, hosts, resolv.conf (bind-mounted into its containers)
//! <exec-root>/pods/<id>/   ipc, uts (namespaces pinned by bind mounts)
//! <exec-root>/netns/<id>   its network namespace (ferry_network)
//! ```

pub mod files;
mod pid;
pub mod record;
pub mod table;

use std::path::PathBuf;
use std::sync::Arc;

use k8s_cri::v1::PodSandboxConfig;
use nix::sched::CloneFlags;

use crate::containers::{ContainerRecord, Containers};
use crate::error::{Error, Result};
pub use record::{SandboxRecord, SandboxState};
pub use table::SandboxTable;

/// Where pod networks come from: the first CNI configuration in `conf_dir`, its plugins
/// from `bin_dirs`; with none there, Ferry's default bridge.
#[derive(Debug, Clone)]
pub struct CniSettings {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
}

#[derive(Debug)]
pub struct Sandboxes {
    pub table: SandboxTable,
    containers: Arc<Containers>,
    data_root: PathBuf,
    exec_root: PathBuf,
    pub cni: CniSettings,
}

impl Sandboxes {
    pub fn new(containers: Arc<Containers>, exec_root: PathBuf, cni: CniSettings) -> Result<Self> {
        let table = SandboxTable::open(containers.store.meta.shared_db())?;
        let data_root = containers.data_root().join("pods");
        Ok(Sandboxes {
            table,
            containers,
            data_root,
            exec_root: exec_root.join("pods"),
            cni,
        })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.data_root.join(id)
    }

    fn pins(&self, id: &str) -> PathBuf {
        self.exec_root.join(id)
    }

    /// The sandbox `id` names exactly, or a unique prefix of one (as crictl allows).
    pub fn get(&self, query: &str) -> Result<SandboxRecord> {
        if let Some(r) = self.table.get(query)? {
            return Ok(r);
        }
        let mut found = self
            .table
            .all()?
            .into_iter()
            .filter(|r| !query.is_empty() && r.id.starts_with(query));
        match (found.next(), found.next()) {
            (Some(r), None) => Ok(r),
            (Some(_), Some(_)) => Err(Error::InvalidArgument(format!(
                "pod sandbox ID {query:?} is ambiguous"
            ))),
            _ => Err(Error::NotFound(format!("pod sandbox {query:?} not found"))),
        }
    }

    pub fn list(&self) -> Result<Vec<SandboxRecord>> {
        let mut all = self.table.all()?;
        all.sort_by_key(|r| std::cmp::Reverse(r.created_ns));
        Ok(all)
    }

    /// RunPodSandbox: on any failure, nothing it made is left.
    pub async fn run(&self, config: PodSandboxConfig, handler: String) -> Result<String> {
        validate(&config, &handler)?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let mut rec = SandboxRecord {
            id: id.clone(),
            config,
            runtime_handler: handler,
            state: SandboxState::Ready,
            created_ns: now_ns(),
            net: None,
            init_pid: 0,
            cni: None,
            files_dir: self.dir(&id),
            namespaces: Vec::new(),
        };
        let made = self.set_up(&mut rec).await;
        let stored = made.and_then(|()| self.table.put(&rec));
        if let Err(e) = stored {
            self.tear_down(&mut rec).await;
            let _ = std::fs::remove_dir_all(self.dir(&id));
            return Err(e);
        }
        Ok(id)
    }

    async fn set_up(&self, rec: &mut SandboxRecord) -> Result<()> {
        let hostname = files::hostname(rec);
        let (dir, pins) = (self.dir(&rec.id), self.pins(&rec.id));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        if !rec.host_ipc() {
            let p = pins.join("ipc");
            pin(&p, CloneFlags::CLONE_NEWIPC, None)?;
            rec.namespaces.push(("ipc".into(), p));
        }
        if rec.shared_pid() && !rec.host_pid() {
            let shim = self.containers.shim_binary().to_path_buf();
            let dir = pins.clone();
            let pid = tokio::task::spawn_blocking(move || pid::start(&shim, &dir))
                .await
                .map_err(Error::blocking("pod init"))??;
            rec.namespaces.push(("pid".into(), pid::namespace(pid)));
            rec.init_pid = pid;
        }
        if !rec.host_network() {
            let p = pins.join("uts");
            pin(&p, CloneFlags::CLONE_NEWUTS, Some(hostname.clone()))?;
            rec.namespaces.push(("uts".into(), p));
            let net = self.attach_network(rec).await?;
            rec.namespaces
                .push(("network".into(), PathBuf::from(&net.netns)));
            rec.net = Some(net);
        }
        files::write(&dir, rec, &hostname)
    }

    async fn attach_network(&self, rec: &mut SandboxRecord) -> Result<ferry_network::NetState> {
        let nets = Arc::clone(&self.containers.networks);
        let wanted = files::port_bindings(&rec.config)?;
        let list = ferry_network::conflist::load(&self.cni.conf_dir);
        rec.cni = list.clone();
        let (id, dirs, args) = (rec.id.clone(), self.cni.bin_dirs.clone(), cni_args(rec));
        tokio::task::spawn_blocking(move || {
            let bound = ferry_network::ports::allocate(&wanted, &[])?;
            match list {
                Some(l) => nets.attach_list(&id, &l, &dirs, &bound, &args),
                None => {
                    nets.ensure_default()?;
                    let net = nets.get(ferry_network::DEFAULT)?;
                    nets.attach(&id, &[net], &bound)
                }
            }
        })
        .await
        .map_err(Error::blocking("pod network"))?
        .map_err(Error::from)
    }

    fn detach_network(
        &self,
        rec: &SandboxRecord,
        net: ferry_network::NetState,
    ) -> impl FnOnce() -> ferry_network::Result<()> {
        let nets = Arc::clone(&self.containers.networks);
        let (id, list, dirs, args) = (
            rec.id.clone(),
            rec.cni.clone(),
            self.cni.bin_dirs.clone(),
            cni_args(rec),
        );
        move || match list {
            Some(l) => nets.detach_list(&id, &l, &dirs, &net, &args),
            None => nets.detach(&id, &net),
        }
    }

    /// Network and pinned namespaces go; the record keeps what is left to say.
    async fn tear_down(&self, rec: &mut SandboxRecord) {
        if let Some(net) = rec.net.take() {
            let res = tokio::task::spawn_blocking(self.detach_network(rec, net)).await;
            if !matches!(res, Ok(Ok(()))) {
                tracing::warn!(id = %rec.id, ?res, "pod network teardown left something behind");
            }
        }
        pid::stop(rec.init_pid);
        rec.init_pid = 0;
        for (kind, path) in rec.namespaces.drain(..) {
            if kind != "network" && kind != "pid" {
                if let Err(e) = ferry_network::netns::remove(&path) {
                    tracing::warn!(id = %rec.id, path = %path.display(), error = %e, "unpinning a namespace");
                }
            }
        }
        let _ = std::fs::remove_dir(self.pins(&rec.id));
    }

    /// The pod's containers (any state).
    pub fn members(&self, id: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .containers
            .list()?
            .into_iter()
            .filter(|c| c.config.pod.as_ref().is_some_and(|p| p.sandbox_id == id))
            .collect())
    }

    /// StopPodSandbox: its containers are killed, its network and namespaces torn down.
    pub async fn stop(&self, query: &str) -> Result<()> {
        let Some(mut rec) = self.find(query)? else {
            return Ok(());
        };
        let _g = self
            .containers
            .store
            .locks
            .lock(&format!("pod:{}", rec.id))
            .await;
        for c in self.members(&rec.id)? {
            if c.state.is_live() {
                if let Err(e) = self.containers.stop(&c.id, Some(0)).await {
                    // One that ended meanwhile is stopped, which is all this asks.
                    let live = self.containers.get(&c.id).is_ok_and(|r| r.state.is_live());
                    if live {
                        return Err(e);
                    }
                    tracing::debug!(id = %c.id, error = %e, "container ended while being stopped");
                }
            }
        }
        self.tear_down(&mut rec).await;
        rec.state = SandboxState::NotReady;
        self.table.put(&rec)
    }

    /// RemovePodSandbox: stops it, removes its containers, then the sandbox.
    pub async fn remove(&self, query: &str) -> Result<()> {
        let Some(rec) = self.find(query)? else {
            return Ok(());
        };
        self.stop(&rec.id).await?;
        for c in self.members(&rec.id)? {
            self.containers.remove(&c.id, true, true).await?;
        }
        let dir = self.dir(&rec.id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("remove", &dir, e))
            }
            _ => {}
        }
        self.table.remove(&rec.id)
    }

    fn find(&self, query: &str) -> Result<Option<SandboxRecord>> {
        match self.get(query) {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// At start: a ready sandbox whose PID-namespace init died (a reboot, a kill) or whose
    /// pinned namespaces are gone cannot hold containers any more: it is torn down and marked
    /// not ready, as the kubelet then recreates it.
    pub async fn repair(&self) -> Result<()> {
        for mut rec in self.table.all()? {
            if rec.state != SandboxState::Ready {
                continue;
            }
            let init_dead = rec.init_pid > 0 && !pid::is_init(rec.init_pid);
            let pins_gone = rec
                .namespaces
                .iter()
                .any(|(kind, path)| kind != "pid" && !path.exists());
            if init_dead || pins_gone {
                tracing::warn!(id = %rec.id, init_dead, pins_gone, "pod sandbox lost its namespaces; marking it not ready");
                self.tear_down(&mut rec).await;
                rec.state = SandboxState::NotReady;
                self.table.put(&rec)?;
            }
        }
        Ok(())
    }

    /// The IDs whose network namespaces a restart's sweep must keep.
    pub fn ready_ids(&self) -> Result<Vec<String>> {
        Ok(self
            .table
            .all()?
            .into_iter()
            .filter(|r| r.state == SandboxState::Ready)
            .map(|r| r.id)
            .collect())
    }
}

/// The kubelet's CNI_ARGS for the pod.
fn cni_args(rec: &SandboxRecord) -> String {
    ferry_network::cni::pod_args(rec.namespace(), rec.name(), &rec.id, rec.uid())
}

fn pin(path: &std::path::Path, kind: CloneFlags, hostname: Option<String>) -> Result<()> {
    ferry_network::netns::pin(path, kind, move || match hostname {
        Some(h) => nix::unistd::sethostname(h).map_err(std::io::Error::from),
        None => Ok(()),
    })
    .map_err(|e| Error::io("pin namespace", path, e))
}

/// Linux's limit on a hostname (HOST_NAME_MAX).
const MAX_HOSTNAME: usize = 64;

fn validate(config: &PodSandboxConfig, handler: &str) -> Result<()> {
    if config.hostname.len() > MAX_HOSTNAME {
        return Err(Error::InvalidArgument(format!(
            "hostname {:?} is longer than {MAX_HOSTNAME} bytes",
            config.hostname
        )));
    }
    let Some(m) = &config.metadata else {
        return Err(Error::InvalidArgument(
            "sandbox config must include metadata".into(),
        ));
    };
    for (what, v) in [
        ("name", &m.name),
        ("uid", &m.uid),
        ("namespace", &m.namespace),
    ] {
        if v.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "sandbox metadata.{what} is empty"
            )));
        }
    }
    if !handler.is_empty() && !crate::containers::record::RUNTIMES.contains(&handler) {
        return Err(Error::InvalidArgument(format!(
            "unknown runtime handler {handler:?} (this node has {:?})",
            crate::containers::record::RUNTIMES
        )));
    }
    Ok(())
}

pub(crate) fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
