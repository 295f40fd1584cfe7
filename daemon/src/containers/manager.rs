//! The container lifecycle: create, start, stop, kill, pause, remove, wait, rename.
//!
//! Each operation on one container runs under that container's key lock; waiting for an exit
//! happens outside it (the exit monitor needs the lock to record the exit). Every record change
//! bumps a watch counter, which is how `wait` and `stop` learn of exits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::attach::AttachWaiters;
use super::command;
use super::names;
use super::record::{ContainerConfig, ContainerRecord, State};
use super::rootfs::Paths;
use super::spec::{self, ImageRuntimeConfig};
use super::table::ContainerTable;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::shim::client::CreateOptions;
use crate::shim::{Shim, ShimLauncher};
use crate::volumes::Volumes;
use ferry_image_service::distribution::MAX_MANIFEST_BYTES;
use ferry_image_service::images::ImageRecord;
use ferry_image_service::store::Store;
use ferry_proto::docker::StartFailure;

#[derive(Debug)]
pub struct Containers {
    pub(crate) store: Arc<Store>,
    pub(crate) table: ContainerTable,
    pub(crate) data_root: PathBuf,
    pub(crate) exec_root: PathBuf,
    pub(crate) launcher: ShimLauncher,
    pub(crate) shims: Mutex<HashMap<String, Shim>>,
    pub(crate) changed: watch::Sender<u64>,
    pub(crate) tombstones: Mutex<HashMap<String, i32>>,
    pub(crate) attach_waiters: AttachWaiters,
    pub networks: Arc<ferry_network::Networks>,
    pub volumes: Arc<Volumes>,
    pub events: Arc<EventBus>,
}

impl Containers {
    pub fn new(
        store: Arc<Store>,
        data_root: PathBuf,
        exec_root: PathBuf,
        shim_binary: PathBuf,
        networks: ferry_network::Networks,
        events: Arc<EventBus>,
    ) -> Result<Arc<Self>> {
        let launcher = ShimLauncher {
            binary: shim_binary,
            runtime_root: exec_root.join("runtime"),
        };
        let table = ContainerTable::open(store.meta.shared_db())?;
        let volumes = Arc::new(Volumes::new(&data_root));
        Ok(Arc::new(Containers {
            store,
            table,
            data_root,
            exec_root,
            launcher,
            shims: Mutex::default(),
            changed: watch::channel(0).0,
            tombstones: Mutex::default(),
            attach_waiters: AttachWaiters::default(),
            networks: Arc::new(networks),
            volumes,
            events,
        }))
    }

    pub fn data_root(&self) -> &std::path::Path {
        &self.data_root
    }

    pub fn paths(&self, id: &str) -> Paths {
        Paths::new(&self.data_root, &self.exec_root, id)
    }

    pub fn get(&self, query: &str) -> Result<ContainerRecord> {
        self.table.resolve(query)
    }

    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut all = self.table.all()?;
        all.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(all)
    }

    pub(crate) fn save(&self, rec: &ContainerRecord) -> Result<()> {
        self.table.update(rec)?;
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    pub(crate) async fn lock(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.store.locks.lock(&format!("container:{id}")).await
    }

    /// Creates the container: resolves the image, mounts its root, writes its bundle.
    pub async fn create(
        self: &Arc<Self>,
        name: &str,
        config: ContainerConfig,
    ) -> Result<(String, Vec<String>)> {
        config.validate()?;
        let image = self.resolve_image(&config.image)?;
        // Until the record is in, GC must not take the layers being mounted (an rmi may commit
        // meanwhile; then the insert below fails and the container is not created).
        let _lease = self.store.leases.acquire(
            image
                .chain_ids()
                .map(str::to_string)
                .chain([image.config_digest.clone()]),
        );
        let mut config = config;
        config.network = self.resolve_network(&config)?;
        let anonymous = self.name_anonymous_volumes(&mut config)?;
        let name = match name {
            "" => names::generate(),
            n => names::validate(n).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                ))
            })?,
        };
        let id = hex::encode(rand::random::<[u8; 32]>());
        let runtime_cfg = self.image_runtime_config(&image)?;
        let run = super::bundle::run_config(&config, &id, &[], &self.paths(&id).netns)?;
        let args = spec::resolve_args(&runtime_cfg, &run)?;
        let rec = ContainerRecord {
            image_name: image.name.clone(),
            args,
            ..ContainerRecord::new(id.clone(), name, config, image.config_digest.clone())
        };
        let paths = self.paths(&id);
        let prepared = self.prepare(&rec, &image, &runtime_cfg, &paths).await;
        let inserted = prepared.and_then(|()| self.table.insert(&rec));
        if let Err(e) = inserted {
            let _ = paths.unmount_rootfs();
            let _ = paths.remove_all();
            for name in anonymous {
                let _ = self.volumes.remove(&name);
            }
            return Err(e);
        }
        self.changed.send_modify(|n| *n += 1);
        self.events.container("create", &rec, &[]);
        let publishes = !rec.config.publish.is_empty() || rec.config.publish_all;
        let warnings = match rec.config.network.as_str() {
            "host" if publishes => {
                vec!["Published ports are discarded when using host network mode".to_string()]
            }
            "none" if publishes => {
                vec!["Published ports are discarded when using network none".to_string()]
            }
            _ => Vec::new(),
        };
        Ok((id, warnings))
    }

    /// Directories, root mount and config.json; also used at start when /run was wiped.
    async fn prepare(
        &self,
        rec: &ContainerRecord,
        image: &ImageRecord,
        cfg: &ImageRuntimeConfig,
        paths: &Paths,
    ) -> Result<()> {
        let chains: Vec<String> = image.chain_ids().map(str::to_string).collect();
        let store = Arc::clone(&self.store);
        let (rec, cfg, paths, volumes) = (
            rec.clone(),
            cfg.clone(),
            paths.clone(),
            Arc::clone(&self.volumes),
        );
        let span = tracing::info_span!("prepare", container.id = %rec.id);
        tokio::task::spawn_blocking(move || {
            let _in = span.enter();
            paths.create_dirs()?;
            tracing::info_span!("mount_rootfs", layers = chains.len())
                .in_scope(|| paths.mount_rootfs(&store.snapshot_dirs(&chains)?))?;
            tracing::info_span!("spec")
                .in_scope(|| super::bundle::write_bundle(&rec, &cfg, &paths, &volumes))
        })
        .await
        .map_err(Error::blocking("prepare"))?
    }

    pub(crate) fn resolve_image(&self, query: &str) -> Result<ImageRecord> {
        Ok(self.store.meta.resolve_image(query)?)
    }

    pub(crate) fn image_runtime_config(&self, image: &ImageRecord) -> Result<ImageRuntimeConfig> {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            #[serde(default)]
            config: Option<ImageRuntimeConfig>,
        }
        let raw = self
            .store
            .content
            .read_small(&image.config_digest, MAX_MANIFEST_BYTES as u64)?;
        let w: Wrapper = serde_json::from_slice(&raw).map_err(|e| {
            ferry_image_service::Error::InvalidConfig {
                digest: image.config_digest.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(w.config.unwrap_or_default())
    }

    /// Starts a created or exited container; a running one is left alone, as in Docker.
    pub async fn start(self: &Arc<Self>, query: &str) -> Result<()> {
        let rec = self.get(query)?;
        let _g = self.lock(&rec.id).await;
        let mut rec = self.get(&rec.id)?;
        match rec.state {
            State::Running | State::Restarting => return Ok(()),
            State::Paused => {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".to_string(),
                ))
            }
            _ => {}
        }
        rec.stopped_by_user = false;
        let started = self.start_locked(&mut rec).await;
        if started.is_err() && rec.config.auto_remove {
            // As Docker: a `--rm` container that cannot start is not left behind.
            if let Err(e) = self.remove_locked(&rec.id, true).await {
                tracing::warn!(id = %rec.id, error = %e, "removing a --rm container that failed to start");
            }
        }
        started
    }

    /// Launches a shim, creates and starts the process. Caller holds the container's lock.
    pub(crate) async fn start_locked(self: &Arc<Self>, rec: &mut ContainerRecord) -> Result<()> {
        let paths = self.paths(&rec.id);
        if !paths.bundle.join("config.json").exists()
            || !ferry_image_service::snapshots::mounts_is_mounted(&paths.rootfs())
        {
            let image = self.resolve_image(&rec.image_id)?;
            let cfg = self.image_runtime_config(&image)?;
            self.prepare(rec, &image, &cfg, &paths).await?;
        }
        if let Some(msg) = rec
            .args
            .first()
            .and_then(|a| command::directory(&paths.rootfs(), a))
        {
            return self.failed_start(rec, None, msg).await;
        }
        self.retire_shim(&rec.id, &paths).await;
        self.net_up(rec).await?;
        let runtime = rec.config.runtime_name();
        let client = self.launcher.launch(&rec.id, &paths, runtime).await?;
        let opts = CreateOptions {
            bundle: &paths.bundle,
            runtime,
            terminal: rec.config.tty,
            stdin: rec.config.open_stdin,
            log_max_size: rec.config.log_max_size,
            log_max_file: rec.config.log_max_file,
            cri_log: rec.config.pod.as_ref().and_then(|p| p.log_path.as_deref()),
        };
        let created = match client.create(&opts).await {
            Ok(c) => c,
            Err(e) => {
                return self
                    .failed_start(rec, Some(client), e.runtime_message())
                    .await
            }
        };
        if !created.warning.is_empty() {
            tracing::warn!(id = %rec.id, warning = %created.warning, "runtime fallback");
        }
        self.hand_out_attaches(&rec.id, &client).await;
        if let Err(e) = client.start().await {
            return self
                .failed_start(rec, Some(client), e.runtime_message())
                .await;
        }
        rec.state = State::Running;
        rec.pid = created.pid;
        rec.runtime_used = created.runtime_used;
        rec.started_at = Some(now());
        rec.oom_killed = false;
        rec.finished_at = None;
        rec.error.clear();
        self.save(rec)?;
        self.events.container("start", rec, &[]);
        self.shims_put(&rec.id, client.clone());
        tokio::spawn(Arc::clone(self).monitor(rec.id.clone(), client));
        Ok(())
    }

    /// A start that failed (`msg` as the runtime said it): Docker's exit codes (127 not found,
    /// 126 cannot invoke), the container stays created (or exited), the shim goes.
    async fn failed_start(
        &self,
        rec: &mut ContainerRecord,
        client: Option<Shim>,
        msg: String,
    ) -> Result<()> {
        rec.exit_code = StartFailure::of(&msg).exit_code();
        rec.error = msg.clone();
        if let Some(client) = client {
            client.retire().await;
        }
        self.fail_attaches(&rec.id, &msg);
        self.net_down(rec).await;
        self.save(rec)?;
        Err(Error::StartFailed {
            id: rec.id.clone(),
            message: msg,
        })
    }

    /// Makes sure no earlier shim of this container is still serving its socket.
    async fn retire_shim(&self, id: &str, paths: &Paths) {
        self.shims_take(id);
        if let Ok(old) = Shim::connect(&paths.socket(), id).await {
            old.retire().await;
        }
        let _ = std::fs::remove_file(paths.socket());
    }

    pub(crate) fn shims_put(&self, id: &str, client: Shim) {
        self.shims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), client);
    }

    pub(crate) fn shims_take(&self, id: &str) -> Option<Shim> {
        self.shims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }

    /// Shims ferryd holds a connection to (for the metrics).
    pub fn shim_count(&self) -> usize {
        self.shims.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The shim of a live container (reconnecting if needed).
    pub(crate) async fn shim(&self, rec: &ContainerRecord) -> Result<Shim> {
        let cached = self
            .shims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&rec.id)
            .cloned();
        match cached {
            Some(c) => Ok(c),
            None => {
                let c = Shim::connect(&self.paths(&rec.id).socket(), &rec.id).await?;
                self.shims_put(&rec.id, c.clone());
                Ok(c)
            }
        }
    }

    /// The ferry-shim binary (it also serves as a pod's PID-namespace init).
    pub fn shim_binary(&self) -> &std::path::Path {
        &self.launcher.binary
    }

    /// Records a pod container's new resources (UpdateContainerResources, after the cgroup
    /// took them), under its lock.
    pub async fn update_pod_resources(
        &self,
        id: &str,
        resources: super::spec::pod::PodResources,
    ) -> Result<()> {
        let _g = self.lock(id).await;
        let mut rec = self.get(id)?;
        if let Some(p) = rec.config.pod.as_mut() {
            p.spec.resources = resources;
        }
        self.save(&rec)
    }

    /// The shim of a live container, for the CRI's log reopen.
    pub async fn shim_of(&self, rec: &ContainerRecord) -> Result<Shim> {
        self.shim(rec).await
    }

    /// SIGTERM (or the image's stop signal), then SIGKILL after `timeout`.
    pub async fn stop(self: &Arc<Self>, query: &str, timeout: Option<i32>) -> Result<()> {
        let rec = self.get(query)?;
        let signal = {
            let image = self.resolve_image(&rec.image_id).ok();
            let cfg = image
                .and_then(|i| self.image_runtime_config(&i).ok())
                .unwrap_or_default();
            cfg.stop_signal
                .as_deref()
                .map(super::signals::parse)
                .transpose()?
                .unwrap_or(libc::SIGTERM)
        };
        if !self.signal(&rec.id, signal, false, true).await? {
            return Ok(());
        }
        let secs = timeout.unwrap_or(10).max(0) as u64;
        if !self.wait_not_live(&rec.id, Duration::from_secs(secs)).await {
            self.signal(&rec.id, libc::SIGKILL, true, true).await?;
            self.wait_not_live(&rec.id, Duration::from_secs(30)).await;
        }
        self.events.container("stop", &rec, &[]);
        Ok(())
    }

    pub async fn kill(self: &Arc<Self>, query: &str, signal: &str) -> Result<()> {
        let rec = self.get(query)?;
        let sig = if signal.is_empty() {
            libc::SIGKILL
        } else {
            super::signals::parse(signal)?
        };
        if !self
            .signal(&rec.id, sig, sig == libc::SIGKILL, true)
            .await?
        {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        self.events
            .container("kill", &rec, &[("signal", &sig.to_string())]);
        if sig == libc::SIGKILL {
            // As Docker: a SIGKILL returns once the container is dead, so `kill; rm` works.
            self.wait_not_live(&rec.id, Duration::from_secs(30)).await;
        }
        Ok(())
    }

    /// Sends a signal to a live container; false when it is not running. A restarting one is
    /// simply marked exited.
    async fn signal(&self, id: &str, sig: i32, all: bool, by_user: bool) -> Result<bool> {
        let _g = self.lock(id).await;
        let mut rec = self.get(id)?;
        if by_user && rec.state.is_live() {
            rec.stopped_by_user = true;
        }
        match rec.state {
            State::Restarting => {
                rec.state = State::Exited;
                self.save(&rec)?;
                return Ok(false);
            }
            State::Running | State::Paused => {}
            _ => return Ok(false),
        }
        self.save(&rec)?;
        let client = self.shim(&rec).await?;
        if rec.state == State::Paused && sig == libc::SIGKILL {
            let _ = client.resume().await;
        }
        match client.kill(sig, all).await {
            // It exited between our read and the kill (the shim knew, or the runtime found no
            // process: ESRCH): the monitor records the exit.
            Err(Error::Shim(s))
                if s.code() == tonic::Code::FailedPrecondition
                    || s.message().contains("No such process") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
            Ok(()) => Ok(true),
        }
    }

    /// Waits until the container is not running; false on timeout.
    pub(crate) async fn wait_not_live(&self, id: &str, timeout: Duration) -> bool {
        let mut rx = self.changed.subscribe();
        let check = |this: &Self| this.get(id).map(|r| !r.state.is_live()).unwrap_or(true);
        tokio::time::timeout(timeout, async {
            loop {
                if check(self) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Blocks until the container has run and stopped; its exit code.
    pub async fn wait(&self, query: &str) -> Result<i32> {
        let id = match self.get(query) {
            Ok(r) => r.id,
            Err(e) => return self.tombstone(query).ok_or(e),
        };
        let mut rx = self.changed.subscribe();
        loop {
            match self.table.get(&id)? {
                Some(r) if matches!(r.state, State::Exited | State::Dead) => return Ok(r.exit_code),
                Some(_) => {}
                None => return self.tombstone(&id).ok_or(Error::ContainerNotFound(id)),
            }
            if rx.changed().await.is_err() {
                return Err(Error::ShuttingDown);
            }
        }
    }

    fn tombstone(&self, query: &str) -> Option<i32> {
        let t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
        t.iter()
            .find(|(id, _)| id.as_str() == query || id.starts_with(query))
            .map(|(_, c)| *c)
    }

    pub async fn pause(self: &Arc<Self>, query: &str, pause: bool) -> Result<()> {
        let rec = self.get(query)?;
        let _g = self.lock(&rec.id).await;
        let mut rec = self.get(&rec.id)?;
        let (want, to) = if pause {
            (State::Running, State::Paused)
        } else {
            (State::Paused, State::Running)
        };
        if rec.state != want {
            let what = if pause {
                "is not running"
            } else {
                "is not paused"
            };
            return Err(Error::Conflict(format!("Container {} {what}", rec.id)));
        }
        let client = self.shim(&rec).await?;
        if pause {
            client.pause().await?;
        } else {
            client.resume().await?;
        }
        rec.state = to;
        self.save(&rec)?;
        self.events
            .container(if pause { "pause" } else { "unpause" }, &rec, &[]);
        Ok(())
    }

    pub async fn restart(self: &Arc<Self>, query: &str, timeout: Option<i32>) -> Result<()> {
        self.stop(query, timeout).await?;
        self.start(query).await
    }

    /// Resizes the main process's terminal.
    pub async fn resize(&self, query: &str, rows: u32, cols: u32) -> Result<()> {
        let rec = self.get(query)?;
        self.shim(&rec).await?.resize("", rows, cols).await
    }

    pub async fn rename(&self, query: &str, new_name: &str) -> Result<()> {
        let rec = self.get(query)?;
        let name = names::validate(new_name).ok_or_else(|| {
            Error::InvalidArgument(format!("Invalid container name ({new_name})"))
        })?;
        self.table.rename(&rec.id, &name)?;
        self.changed.send_modify(|n| *n += 1);
        let renamed = ContainerRecord {
            name,
            ..rec.clone()
        };
        self.events.container(
            "rename",
            &renamed,
            &[("oldName", &format!("/{}", rec.name))],
        );
        Ok(())
    }

    /// Removes a container (killing it first with `force`).
    /// Removes a container (killing it first with `force`); `volumes`: its anonymous volumes too.
    pub async fn remove(self: &Arc<Self>, query: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.get(query)?;
        if rec.state.is_live() {
            if !force {
                return Err(Error::Conflict(format!(
                    "You cannot remove a {} container {}. Stop the container before attempting removal or force remove",
                    rec.state.as_str(),
                    rec.id
                )));
            }
            self.signal(&rec.id, libc::SIGKILL, true, true).await?;
            self.wait_not_live(&rec.id, Duration::from_secs(30)).await;
        }
        let _g = self.lock(&rec.id).await;
        self.remove_locked(&rec.id, volumes).await
    }

    pub(crate) async fn remove_locked(&self, id: &str, volumes: bool) -> Result<()> {
        let Some(rec) = self.table.get(id)? else {
            return Ok(());
        };
        let paths = self.paths(id);
        self.retire_shim(id, &paths).await;
        let mut rec = rec;
        self.net_down(&mut rec).await;
        paths.unmount_rootfs()?;
        self.table.remove(id)?;
        self.events.container("destroy", &rec, &[]);
        self.tombstones
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), rec.exit_code);
        self.changed.send_modify(|n| *n += 1);
        tokio::task::spawn_blocking(move || paths.remove_all())
            .await
            .map_err(Error::blocking("remove"))??;
        if volumes {
            self.remove_anonymous_volumes(&rec)?;
        }
        Ok(())
    }

    /// Containers that use an image (for `rmi` and `ps --filter ancestor=`).
    pub fn using_image(&self, image_id: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| c.image_id == image_id)
            .collect())
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
