//! `ferry.containers.v1.Containers`: converts, calls one `Containers` method, converts back.
//! The streaming calls (Logs, Attach, Exec) pump between the client and the shim.

use std::pin::Pin;
use std::sync::Arc;

use ferry_proto::containers::v1 as pb;
use ferry_proto::shim::v1 as shim;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::container_convert as conv;
use super::to_status;
use crate::containers::copy::PathStat;
use crate::containers::exec::ExecConfig;
use crate::containers::logs::LogsOptions;
use crate::containers::stats::{StatsEntry, StatsQuery};
use crate::containers::Containers;
use crate::shim::ShimAttach;

#[derive(Debug, Clone)]
pub struct ContainersService {
    inner: Arc<Containers>,
}

impl ContainersService {
    pub fn new(inner: Arc<Containers>) -> Self {
        ContainersService { inner }
    }
}

type Stream2<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn st(e: crate::Error) -> Status {
    to_status(&e)
}

#[tonic::async_trait]
impl pb::containers_server::Containers for ContainersService {
    type LogsStream = Stream2<pb::LogEntry>;
    type AttachStream = Stream2<pb::AttachOutput>;
    type ExecStream = Stream2<pb::ExecOutput>;
    type StatsStream = Stream2<pb::StatsEntry>;
    type CopyFromStream = Stream2<pb::CopyChunk>;

    #[tracing::instrument(skip_all, fields(name = %req.get_ref().name))]
    async fn create(
        &self,
        req: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::CreateResponse>, Status> {
        let req = req.into_inner();
        let config = conv::config(req.config.unwrap_or_default()).map_err(st)?;
        let (id, warnings) = self.inner.create(&req.name, config).await.map_err(st)?;
        Ok(Response::new(pb::CreateResponse { id, warnings }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn start(
        &self,
        req: Request<pb::StartRequest>,
    ) -> Result<Response<pb::StartResponse>, Status> {
        self.inner.start(&req.get_ref().id).await.map_err(st)?;
        Ok(Response::new(pb::StartResponse {
            warnings: Vec::new(),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn stop(
        &self,
        req: Request<pb::StopRequest>,
    ) -> Result<Response<pb::StopResponse>, Status> {
        let r = req.into_inner();
        self.inner.stop(&r.id, r.timeout).await.map_err(st)?;
        Ok(Response::new(pb::StopResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn kill(
        &self,
        req: Request<pb::KillRequest>,
    ) -> Result<Response<pb::KillResponse>, Status> {
        let r = req.into_inner();
        self.inner.kill(&r.id, &r.signal).await.map_err(st)?;
        Ok(Response::new(pb::KillResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn restart(
        &self,
        req: Request<pb::RestartRequest>,
    ) -> Result<Response<pb::RestartResponse>, Status> {
        let r = req.into_inner();
        self.inner.restart(&r.id, r.timeout).await.map_err(st)?;
        Ok(Response::new(pb::RestartResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn pause(
        &self,
        req: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::PauseResponse>, Status> {
        self.inner
            .pause(&req.get_ref().id, true)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::PauseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn unpause(
        &self,
        req: Request<pb::UnpauseRequest>,
    ) -> Result<Response<pb::UnpauseResponse>, Status> {
        self.inner
            .pause(&req.get_ref().id, false)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::UnpauseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn remove(
        &self,
        req: Request<pb::RemoveRequest>,
    ) -> Result<Response<pb::RemoveResponse>, Status> {
        let r = req.into_inner();
        self.inner
            .remove(&r.id, r.force, r.volumes)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::RemoveResponse {}))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn rename(
        &self,
        req: Request<pb::RenameRequest>,
    ) -> Result<Response<pb::RenameResponse>, Status> {
        let r = req.into_inner();
        self.inner.rename(&r.id, &r.new_name).await.map_err(st)?;
        Ok(Response::new(pb::RenameResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        req: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let all = req.get_ref().all;
        let now = chrono::Utc::now();
        let containers = self
            .inner
            .list()
            .map_err(st)?
            .iter()
            .filter(|c| all || c.state.is_live())
            .map(|c| conv::container(c, now))
            .collect();
        Ok(Response::new(pb::ListResponse { containers }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn inspect(
        &self,
        req: Request<pb::InspectRequest>,
    ) -> Result<Response<pb::InspectResponse>, Status> {
        let json = self
            .inner
            .inspect(&req.get_ref().id)
            .map_err(st)?
            .to_string();
        Ok(Response::new(pb::InspectResponse { json }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn wait(
        &self,
        req: Request<pb::WaitRequest>,
    ) -> Result<Response<pb::WaitResponse>, Status> {
        let exit_code = self.inner.wait(&req.get_ref().id).await.map_err(st)?;
        Ok(Response::new(pb::WaitResponse { exit_code }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn logs(
        &self,
        req: Request<pb::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let r = req.into_inner();
        self.inner.get(&r.id).map_err(st)?;
        let opts = LogsOptions {
            follow: r.follow,
            tail: usize::try_from(r.tail).ok(),
            since: r.since,
        };
        let (tx, mut rx) = mpsc::channel(256);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move { inner.logs(&r.id, opts, tx).await });
        let stream = async_stream::stream! {
            while let Some(e) = rx.recv().await {
                yield Ok(pb::LogEntry { stream: e.stream, data: e.log.into_bytes(), time: e.time });
            }
            if let Ok(Err(e)) = task.await {
                yield Err(st(e));
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn attach(
        &self,
        req: Request<Streaming<pb::AttachInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("attach: no container named"))?;
        let pending = self.inner.attach(&first.id).await.map_err(st)?;
        // Input that arrives before the process starts waits in this channel.
        let (tx, rx) = mpsc::channel(64);
        forward_input(input, tx, |m| m.input.map(conv::attach_input));
        let stream = async_stream::stream! {
            let attach = match pending.ready().await {
                Ok(a) => a,
                Err(e) => { yield Err(st(e)); return; }
            };
            pump(rx, attach.input.clone());
            let mut out = Box::pin(output_stream(attach));
            while let Some(item) = out.next().await {
                yield item.map(conv::output);
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn resize(
        &self,
        req: Request<pb::ResizeRequest>,
    ) -> Result<Response<pb::ResizeResponse>, Status> {
        let r = req.into_inner();
        self.inner.resize(&r.id, r.rows, r.cols).await.map_err(st)?;
        Ok(Response::new(pb::ResizeResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn exec(
        &self,
        req: Request<Streaming<pb::ExecInput>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("exec: no container named"))?;
        let c = first.config.unwrap_or_default();
        let cfg = ExecConfig {
            cmd: c.cmd,
            env: c.env,
            workdir: c.workdir,
            user: c.user,
            tty: c.tty,
            stdin: c.stdin && !c.detach,
            privileged: c.privileged,
        };
        let (attach, session) = self.inner.exec(&first.id, cfg).await.map_err(st)?;
        if c.detach {
            // `exec -d` returns once the process runs; its output goes only to nowhere, as in
            // Docker, and a task reaps it.
            tokio::spawn(async move {
                let mut out = Box::pin(output_stream(attach));
                while out.next().await.is_some() {}
                if let Err(e) = session.finish().await {
                    tracing::debug!(error = %e, "detached exec");
                }
            });
            return Ok(Response::new(Box::pin(futures::stream::empty())));
        }
        forward_input(input, attach.input.clone(), |m| {
            m.input.map(conv::exec_input)
        });
        let stream = async_stream::stream! {
            let mut out = Box::pin(output_stream(attach));
            while let Some(item) = out.next().await {
                match item {
                    Ok(o) => yield Ok(pb::ExecOutput { output: Some(pb::exec_output::Output::Data(conv::output(o))) }),
                    Err(e) => { yield Err(e); return; }
                }
            }
            match session.finish().await {
                Ok(code) => yield Ok(pb::ExecOutput { output: Some(pb::exec_output::Output::ExitCode(code)) }),
                Err(e) => yield Err(st(e)),
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn top(&self, req: Request<pb::TopRequest>) -> Result<Response<pb::TopResponse>, Status> {
        let r = req.into_inner();
        let (titles, rows) = self.inner.top(&r.id, &r.ps_args).await.map_err(st)?;
        let processes = rows.into_iter().map(|cells| pb::Row { cells }).collect();
        Ok(Response::new(pb::TopResponse { titles, processes }))
    }

    #[tracing::instrument(skip_all)]
    async fn stats(
        &self,
        req: Request<pb::StatsRequest>,
    ) -> Result<Response<Self::StatsStream>, Status> {
        let r = req.into_inner();
        let query = StatsQuery {
            ids: r.ids,
            all: r.all,
            stream: r.stream,
        };
        let (tx, mut rx) = mpsc::channel(64);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move { inner.stats(query, tx).await });
        let stream = async_stream::stream! {
            while let Some(e) = rx.recv().await {
                yield Ok(stats_entry(e));
            }
            if let Ok(Err(e)) = task.await {
                yield Err(st(e));
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn stat_path(
        &self,
        req: Request<pb::StatPathRequest>,
    ) -> Result<Response<pb::PathStat>, Status> {
        let r = req.into_inner();
        let stat = self.inner.stat_path(&r.id, &r.path).await.map_err(st)?;
        Ok(Response::new(path_stat(stat)))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn copy_from(
        &self,
        req: Request<pb::CopyFromRequest>,
    ) -> Result<Response<Self::CopyFromStream>, Status> {
        let r = req.into_inner();
        let (stat, mut rx) = self
            .inner
            .copy_from(&r.id, &r.path, r.follow_link)
            .await
            .map_err(st)?;
        let stream = async_stream::stream! {
            yield Ok(pb::CopyChunk { data: Vec::new(), stat: Some(path_stat(stat)) });
            while let Some(chunk) = rx.recv().await {
                match chunk {
                    Ok(data) => yield Ok(pb::CopyChunk { data, stat: None }),
                    Err(e) => { yield Err(st(e)); return; }
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn copy_to(
        &self,
        req: Request<Streaming<pb::CopyToRequest>>,
    ) -> Result<Response<pb::CopyToResponse>, Status> {
        let mut input = req.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("copy: no container named"))?;
        let (tx, rx) = mpsc::channel(16);
        let head = first.data;
        tokio::spawn(async move {
            if !head.is_empty() && tx.send(Ok(head)).await.is_err() {
                return;
            }
            loop {
                let item = match input.message().await {
                    Ok(Some(m)) => Ok(m.data),
                    Ok(None) => return,
                    Err(s) => Err(std::io::Error::other(s.message().to_string())),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        self.inner
            .copy_to(&first.id, &first.path, rx)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::CopyToResponse {}))
    }
}

fn stats_entry(e: StatsEntry) -> pb::StatsEntry {
    pb::StatsEntry {
        id: e.id,
        name: e.name,
        cpu_percent: e.cpu_percent,
        mem_usage: e.mem_usage,
        mem_limit: e.mem_limit,
        net_rx: e.net_rx,
        net_tx: e.net_tx,
        block_read: e.block_read,
        block_write: e.block_write,
        pids: e.pids,
    }
}

fn path_stat(s: PathStat) -> pb::PathStat {
    pb::PathStat {
        name: s.name,
        mode: s.mode,
        size: s.size,
        mtime: s.mtime,
        is_dir: s.is_dir,
        link_target: s.link_target,
    }
}

/// Moves buffered input to the shim once the attachment exists.
fn pump(mut rx: mpsc::Receiver<shim::AttachInput>, tx: mpsc::Sender<shim::AttachInput>) {
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if tx.send(m).await.is_err() {
                break;
            }
        }
    });
}

/// Copies the client's input messages to the shim until either side closes.
fn forward_input<M: Send + 'static>(
    mut input: Streaming<M>,
    tx: mpsc::Sender<shim::AttachInput>,
    map: impl Fn(M) -> Option<shim::attach_input::Input> + Send + 'static,
) {
    tokio::spawn(async move {
        while let Ok(Some(m)) = input.message().await {
            let Some(i) = map(m) else { continue };
            let msg = shim::AttachInput {
                id: String::new(),
                exec_id: String::new(),
                input: Some(i),
            };
            if tx.send(msg).await.is_err() {
                break;
            }
        }
    });
}

fn output_stream(
    attach: ShimAttach,
) -> impl Stream<Item = Result<shim::AttachOutput, Status>> + Send {
    // Keep the input sender alive as long as output flows: dropping it would close stdin.
    let ShimAttach { output, input } = attach;
    output.map(move |r| {
        let _keep = &input;
        r
    })
}
