//! The store: metadata, content and snapshots under one data root, plus the leases and locks
//! that keep concurrent pulls and garbage collection consistent.
//!
//! ```text
//! <data-root>/ferryd.lock      flock: one ferryd per data root
//! <data-root>/metadata.redb    see `metadata`
//! <data-root>/content/         see `content`
//! <data-root>/snapshots/       see `snapshots`
//! ```

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::content::ContentStore;
use crate::error::{Error, Result};
use crate::leases::{KeyLocks, Leases};
use crate::metadata::Metadata;
use crate::snapshots::{ImageMounts, Snapshots};
use crate::users::ImageUsers;
use redb::ReadableDatabase;

#[derive(Debug)]
pub struct Store {
    pub meta: Metadata,
    pub content: ContentStore,
    pub snapshots: Snapshots,
    pub mounts: ImageMounts,
    pub leases: Arc<Leases>,
    pub locks: KeyLocks,
    /// Who holds images besides their names (ferryd's containers).
    pub users: Arc<dyn ImageUsers>,
    /// Where image events go (ferryd's bus, set after open).
    pub events: crate::events::EventSink,
    _lock: File,
}

/// What a repair or collection removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: Vec<String>,
    pub snapshots: Vec<String>,
    pub strays: usize,
}

impl Store {
    /// Opens (creating) the store, taking the data root's lock, and repairs what a crash left.
    pub fn open(data_root: &Path, exec_root: &Path, users: Arc<dyn ImageUsers>) -> Result<Self> {
        std::fs::create_dir_all(data_root).map_err(|e| Error::io("create", data_root, e))?;
        let lock = lock_root(data_root)?;
        let store = Store {
            meta: Metadata::open(&data_root.join("metadata.redb"))?,
            content: ContentStore::open(data_root.join("content"))?,
            snapshots: Snapshots::open(data_root.join("snapshots"))?,
            mounts: ImageMounts::new(exec_root),
            leases: Arc::new(Leases::default()),
            locks: KeyLocks::default(),
            users,
            events: Default::default(),
            _lock: lock,
        };
        let report = store.repair()?;
        if report != GcReport::default() {
            tracing::info!(?report, "repaired the store after an interrupted run");
        }
        Ok(store)
    }

    /// Brings disk and metadata back to the invariant: drops records whose files are gone (and
    /// images that needed them), removes files without records and temporaries, then collects.
    pub fn repair(&self) -> Result<GcReport> {
        let mut report = GcReport {
            strays: self.content.clean_ingest()?,
            ..Default::default()
        };
        let (ids, others) = self.snapshots.list_dirs()?;
        for stray in &others {
            remove_dir(stray);
            report.strays += 1;
        }
        self.drop_dangling_records(&ids)?;
        let known: HashSet<u64> = self.meta.snapshots()?.iter().map(|s| s.id).collect();
        for id in ids.into_iter().filter(|id| !known.contains(id)) {
            self.snapshots.remove(id)?;
            report.strays += 1;
        }
        let blobs: HashSet<String> = self
            .meta
            .all_content()?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        for digest in self.content.list_files()? {
            if !blobs.contains(&digest) {
                self.content.remove(&digest)?;
                report.strays += 1;
            }
        }
        let gc = self.gc()?;
        report.blobs = gc.blobs;
        report.snapshots = gc.snapshots;
        Ok(report)
    }

    /// Removes content and snapshot records whose files vanished, and images that used them.
    fn drop_dangling_records(&self, snapshot_ids: &[u64]) -> Result<()> {
        let on_disk: HashSet<u64> = snapshot_ids.iter().copied().collect();
        let missing_snaps: HashSet<String> = self
            .meta
            .snapshots()?
            .into_iter()
            .filter(|s| !on_disk.contains(&s.id))
            .map(|s| s.chain_id)
            .collect();
        let missing_blobs: HashSet<String> = self
            .meta
            .all_content()?
            .into_iter()
            .filter(|(d, _)| {
                self.content
                    .blob_path(d)
                    .map(|p| !p.exists())
                    .unwrap_or(true)
            })
            .map(|(d, _)| d)
            .collect();
        if missing_snaps.is_empty() && missing_blobs.is_empty() {
            return Ok(());
        }
        let is_broken = |i: &crate::images::ImageRecord| {
            i.chain_ids().any(|c| missing_snaps.contains(c))
                || i.blobs.iter().any(|b| missing_blobs.contains(b))
        };
        let broken: Vec<String> = self
            .meta
            .images()?
            .into_iter()
            .filter(is_broken)
            .map(|i| i.name)
            .collect();
        let stale: Vec<String> = crate::built::cache::all(self)?
            .into_iter()
            .filter(is_broken)
            .map(|i| i.name)
            .collect();
        crate::built::cache::remove(self, &stale)?;
        tracing::warn!(
            ?broken,
            ?missing_snaps,
            ?missing_blobs,
            "dropping records whose files are gone"
        );
        self.meta
            .remove_records(&broken, &missing_blobs, &missing_snaps)
    }

    /// Removes every blob and snapshot that no image references and no pull has leased.
    ///
    /// Images that have users are referenced by their records: an image keeps a record
    /// (untagged if need be) while anything uses it (`images::remove`), so its snapshots, the
    /// users' lower layers, stay. The users' config digests are kept too, in case.
    pub fn gc(&self) -> Result<GcReport> {
        let leases = self.leases.lock();
        let mut images = self.meta.images()?;
        let users = self.users.users_read(&self.meta.db().begin_read()?)?;
        for u in &users {
            if !images.iter().any(|i| i.config_digest == u.image_id) {
                tracing::warn!(user = %u.id, image = %u.image_id, "an image in use has no record");
            }
        }
        // Build cache entries hold their layers and configs as images do (see `built::cache`).
        let cached = crate::built::cache::all(self)?;
        images.extend(cached);
        let used_blobs: HashSet<&str> = images
            .iter()
            .flat_map(|i| i.blobs.iter().map(String::as_str))
            .chain(users.iter().map(|u| u.image_id.as_str()))
            .collect();
        let used_snaps: HashSet<&str> = images.iter().flat_map(|i| i.chain_ids()).collect();
        let blobs: Vec<String> = self
            .meta
            .all_content()?
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| !used_blobs.contains(d.as_str()) && !leases.is_leased(d))
            .collect();
        let snaps: Vec<_> = self
            .meta
            .snapshots()?
            .into_iter()
            .filter(|s| !used_snaps.contains(s.chain_id.as_str()) && !leases.is_leased(&s.chain_id))
            .collect();
        let chain_ids: HashSet<String> = snaps.iter().map(|s| s.chain_id.clone()).collect();
        // Nothing to collect (the usual case when images share their layers): no write
        // transaction, so no fsync.
        if !blobs.is_empty() || !chain_ids.is_empty() {
            self.meta
                .remove_records(&[], &blobs.iter().cloned().collect(), &chain_ids)?;
        }
        // Blob paths are shared by digest: remove them while still holding the lease table, so
        // a pull cannot commit the same digest between our decision and the unlink.
        for d in &blobs {
            self.content.remove(d)?;
        }
        drop(leases);
        for s in &snaps {
            self.snapshots.remove(s.id)?;
        }
        Ok(GcReport {
            blobs,
            snapshots: chain_ids.into_iter().collect(),
            strays: 0,
        })
    }

    pub fn snapshot_dirs(&self, chain_ids: &[String]) -> Result<Vec<PathBuf>> {
        chain_ids
            .iter()
            .rev()
            .map(|c| {
                let info = self
                    .meta
                    .snapshot(c)?
                    .ok_or_else(|| Error::Metadata(format!("snapshot {c} is missing")))?;
                Ok(self.snapshots.fs_path(info.id))
            })
            .collect()
    }
}

fn lock_root(data_root: &Path) -> Result<File> {
    let path = data_root.join("ferryd.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|_| Error::Locked { path: path.clone() })?;
    Ok(file)
}

fn remove_dir(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove stray directory");
    }
}
