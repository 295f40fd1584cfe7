//! Domain types to `ferry.images.v1` messages.

use ferry_proto::images::v1 as pb;

use crate::images::inspect::HistoryEntry;
use crate::images::list::Listed;
use crate::images::remove::Removed;
use crate::images::usage::DiskUsage;
use crate::images::ImageRecord;
use crate::pull::{Phase, PullEvent, PullOutcome};
use crate::Result;

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

/// An untagged record travels with an empty name.
pub fn image(r: &ImageRecord) -> pb::Image {
    pb::Image {
        name: if r.is_untagged() {
            String::new()
        } else {
            r.name.clone()
        },
        id: r.config_digest.clone(),
        target_digest: if r.is_untagged() {
            String::new()
        } else {
            r.target_digest.clone()
        },
        created: r.created,
        size: r.size,
        pulled_at: r.pulled_at,
        ..Default::default()
    }
}

pub(super) fn listed(l: &Listed) -> pb::Image {
    pb::Image {
        labels: l.labels.clone().into_iter().collect(),
        ..image(&l.record)
    }
}

pub(super) fn delete_item(r: Removed) -> pb::DeleteItem {
    use pb::delete_item::Item;
    let item = match r {
        Removed::Untagged(s) => Item::Untagged(s),
        Removed::Deleted(s) => Item::Deleted(s),
    };
    pb::DeleteItem { item: Some(item) }
}

pub(super) fn history_entry(h: HistoryEntry) -> pb::HistoryEntry {
    pb::HistoryEntry {
        id: h.id,
        created: h.created,
        created_by: h.created_by,
        size: h.size,
        comment: h.comment,
        tags: h.tags,
    }
}

/// One name's outcome in a many-name `rmi`: its lines, or its error as a code and message.
pub(super) fn remove_result(image: String, r: Result<Vec<Removed>>) -> pb::RemoveResult {
    match r {
        Ok(items) => pb::RemoveResult {
            image,
            items: items.into_iter().map(delete_item).collect(),
            code: 0,
            message: String::new(),
        },
        Err(e) => {
            let status = super::to_status(&e);
            pb::RemoveResult {
                image,
                items: Vec::new(),
                code: status.code() as i32,
                message: status.message().to_string(),
            }
        }
    }
}

/// The images' part of `system df` (ferryd's system service adds containers and volumes).
pub fn disk_usage_images(du: &DiskUsage) -> Vec<pb::Image> {
    du.images
        .iter()
        .map(|i| pb::Image {
            shared_size: i.shared_size,
            containers: i64::try_from(i.users).unwrap_or(i64::MAX),
            ..image(&i.record)
        })
        .collect()
}
