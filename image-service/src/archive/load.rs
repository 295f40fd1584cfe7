//! `load`: spool → interpret → commit blobs → unpack layers → commit every record at once.
//!
//! Crash safety and failure follow the pull: the blobs and chain IDs are leased before anything
//! is committed, so GC leaves them alone; blobs are renamed into the content store only once
//! verified (their digest was checked while spooling) and recorded after the rename; layers go
//! through the pull's own layer path (`Puller::unpack_local`), which checks each diff_id against
//! the config and skips snapshots that exist. The image records are written last, all in one
//! transaction. On any error the lease is dropped and GC removes what this load committed; the
//! spool directory is removed when it is dropped (and by ferryd's start-up cleaning).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parse::{candidates, Blob, Candidate};
use super::spool::{Spool, SpoolLimits};
use crate::error::{Error, Result};
use crate::images::refs::{familiar, put_named};
use crate::images::{chain_ids, untagged_key, ImageRecord, LayerRecord};
use crate::metadata::ContentInfo;
use crate::pull::reader::{ChannelReader, Chunk};
use crate::pull::{platform_string, sync_data_root, Puller};
use crate::store::Store;

/// What `ferry load` prints for an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Familiar name (`busybox:latest`); None for an untagged image.
    pub name: Option<String>,
    pub id: String,
    /// The image the name pointed at before (it stays, untagged, unless named elsewhere).
    pub replaced_id: Option<String>,
}

/// Loads the archive arriving on `input` (a `Chunk::End` marks its complete end).
pub(crate) async fn load(
    puller: &Arc<Puller>,
    input: mpsc::Receiver<Chunk>,
    limits: SpoolLimits,
) -> Result<Vec<Loaded>> {
    let store = Arc::clone(&puller.store);
    let parent = store.content.ingest_dir();
    let spool = blocking(move || {
        let reader = std::io::BufReader::with_capacity(256 << 10, ChannelReader::new(input));
        Spool::read(&parent, reader, &limits)
    })
    .await?;
    let spool = Arc::new(spool);
    let sp = Arc::clone(&spool);
    let found = blocking(move || candidates(&sp)).await?;
    let records = records_of(&found);
    let keys = found.iter().flat_map(lease_keys).collect::<Vec<_>>();
    let lease = store.leases.acquire(keys);
    let res = commit(puller, &found, &records).await;
    drop(lease);
    if res.is_err() {
        if let Err(e) = store.gc() {
            tracing::warn!(error = %e, "cleaning up after a failed load failed");
        }
    }
    drop(spool);
    res
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Metadata(format!("load task: {e}")))?
}

fn lease_keys(c: &Candidate) -> Vec<String> {
    let blobs = [&c.manifest, &c.config].into_iter().chain(&c.layers);
    blobs
        .map(|b| b.digest.clone())
        .chain(chain_ids(&c.image_config.rootfs.diff_ids))
        .collect()
}

async fn commit(
    puller: &Arc<Puller>,
    found: &[Candidate],
    records: &[Vec<ImageRecord>],
) -> Result<Vec<Loaded>> {
    let store = &puller.store;
    let mut sizes = Vec::with_capacity(found.len());
    for c in found {
        commit_blobs(store, c).await?;
        let layers = layer_records(c);
        sizes.push(
            puller
                .unpack_local(&layers, &CancellationToken::new())
                .await?,
        );
    }
    let records: Vec<Vec<ImageRecord>> = records
        .iter()
        .zip(sizes)
        .map(|(rs, size)| {
            rs.iter()
                .map(|r| ImageRecord { size, ..r.clone() })
                .collect()
        })
        .collect();
    let st = Arc::clone(store);
    let loaded = blocking(move || {
        sync_data_root(&st)?;
        commit_records(&st, &records, "load")
    })
    .await?;
    if let Err(e) = store.gc() {
        tracing::warn!(error = %e, "collecting after a load failed");
    }
    Ok(loaded)
}

/// Moves every blob of the image into the content store (those it already has stay as they are).
async fn commit_blobs(store: &Arc<Store>, c: &Candidate) -> Result<()> {
    if let Some(bytes) = &c.written_manifest {
        put_small(store, &c.manifest.digest, bytes)?;
    }
    for b in [&c.manifest, &c.config].into_iter().chain(&c.layers) {
        let _lock = store.locks.lock(&format!("blob:{}", b.digest)).await;
        adopt(store, b)?;
    }
    Ok(())
}

pub(crate) fn put_small(store: &Store, digest: &str, bytes: &[u8]) -> Result<()> {
    if store.meta.content(digest)?.is_some() {
        return Ok(());
    }
    store.content.write_small(digest, bytes)?;
    record_blob(store, digest, bytes.len() as u64)
}

/// Renames a spooled, verified file into place. A blob shared by two images of the archive was
/// moved the first time; its record says so.
fn adopt(store: &Store, b: &Blob) -> Result<()> {
    let Some(src) = &b.source else { return Ok(()) };
    if store.meta.content(&b.digest)?.is_some() {
        return Ok(());
    }
    let target = store.content.blob_path(&b.digest)?;
    std::fs::rename(&src.file, &target).map_err(|e| Error::io("rename", &target, e))?;
    record_blob(store, &b.digest, b.size)
}

pub(crate) fn record_blob(store: &Store, digest: &str, size: u64) -> Result<()> {
    let info = ContentInfo {
        size,
        created: chrono::Utc::now().timestamp(),
    };
    store.meta.put_content(digest, &info)
}

fn layer_records(c: &Candidate) -> Vec<LayerRecord> {
    let diffs = &c.image_config.rootfs.diff_ids;
    c.layers
        .iter()
        .zip(diffs)
        .zip(chain_ids(diffs))
        .map(|((b, diff), chain)| LayerRecord {
            digest: b.digest.clone(),
            media_type: b.media_type.clone(),
            size: b.size,
            diff_id: diff.clone(),
            chain_id: chain,
        })
        .collect()
}

/// The records an image gets: one per name, or one untagged record.
fn records_of(found: &[Candidate]) -> Vec<Vec<ImageRecord>> {
    found
        .iter()
        .map(|c| {
            let base = base_record(c);
            if c.names.is_empty() {
                return vec![base.untagged()];
            }
            let mut names: Vec<&String> = c.names.iter().collect();
            names.dedup();
            names
                .into_iter()
                .map(|n| ImageRecord {
                    name: n.clone(),
                    ..base.clone()
                })
                .collect()
        })
        .collect()
}

fn base_record(c: &Candidate) -> ImageRecord {
    let cfg = &c.image_config;
    let mut blobs = vec![c.manifest.digest.clone(), c.config.digest.clone()];
    blobs.extend(c.layers.iter().map(|l| l.digest.clone()));
    let mut seen = HashSet::new();
    blobs.retain(|d| seen.insert(d.clone()));
    ImageRecord {
        name: untagged_key(&c.config.digest),
        target_digest: c.manifest.digest.clone(),
        target_media_type: c.manifest.media_type.clone(),
        manifest_digest: c.manifest.digest.clone(),
        config_digest: c.config.digest.clone(),
        platform: platform_string(&crate::distribution::Platform {
            os: cfg.os.clone(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
        }),
        layers: layer_records(c),
        blobs,
        created: cfg.created_unix(),
        pulled_at: chrono::Utc::now().timestamp(),
        size: 0,
    }
}

/// Writes every record in one transaction, after checking that each blob and snapshot it names
/// is committed; returns what `ferry load` prints. Each image gets an `action` event.
pub(crate) fn commit_records(
    store: &Store,
    records: &[Vec<ImageRecord>],
    action: &str,
) -> Result<Vec<Loaded>> {
    let txn = store.meta.db().begin_write()?;
    let mut loaded = Vec::new();
    {
        let all: Vec<ImageRecord> = records.iter().flatten().cloned().collect();
        crate::metadata::check_committed(&txn, &all)?;
        let mut images = crate::images::refs::open_in(&txn)?;
        for r in records.iter().flatten() {
            loaded.push(put_record(&mut images, r)?);
        }
    }
    txn.commit()?;
    for l in &loaded {
        let name = l.name.as_deref().unwrap_or(&l.id);
        store.events.image(action, &l.id, name);
    }
    Ok(loaded)
}

fn put_record(t: &mut crate::images::refs::ImagesTable<'_>, r: &ImageRecord) -> Result<Loaded> {
    let all = crate::images::refs::records_in(t)?;
    let id = r.config_digest.clone();
    if r.is_untagged() {
        // An image that has names keeps them; it gets no untagged record beside them.
        if !all.iter().any(|o| o.config_digest == id) {
            put_named(t, r)?;
        }
        return Ok(Loaded {
            name: None,
            id,
            replaced_id: None,
        });
    }
    let replaced_id = all
        .iter()
        .find(|o| o.name == r.name && o.config_digest != id)
        .map(|o| o.config_digest.clone());
    put_named(t, r)?;
    Ok(Loaded {
        name: Some(familiar(&r.name)),
        id,
        replaced_id,
    })
}
