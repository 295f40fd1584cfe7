//! GetContainerEvents: the event bus's container events, for pods' containers, as CRI events
//! (create → CREATED, start → STARTED, die → STOPPED, destroy → DELETED) with the container's
//! and its sandbox's status at that moment.

use std::sync::Arc;

use futures::Stream;
use k8s_cri::v1 as cri;
use tokio::sync::broadcast::error::RecvError;
use tonic::Status;

use super::{convert, Cri};

fn event_type(action: &str) -> Option<cri::ContainerEventType> {
    Some(match action {
        "create" => cri::ContainerEventType::ContainerCreatedEvent,
        "start" => cri::ContainerEventType::ContainerStartedEvent,
        "die" => cri::ContainerEventType::ContainerStoppedEvent,
        "destroy" => cri::ContainerEventType::ContainerDeletedEvent,
        _ => return None,
    })
}

/// Live events until the client hangs up; a subscriber that falls behind skips what it
/// missed (the CRI's consumers re-list), it is not cut off.
pub fn stream(cri: Arc<Cri>) -> impl Stream<Item = Result<cri::ContainerEventResponse, Status>> {
    let (_, mut rx) = cri.containers.events.subscribe(None);
    async_stream::stream! {
        loop {
            let e = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            if e.kind != "container" {
                continue;
            }
            let Some(t) = event_type(&e.action) else { continue };
            let Some(sandbox) = e.attributes.get(super::container_config::SANDBOX_ID) else { continue };
            let status = cri.containers.get(&e.actor).ok().map(|c| convert::container_status(&c, None));
            let sb = cri.sandboxes.get(sandbox).ok().map(|s| convert::sandbox_status(&s));
            yield Ok(cri::ContainerEventResponse {
                container_id: e.actor.clone(),
                container_event_type: t as i32,
                created_at: e.time_nano,
                pod_sandbox_status: sb,
                containers_statuses: status.into_iter().collect(),
            });
        }
    }
}
