//! What the image service tells the outside happened (`docker events`' image events): through
//! one small interface it defines, as it asks who uses an image through `users`.

use std::sync::{Arc, OnceLock};

/// A sink for image events: ferryd's event bus.
pub trait ImageEvents: Send + Sync + std::fmt::Debug {
    /// `action` (pull, push, tag, untag, delete, save, load) on image `id`, known as `name`.
    fn image(&self, action: &str, id: &str, name: &str);
}

/// The sink, set once by ferryd after the store is open; until then events go nowhere.
#[derive(Debug, Default)]
pub struct EventSink(OnceLock<Arc<dyn ImageEvents>>);

impl EventSink {
    pub fn set(&self, sink: Arc<dyn ImageEvents>) {
        // Set once at start; a second call keeps the first sink.
        let _ = self.0.set(sink);
    }

    pub fn image(&self, action: &str, id: &str, name: &str) {
        if let Some(s) = self.0.get() {
            s.image(action, id, name);
        }
    }
}
