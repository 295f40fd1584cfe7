//! Leases and key locks: how concurrent pulls and garbage collection stay out of each other's way.
//!
//! A pull takes a lease on every blob digest and chain ID it will use *before* it checks whether
//! they exist; GC never removes a leased key, and holds the lease table while it decides and
//! removes. A per-key lock makes two pulls of the same layer download it once: the second waits,
//! then finds the snapshot committed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::OwnedMutexGuard;

#[derive(Debug, Default)]
pub struct Leases {
    inner: Mutex<LeaseTable>,
}

#[derive(Debug, Default)]
pub struct LeaseTable {
    next: u64,
    leases: HashMap<u64, HashSet<String>>,
}

impl LeaseTable {
    pub fn is_leased(&self, key: &str) -> bool {
        self.leases.values().any(|s| s.contains(key))
    }
}

/// Releases its keys when dropped.
#[derive(Debug)]
pub struct Lease {
    id: u64,
    leases: Arc<Leases>,
}

impl Leases {
    pub fn acquire(self: &Arc<Self>, keys: impl IntoIterator<Item = String>) -> Lease {
        let mut t = self.lock();
        t.next += 1;
        let id = t.next;
        t.leases.insert(id, keys.into_iter().collect());
        Lease {
            id,
            leases: Arc::clone(self),
        }
    }

    /// Held by GC for the whole of a collection.
    pub fn lock(&self) -> MutexGuard<'_, LeaseTable> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases.lock().leases.remove(&self.id);
    }
}

#[derive(Debug, Default)]
pub struct KeyLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyLocks {
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 1024 {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.to_string(), Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_releases_on_drop() {
        let leases = Arc::new(Leases::default());
        let l = leases.acquire(["a".to_string()]);
        assert!(leases.lock().is_leased("a"));
        drop(l);
        assert!(!leases.lock().is_leased("a"));
    }

    #[tokio::test]
    async fn key_lock_serializes_same_key_only() {
        let locks = KeyLocks::default();
        let g = locks.lock("k").await;
        let other =
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("j")).await;
        assert!(other.is_ok(), "other keys are free");
        let same =
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("k")).await;
        assert!(same.is_err(), "same key waits");
        drop(g);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("k"))
                .await
                .is_ok()
        );
    }
}
