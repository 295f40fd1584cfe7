//! `ferry.images.v1` messages for push and search, from the domain's types.

use ferry_proto::images::v1 as pb;

use crate::push::{PushEvent, PushOutcome, PushPhase};
use crate::registries::SearchResult;

pub(super) fn push_event(ev: PushEvent) -> pb::PushEvent {
    let event = match ev {
        PushEvent::Resolved {
            repository,
            tag,
            layer_ids,
        } => pb::push_event::Event::Resolved(pb::PushResolved {
            repository,
            tag,
            layer_ids,
        }),
        PushEvent::Layer {
            id,
            phase,
            current,
            total,
            from,
        } => pb::push_event::Event::Layer(pb::PushLayerProgress {
            id,
            phase: phase_of(phase) as i32,
            current,
            total,
            from,
        }),
    };
    pb::PushEvent { event: Some(event) }
}

pub(super) fn push_done(o: PushOutcome) -> pb::PushEvent {
    pb::PushEvent {
        event: Some(pb::push_event::Event::Done(pb::PushDone {
            tag: o.tag,
            digest: o.digest,
            size: o.size,
        })),
    }
}

fn phase_of(p: PushPhase) -> pb::push_layer_progress::Phase {
    use pb::push_layer_progress::Phase as P;
    match p {
        PushPhase::Preparing => P::Preparing,
        PushPhase::Waiting => P::Waiting,
        PushPhase::Pushing => P::Pushing,
        PushPhase::AlreadyExists => P::LayerAlreadyExists,
        PushPhase::Mounted => P::Mounted,
        PushPhase::Pushed => P::Pushed,
    }
}

pub(super) fn search_result(r: SearchResult) -> pb::SearchResult {
    pb::SearchResult {
        name: r.name,
        description: r.description,
        stars: r.stars,
        official: r.official,
    }
}
