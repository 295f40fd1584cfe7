//! The request cache: an Exec/Attach/PortForward request waits here under a random token
//! until its client connects to the URL carrying it. A token is good once and for a minute,
//! and at most [`MAX_IN_FLIGHT`] wait at a time (as the kubelet's request cache), so a flood
//! of RPCs cannot grow it without bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

pub const TOKEN_TTL: Duration = Duration::from_secs(60);
pub const MAX_IN_FLIGHT: usize = 1000;

#[derive(Debug)]
pub struct RequestCache<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> Default for RequestCache<T> {
    fn default() -> Self {
        RequestCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> RequestCache<T> {
    /// Stores `req`; its token, or None when the cache is full of live requests.
    pub fn insert(&self, req: T) -> Option<String> {
        self.insert_at(req, Instant::now())
    }

    /// The request stored under `token`, removed: a second use finds nothing.
    pub fn consume(&self, token: &str) -> Option<T> {
        self.consume_at(token, Instant::now())
    }

    fn insert_at(&self, req: T, now: Instant) -> Option<String> {
        let mut all = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, (at, _)| now.duration_since(*at) < TOKEN_TTL);
        if all.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        all.insert(token.clone(), (now, req));
        Some(token)
    }

    fn consume_at(&self, token: &str, now: Instant) -> Option<T> {
        let mut all = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (at, req) = all.remove(token)?;
        (now.duration_since(at) < TOKEN_TTL).then_some(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_good_once() {
        let c = RequestCache::default();
        let t = c.insert(7).unwrap();
        assert_eq!(c.consume(&t), Some(7));
        assert_eq!(c.consume(&t), None);
        assert_eq!(c.consume("made-up"), None);
    }

    #[test]
    fn a_token_expires_after_a_minute() {
        let c = RequestCache::default();
        let t0 = Instant::now();
        let t = c.insert_at(1, t0).unwrap();
        assert_eq!(c.consume_at(&t, t0 + TOKEN_TTL), None);
        let t = c.insert_at(2, t0).unwrap();
        assert_eq!(
            c.consume_at(&t, t0 + TOKEN_TTL - Duration::from_secs(1)),
            Some(2)
        );
    }

    #[test]
    fn the_cache_is_capped_until_entries_expire() {
        let c = RequestCache::default();
        let t0 = Instant::now();
        let tokens: Vec<_> = (0..MAX_IN_FLIGHT)
            .map(|i| c.insert_at(i, t0).unwrap())
            .collect();
        assert_eq!(c.insert_at(0, t0).as_deref(), None);
        let uniq: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(uniq.len(), MAX_IN_FLIGHT, "tokens are distinct");
        assert!(
            c.insert_at(0, t0 + TOKEN_TTL).is_some(),
            "expired ones make room"
        );
    }
}
