//! One layer's journey: lock its chain ID, skip it if its snapshot exists, else stream it from
//! the registry (or from the local blob) through hashing, decompression and extraction, verify
//! both digests, wait for the lower layers, then finish and commit the snapshot.
//!
//! Lock order, which rules out deadlock between concurrent pulls: chain ID (held throughout) →
//! download permit → blob digest (held only while bytes flow). A task waits for lower layers
//! only after releasing the permit and the blob lock. The two kinds of key live in their own
//! namespaces: an uncompressed base layer's chain ID *is* its blob digest.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

use super::reader::{ChannelReader, Chunk, HashingReader, SpaceGuard, TeeReader};
use super::{short_id, Events, Phase, PullEvent, Puller};
use crate::content::Ingest;
use crate::distribution::{BlobChunk, Descriptor, Reference};
use crate::error::{Error, Result};
use crate::images::LayerRecord;
use crate::metadata::ContentInfo;
use crate::snapshots::{Prepared, SnapshotInfo};
use crate::unpack::{apply_layer, decompressor, finish_layer, ApplyOutcome, Compression, Limits};

/// Each layer's fate, for the layer above it: `None` while pending.
type Done = watch::Receiver<Option<bool>>;

/// Fetches and commits every layer; returns the image's unpacked size.
pub(super) async fn fetch_layers(
    p: &Puller,
    r: &Reference,
    layers: &[LayerRecord],
    events: &Events,
    cancel: &CancellationToken,
) -> Result<u64> {
    let cancel = cancel.child_token();
    let permits = Arc::new(Semaphore::new(p.cfg.max_concurrent_downloads.max(1)));
    let mut below: Option<Done> = None;
    let mut tasks = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let (tx, rx) = watch::channel(None);
        let ctx = Task {
            p,
            r,
            events,
            cancel: &cancel,
            permits: &permits,
        };
        let lowers: Vec<String> = layers[..i].iter().map(|l| l.chain_id.clone()).collect();
        tasks.push(ctx.run(layer, lowers, below.take(), tx));
        below = Some(rx);
    }
    let results = futures::future::join_all(tasks).await;
    let mut size = 0;
    let mut first_err = None;
    for res in results {
        match res {
            Ok(s) => size += s,
            Err(Error::Cancelled) => first_err = first_err.or(Some(Error::Cancelled)),
            Err(e) if matches!(first_err, None | Some(Error::Cancelled)) => first_err = Some(e),
            Err(_) => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(size),
    }
}

struct Task<'a> {
    p: &'a Puller,
    r: &'a Reference,
    events: &'a Events,
    cancel: &'a CancellationToken,
    permits: &'a Arc<Semaphore>,
}

impl Task<'_> {
    async fn run(
        self,
        layer: &LayerRecord,
        lowers: Vec<String>,
        below: Option<Done>,
        done: watch::Sender<Option<bool>>,
    ) -> Result<u64> {
        let span = info_span!("layer", digest = %layer.digest, size = layer.size, chain_id = %layer.chain_id);
        let res = self.run_inner(layer, lowers, below).instrument(span).await;
        if res.is_err() {
            self.cancel.cancel();
        }
        let _ = done.send(Some(res.is_ok()));
        res
    }

    async fn run_inner(
        &self,
        layer: &LayerRecord,
        lowers: Vec<String>,
        below: Option<Done>,
    ) -> Result<u64> {
        let id = short_id(&layer.digest);
        let _chain = self
            .p
            .store
            .locks
            .lock(&format!("snapshot:{}", layer.chain_id))
            .await;
        if let Some(info) = self.p.store.meta.snapshot(&layer.chain_id)? {
            self.fetch_blob_only(layer, &id).await?;
            return Ok(info.size);
        }
        let permit = self.permit().await?;
        let started = std::time::Instant::now();
        let prepared = self.p.store.snapshots.prepare()?;
        let outcome = {
            let _blob = self
                .p
                .store
                .locks
                .lock(&format!("blob:{}", layer.digest))
                .await;
            self.download_and_extract(layer, Some(&prepared), &id)
                .await?
        };
        self.p.metrics.layer_done(started);
        drop(permit);
        wait_below(below, self.cancel).await?;
        let size = self.commit(layer, lowers, prepared, outcome).await?;
        self.phase(&id, Phase::PullComplete, layer.size, layer.size)
            .await;
        Ok(size)
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        tokio::select! {
            p = self.permits.acquire() => p.map_err(|_| Error::Cancelled),
            () = self.cancel.cancelled() => Err(Error::Cancelled),
        }
    }

    /// The snapshot exists (unpacked from another image with the same diff IDs, e.g. the gzip
    /// twin of a zstd image): fetch the blob only if this image's own blob is missing, since
    /// push and save need it, and verify both of its digests without extracting.
    async fn fetch_blob_only(&self, layer: &LayerRecord, id: &str) -> Result<()> {
        let _blob = self
            .p
            .store
            .locks
            .lock(&format!("blob:{}", layer.digest))
            .await;
        if self.p.store.meta.content(&layer.digest)?.is_some() {
            self.phase(id, Phase::AlreadyExists, 0, layer.size).await;
            return Ok(());
        }
        let permit = self.permit().await?;
        self.download_and_extract(layer, None, id).await?;
        drop(permit);
        self.phase(id, Phase::AlreadyExists, layer.size, layer.size)
            .await;
        Ok(())
    }

    /// Streams the layer through hashing and decompression, into `prepared` when given.
    async fn download_and_extract(
        &self,
        layer: &LayerRecord,
        prepared: Option<&Prepared>,
        id: &str,
    ) -> Result<ApplyOutcome> {
        let local = self.p.store.meta.content(&layer.digest)?.is_some();
        let ingest = if local {
            None
        } else {
            Some(self.p.store.content.ingest(&layer.digest, layer.size)?)
        };
        let (tx, rx) = mpsc::channel(16);
        let job = ExtractJob {
            compression: Compression::from_media_type(&layer.media_type).ok_or_else(|| {
                Error::UnsupportedLayer {
                    media_type: layer.media_type.clone(),
                    digest: layer.digest.clone(),
                }
            })?,
            fs: prepared.map(Prepared::fs),
            limits: self.p.cfg.unpack_limits.clone(),
            max_bytes: self.p.cfg.layer_cap(layer.size),
            space: (self.p.cfg.min_free_bytes > 0)
                .then(|| (self.p.cfg.data_root.clone(), self.p.cfg.min_free_bytes)),
            layer: layer.clone(),
        };
        let span = info_span!("extract", digest = %layer.digest);
        let extract = tokio::task::spawn_blocking(move || span.in_scope(|| job.run(rx, ingest)));
        let fed = if local {
            self.feed_local(layer, tx).await
        } else {
            self.feed_remote(layer, id, tx)
                .instrument(info_span!("download", digest = %layer.digest))
                .await
        };
        self.phase(id, Phase::Extracting, layer.size, layer.size)
            .await;
        let extracted = extract
            .await
            .map_err(|e| Error::Metadata(format!("extract task: {e}")));
        fed?;
        let extracted = extracted??;
        if !local {
            let info = ContentInfo {
                size: layer.size,
                created: chrono::Utc::now().timestamp(),
            };
            self.p.store.meta.put_content(&layer.digest, &info)?;
        }
        Ok(extracted)
    }

    /// Streams the blob from the registry into the extraction thread. Returns Ok when the thread
    /// stopped reading (its own error then explains why).
    async fn feed_remote(
        &self,
        layer: &LayerRecord,
        id: &str,
        tx: mpsc::Sender<Chunk>,
    ) -> Result<()> {
        let desc = Descriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            platform: None,
            urls: Vec::new(),
        };
        let stream = self.p.registry.blob_stream(self.r, &desc);
        futures::pin_mut!(stream);
        let mut got = 0u64;
        let mut reported = 0u64;
        loop {
            let item = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(Error::Cancelled),
                item = stream.next() => item,
            };
            match item {
                None => break,
                Some(Ok(BlobChunk::Data(b))) => {
                    got += b.len() as u64;
                    self.p.metrics.fetched(b.len());
                    if tx.send(Chunk::Data(b)).await.is_err() {
                        return Ok(());
                    }
                    if got - reported >= (256 << 10) || got == layer.size {
                        reported = got;
                        self.progress(id, got, layer.size);
                    }
                }
                Some(Ok(BlobChunk::Retrying { offset, .. })) => {
                    self.phase(id, Phase::Retrying, offset, layer.size).await
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
        self.phase(id, Phase::Verifying, got, layer.size).await;
        let _ = tx.send(Chunk::End).await;
        Ok(())
    }

    /// The blob is already in the content store (shared with another image on other parents).
    async fn feed_local(&self, layer: &LayerRecord, tx: mpsc::Sender<Chunk>) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let path = self.p.store.content.blob_path(&layer.digest)?;
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io("open", &path, e))?;
        loop {
            let mut buf = bytes::BytesMut::with_capacity(256 << 10);
            let n = f
                .read_buf(&mut buf)
                .await
                .map_err(|e| Error::io("read", &path, e))?;
            let chunk = if n == 0 {
                Chunk::End
            } else {
                Chunk::Data(buf.freeze())
            };
            if tx.send(chunk).await.is_err() || n == 0 || self.cancel.is_cancelled() {
                return if self.cancel.is_cancelled() {
                    Err(Error::Cancelled)
                } else {
                    Ok(())
                };
            }
        }
    }

    async fn commit(
        &self,
        layer: &LayerRecord,
        lowers: Vec<String>,
        prepared: Prepared,
        outcome: ApplyOutcome,
    ) -> Result<u64> {
        let store = Arc::clone(&self.p.store);
        let layer = layer.clone();
        let span = info_span!("commit_snapshot", chain_id = %layer.chain_id);
        tokio::task::spawn_blocking(move || {
            let _e = span.enter();
            let lower_dirs: Vec<PathBuf> = store.snapshot_dirs(&lowers)?;
            finish_layer(&prepared.fs(), &lower_dirs, &outcome)?;
            let id = store.meta.next_snapshot_id()?;
            store.snapshots.commit(prepared, id)?;
            let info = SnapshotInfo {
                id,
                chain_id: layer.chain_id.clone(),
                parent: lowers.last().cloned(),
                size: outcome.bytes,
                created: chrono::Utc::now().timestamp(),
            };
            store.meta.put_snapshot(&info)?;
            Ok(outcome.bytes)
        })
        .await
        .map_err(|e| Error::Metadata(format!("commit task: {e}")))?
    }

    async fn phase(&self, id: &str, phase: Phase, current: u64, total: u64) {
        let ev = PullEvent::Layer {
            id: id.to_string(),
            phase,
            current,
            total,
        };
        let _ = self.events.send(ev).await;
    }

    /// Progress is best-effort: a slow client must never slow the pull.
    fn progress(&self, id: &str, current: u64, total: u64) {
        let ev = PullEvent::Layer {
            id: id.to_string(),
            phase: Phase::Downloading,
            current,
            total,
        };
        let _ = self.events.try_send(ev);
    }
}

async fn wait_below(below: Option<Done>, cancel: &CancellationToken) -> Result<()> {
    let Some(mut rx) = below else { return Ok(()) };
    let ok = tokio::select! {
        r = rx.wait_for(Option::is_some) => r.map(|v| *v == Some(true)).unwrap_or(false),
        () = cancel.cancelled() => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// The blocking half of a layer: everything between the bytes and the snapshot directory.
struct ExtractJob {
    compression: Compression,
    /// None: verify only (decompress and hash, write nothing but the blob).
    fs: Option<PathBuf>,
    limits: Limits,
    /// The cap and the flag that sets it.
    max_bytes: (u64, &'static str),
    /// The data root and the free space to keep there (`--min-free-space`).
    space: Option<(PathBuf, u64)>,
    layer: LayerRecord,
}

impl ExtractJob {
    fn run(self, rx: mpsc::Receiver<Chunk>, ingest: Option<Ingest>) -> Result<ApplyOutcome> {
        let mut tee = TeeReader {
            inner: io::BufReader::with_capacity(256 << 10, ChannelReader::new(rx)),
            ingest,
        };
        let unpacked = self.unpack(&mut tee);
        let drained = io::copy(&mut tee, &mut io::sink());
        // A corrupted blob usually breaks decompression first: check the blob's own digest
        // before blaming its content, so a lying registry is reported as such.
        if let (Some(ingest), Ok(_)) = (tee.ingest.as_ref(), &drained) {
            let actual = ingest.digest();
            if actual != self.layer.digest || ingest.written() != self.layer.size {
                return Err(Error::DigestMismatch {
                    what: format!("layer {}", self.layer.digest),
                    expected: self.layer.digest.clone(),
                    actual,
                });
            }
        }
        let (outcome, diff_id) = unpacked?;
        drained.map_err(|e| self.read_error(e))?;
        if diff_id != self.layer.diff_id {
            return Err(Error::DigestMismatch {
                what: format!("diff_id of layer {}", self.layer.digest),
                expected: self.layer.diff_id.clone(),
                actual: diff_id,
            });
        }
        if let Some(ingest) = tee.ingest.take() {
            ingest.commit()?;
        }
        Ok(outcome)
    }

    fn unpack(&self, tee: &mut impl Read) -> Result<(ApplyOutcome, String)> {
        let dec = decompressor(tee, self.compression)?;
        let mut hashing = HashingReader {
            inner: dec,
            digester: Default::default(),
            max: self.max_bytes.0,
            space: self.space.as_ref().map(|(root, reserve)| SpaceGuard {
                root: root.clone(),
                reserve: *reserve,
                next: 0,
                tripped: false,
            }),
        };
        let applied = match &self.fs {
            Some(fs) => apply_layer(&mut hashing, fs, &self.limits),
            None => Ok(ApplyOutcome::default()),
        };
        if hashing.digester.len() > self.max_bytes.0 {
            return Err(self.too_large());
        }
        if hashing.space.as_ref().is_some_and(|g| g.tripped) {
            return Err(self.low_space());
        }
        let outcome = applied?;
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| self.read_error(e))?;
        Ok((outcome, hashing.digester.digest()))
    }

    fn too_large(&self) -> Error {
        let (max, flag) = self.max_bytes;
        Error::TooLarge {
            what: format!(
                "decompressed layer {} ({} bytes compressed; ferryd {flag} sets the cap)",
                self.layer.digest, self.layer.size
            ),
            max,
        }
    }

    fn low_space(&self) -> Error {
        let (root, reserve) = self.space.clone().unwrap_or_default();
        Error::LowSpace {
            layer: self.layer.digest.clone(),
            path: root,
            reserve,
        }
    }

    fn read_error(&self, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::FileTooLarge => self.too_large(),
            io::ErrorKind::StorageFull => self.low_space(),
            _ => Error::io("read layer", self.layer.digest.clone(), e),
        }
    }
}
