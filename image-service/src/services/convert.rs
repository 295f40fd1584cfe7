//! Domain types to `ferry.images.v1` messages.

use ferry_proto::images::v1 as pb;

use crate::images::ImageRecord;
use crate::pull::{Phase, PullEvent, PullOutcome};

pub(super) fn event(ev: PullEvent) -> pb::PullEvent {
    let event = match ev {
        PullEvent::Resolved {
            reference,
            tag_or_digest,
            repository,
            layer_ids,
        } => pb::pull_event::Event::Resolved(pb::PullResolved {
            reference,
            tag_or_digest,
            repository,
            layer_ids,
        }),
        PullEvent::Layer {
            id,
            phase,
            current,
            total,
        } => pb::pull_event::Event::Layer(pb::LayerProgress {
            id,
            phase: phase_of(phase) as i32,
            current,
            total,
        }),
    };
    pb::PullEvent { event: Some(event) }
}

pub(super) fn done(o: PullOutcome) -> pb::PullEvent {
    pb::PullEvent {
        event: Some(pb::pull_event::Event::Done(pb::PullDone {
            reference: o.reference,
            digest: o.digest,
            up_to_date: o.up_to_date,
            image_id: o.image_id,
        })),
    }
}

fn phase_of(p: Phase) -> pb::layer_progress::Phase {
    use pb::layer_progress::Phase as P;
    match p {
        Phase::Waiting => P::Waiting,
        Phase::Downloading => P::Downloading,
        Phase::Verifying => P::Verifying,
        Phase::Extracting => P::Extracting,
        Phase::PullComplete => P::PullComplete,
        Phase::AlreadyExists => P::AlreadyExists,
        Phase::Retrying => P::Retrying,
    }
}

pub(super) fn image(r: &ImageRecord) -> pb::Image {
    pb::Image {
        name: r.name.clone(),
        id: r.config_digest.clone(),
        target_digest: r.target_digest.clone(),
        created: r.created,
        size: r.size,
        pulled_at: r.pulled_at,
    }
}
