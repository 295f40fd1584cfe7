//! ferryd's event bus: what happened, as `docker events` shows it. Every publisher (the container
//! domain, networks, volumes, and the image service through its `ImageEvents` interface) sends
//! here; subscribers get the bounded history they ask for, then live events, with no gap
//! between the two (both are taken under one lock).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::broadcast;

/// How many past events `events --since` can reach back to.
const HISTORY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// "container", "image", "network", "volume".
    pub kind: &'static str,
    pub action: String,
    pub actor: String,
    pub attributes: BTreeMap<String, String>,
    /// Unix nanoseconds.
    pub time_nano: i64,
}

#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(HISTORY).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl EventBus {
    pub fn publish(
        &self,
        kind: &'static str,
        action: &str,
        actor: &str,
        attributes: &[(&str, &str)],
    ) {
        let event = Event {
            kind,
            action: action.to_string(),
            actor: actor.to_string(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            time_nano: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        };
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(event.clone());
        // No subscriber is not an error: the history keeps it.
        let _ = self.tx.send(event);
    }

    /// The history from `since` (unix nanoseconds; `None`: none of it) and a receiver of
    /// everything after.
    pub fn subscribe(&self, since: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let past = match since {
            Some(t) => h.iter().filter(|e| e.time_nano >= t).cloned().collect(),
            None => Vec::new(),
        };
        (past, self.tx.subscribe())
    }

    /// A container event, with Docker's attributes (`name`, `image`) and any more.
    pub fn container(
        &self,
        action: &str,
        rec: &crate::containers::ContainerRecord,
        more: &[(&str, &str)],
    ) {
        let mut attrs = vec![
            ("name", rec.name.as_str()),
            ("image", rec.config.image.as_str()),
        ];
        // As Docker: the container's labels are attributes too (the CRI finds its pod by one).
        attrs.extend(
            rec.config
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        attrs.extend_from_slice(more);
        self.publish("container", action, &rec.id, &attrs);
    }
}

impl ferry_image_service::events::ImageEvents for EventBus {
    fn image(&self, action: &str, id: &str, name: &str) {
        self.publish("image", action, id, &[("name", name)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_then_live_with_nothing_lost_between() {
        let bus = EventBus::default();
        bus.publish("volume", "create", "v1", &[("driver", "local")]);
        let (past, mut live) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].attributes["driver"], "local");
        bus.publish("volume", "destroy", "v1", &[]);
        assert_eq!(live.try_recv().unwrap().action, "destroy");
        // No --since: only what comes next.
        let (none, _) = bus.subscribe(None);
        assert!(none.is_empty());
    }

    #[test]
    fn the_history_is_bounded() {
        let bus = EventBus::default();
        for i in 0..HISTORY + 10 {
            bus.publish("image", "tag", &i.to_string(), &[]);
        }
        let (past, _) = bus.subscribe(Some(0));
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].actor, "10");
    }
}
