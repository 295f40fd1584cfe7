//! `ferry.events.v1.Events`: the bus's history from `since`, then live events until `until` or
//! the client hangs up.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::events::v1 as pb;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::events::{Event, EventBus};

#[derive(Debug, Clone)]
pub struct EventsService {
    bus: Arc<EventBus>,
}

impl EventsService {
    pub fn new(bus: Arc<EventBus>) -> Self {
        EventsService { bus }
    }
}

fn event(e: Event) -> pb::Event {
    pb::Event {
        r#type: e.kind.to_string(),
        action: e.action,
        actor_id: e.actor,
        attributes: e.attributes.into_iter().collect(),
        time_nano: e.time_nano,
    }
}

fn now_nano() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl pb::events_server::Events for EventsService {
    type SubscribeStream = EventStream;

    #[tracing::instrument(skip_all)]
    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let pb::SubscribeRequest { since, until } = req.into_inner();
        // As Docker: --until alone replays the history up to then.
        let from = (since > 0 || until > 0).then_some(since);
        let (past, mut live) = self.bus.subscribe(from);
        let stream = async_stream::stream! {
            for e in past {
                if until > 0 && e.time_nano > until {
                    return;
                }
                yield Ok(event(e));
            }
            loop {
                let left = if until > 0 { until - now_nano() } else { i64::MAX };
                if left <= 0 {
                    return;
                }
                let wait = Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX));
                match tokio::time::timeout(wait, live.recv()).await {
                    Ok(Ok(e)) if until == 0 || e.time_nano <= until => yield Ok(event(e)),
                    Ok(Ok(_)) | Err(_) | Ok(Err(RecvError::Closed)) => return,
                    // A slow reader missed some: say so rather than pretend the stream is whole.
                    Ok(Err(RecvError::Lagged(n))) => {
                        yield Err(Status::data_loss(format!("{n} events were dropped: the reader fell behind")));
                        return;
                    }
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }
}
