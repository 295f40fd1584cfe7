//! `ferry.build.v1.Build`: the first message's options become a `BuildRequest`, the context
//! chunks feed a reader on the build's blocking thread, and the build's progress goes back as
//! events, ending with the result or the build's error status. Dropping the response stream
//! (the client hung up, Ctrl-C) drops the build.

use std::pin::Pin;
use std::sync::Arc;

use ferry_proto::build::v1 as pb;
use ferry_proto::build::v1::build_event::Event;
use ferry_proto::build::v1::build_request::Part;
use ferry_proto::chunks::ChunkReader;
use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::to_status;
use crate::build::{BuildError, BuildRequest, Builder, Built, Progress};

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::BuildEvent, Status>> + Send>>;

#[derive(Debug, Clone)]
pub struct BuildService {
    builder: Arc<Builder>,
}

impl BuildService {
    pub fn new(builder: Arc<Builder>) -> Self {
        BuildService { builder }
    }
}

#[tonic::async_trait]
impl pb::build_server::Build for BuildService {
    type BuildStream = EventStream;

    #[tracing::instrument(skip_all)]
    async fn build(
        &self,
        req: Request<Streaming<pb::BuildRequest>>,
    ) -> Result<Response<EventStream>, Status> {
        let mut input = req.into_inner();
        let opts = match input.message().await?.and_then(|m| m.part) {
            Some(Part::Options(o)) => o,
            _ => {
                let e = BuildError::Invalid("a build starts with its options".into());
                return Err(to_status(&e.into()));
            }
        };
        let request = request_of(opts)?;
        let (ctx_tx, ctx_rx) = mpsc::channel(16);
        tokio::spawn(forward_context(input, ctx_tx));
        let builder = Arc::clone(&self.builder);
        let (ptx, mut prx) = mpsc::channel(256);
        let stream = async_stream::stream! {
            let fut = builder.build(request, ChunkReader::new(ctx_rx), ptx);
            tokio::pin!(fut);
            let res = loop {
                tokio::select! {
                    Some(p) = prx.recv() => yield Ok(event(p)),
                    res = &mut fut => break res,
                }
            };
            while let Ok(p) = prx.try_recv() {
                yield Ok(event(p));
            }
            match res {
                Ok(b) => yield Ok(result(b)),
                Err(e) => yield Err(to_status(&e)),
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn prune(
        &self,
        _req: Request<pb::PruneBuildCacheRequest>,
    ) -> Result<Response<pb::PruneBuildCacheResponse>, Status> {
        let builder = Arc::clone(&self.builder);
        let pruned = super::blocking("builder prune", move || builder.prune()).await?;
        Ok(Response::new(pb::PruneBuildCacheResponse {
            entries: pruned.entries as u64,
            space_reclaimed: pruned.bytes,
        }))
    }
}

/// Feeds the context chunks to the reader; a broken client stream fails the read, so a
/// truncated context is never taken for a whole one.
async fn forward_context(
    mut input: Streaming<pb::BuildRequest>,
    tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
) {
    loop {
        let chunk = match input.message().await {
            Ok(None) => return,
            Ok(Some(pb::BuildRequest {
                part: Some(Part::Context(b)),
            })) => Ok(b),
            Ok(Some(_)) => Err(std::io::Error::other("options sent twice")),
            Err(s) => Err(std::io::Error::other(format!(
                "context stream: {}",
                s.message()
            ))),
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

fn request_of(o: pb::BuildOptions) -> Result<BuildRequest, Status> {
    let source_date_epoch = match o.source_date_epoch.as_str() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| {
            to_status(&BuildError::Invalid(format!("invalid SOURCE_DATE_EPOCH: {s}")).into())
        })?),
    };
    Ok(BuildRequest {
        dockerfile: o.dockerfile,
        dockerfile_name: o.dockerfile_name,
        tags: o.tags,
        build_args: o.build_args.into_iter().collect(),
        target: o.target,
        no_cache: o.no_cache,
        pull: o.pull,
        labels: o.labels.into_iter().collect(),
        platform: o.platform,
        source_date_epoch,
    })
}

fn event(p: Progress) -> pb::BuildEvent {
    let e = match p {
        Progress::Started { step, name } => Event::Started(pb::StepStarted { step, name }),
        Progress::Log {
            step,
            line,
            elapsed,
        } => Event::Log(pb::StepLog {
            step,
            line,
            elapsed,
        }),
        Progress::Cached { step } => Event::Cached(pb::StepCached { step }),
        Progress::Done { step, seconds } => Event::Done(pb::StepDone { step, seconds }),
        Progress::Error { step, message } => Event::Error(pb::StepError { step, message }),
    };
    pb::BuildEvent { event: Some(e) }
}

fn result(b: Built) -> pb::BuildEvent {
    pb::BuildEvent {
        event: Some(Event::Result(pb::BuildResult {
            image_id: b.image_id,
            names: b.names,
        })),
    }
}
