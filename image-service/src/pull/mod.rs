//! The pull pipeline: resolve → manifest → config → layers → commit, one tracing span per stage.
//!
//! Each layer is one stream: bytes from the registry → blob sha256 and size (written to the
//! content ingest as they pass) → decompression → diff_id sha256 → tar extraction into a fresh
//! snapshot directory. Layers download and extract concurrently; a layer's snapshot commits
//! only after its own digests match and every lower layer has committed. The image record is
//! written last, so a failed or cancelled pull leaves nothing but what the lease-aware GC
//! removes before the pull returns.

mod layer;
pub mod metrics;
pub(crate) mod reader;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

use crate::config::Config;
use crate::content::sha256_hex;
use crate::distribution::{
    platform_serves, select_platform, Descriptor, FetchedManifest, Manifest, Platform, Reference,
    RegistryClient, MAX_MANIFEST_BYTES,
};
use crate::error::{Error, Result};
use crate::images::{chain_ids, ImageConfig, ImageRecord, LayerRecord};
use crate::metadata::ContentInfo;
use crate::store::Store;
use crate::unpack::Compression;
pub use metrics::PullMetrics;

/// What a pull reports as it goes; `services` turns these into `ferry.images.v1` messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    Resolved {
        reference: String,
        tag_or_digest: String,
        repository: String,
        layer_ids: Vec<String>,
    },
    Layer {
        id: String,
        phase: Phase,
        current: u64,
        total: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Downloading,
    Verifying,
    Extracting,
    PullComplete,
    AlreadyExists,
    Retrying,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    pub reference: String,
    pub digest: String,
    pub image_id: String,
    pub up_to_date: bool,
}

/// Everything a pull needs; shared by all pulls of one ferryd.
#[derive(Debug)]
pub struct Puller {
    pub(crate) cfg: Config,
    pub(crate) store: Arc<Store>,
    pub(crate) registry: RegistryClient,
    pub(crate) metrics: Arc<PullMetrics>,
}

/// The resolved target: the platform manifest and what led to it.
#[derive(Debug)]
struct Resolved {
    reference: Reference,
    top: FetchedManifest,
    manifest: FetchedManifest,
    config: Descriptor,
    layers: Vec<Descriptor>,
    platform: Platform,
    /// `--platform` was given: a single-platform image must then be of that platform.
    explicit: bool,
}

pub(crate) type Events = mpsc::Sender<PullEvent>;

impl Puller {
    pub fn new(cfg: Config, store: Arc<Store>, registry: RegistryClient) -> Self {
        Puller {
            cfg,
            store,
            registry,
            metrics: Arc::default(),
        }
    }

    /// Records pulls, bytes and layer times in `metrics` (by default, in a private set).
    pub fn with_metrics(mut self, metrics: Arc<PullMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Pulls `reference`. Cancelling `cancel` stops the pull; either way, an unsuccessful pull
    /// returns only after its partial work is removed.
    pub async fn pull(
        self: &Arc<Self>,
        reference: &str,
        platform: &str,
        events: Events,
        cancel: CancellationToken,
    ) -> Result<PullOutcome> {
        let reference = Reference::parse(reference)?;
        let explicit = !platform.is_empty();
        let platform = match platform {
            "" => Platform::host(),
            p => Platform::parse(p)?,
        };
        let span = info_span!("pull", reference = %reference, platform = %platform_string(&platform), digest = tracing::field::Empty);
        let res = async {
            let resolved = tokio::select! {
                r = self.resolve(reference, platform, explicit) => r?,
                () = cancel.cancelled() => return Err(Error::Cancelled),
            };
            if let Some(done) = self.up_to_date(&resolved)? {
                return Ok(done);
            }
            self.fetch_and_commit(resolved, &events, &cancel).await
        }
        .instrument(span.clone())
        .await;
        self.metrics.pulled(&res);
        match &res {
            Ok(done) => {
                span.record("digest", done.digest.as_str());
                self.store
                    .events
                    .image("pull", &done.reference, &done.reference);
            }
            Err(e) => ferry_telemetry::record_error(&span, e),
        }
        res
    }

    async fn resolve(
        &self,
        reference: Reference,
        platform: Platform,
        explicit: bool,
    ) -> Result<Resolved> {
        let top = self
            .registry
            .fetch_manifest(&reference)
            .instrument(info_span!("resolve"))
            .await?;
        let manifest = match &top.manifest {
            Manifest::Image { .. } => top.clone(),
            Manifest::Index { manifests, .. } => {
                let child = select_platform(manifests, &platform)?;
                let fetched = self
                    .registry
                    .fetch_manifest_by_digest(&reference, &child.digest)
                    .instrument(info_span!("manifest", digest = %child.digest))
                    .await?;
                same_media_type(child, &fetched)?;
                fetched
            }
        };
        let Manifest::Image { config, layers, .. } = &manifest.manifest else {
            return Err(Error::Distribution(
                crate::distribution::DistributionError::InvalidManifest {
                    reason: format!("index {} points at another index", top.digest),
                },
            ));
        };
        for l in layers {
            if Compression::from_media_type(&l.media_type).is_none() {
                return Err(Error::UnsupportedLayer {
                    media_type: l.media_type.clone(),
                    digest: l.digest.clone(),
                });
            }
        }
        let (config, layers) = (config.clone(), layers.clone());
        Ok(Resolved {
            reference,
            top,
            manifest,
            config,
            layers,
            platform,
            explicit,
        })
    }

    /// The warm path: the name already points at this manifest and everything is present.
    fn up_to_date(&self, r: &Resolved) -> Result<Option<PullOutcome>> {
        let Some(img) = self.store.meta.image(&r.reference.to_string())? else {
            return Ok(None);
        };
        if img.target_digest != r.top.digest || img.manifest_digest != r.manifest.digest {
            return Ok(None);
        }
        if r.explicit {
            let raw = self
                .store
                .content
                .read_small(&img.config_digest, MAX_MANIFEST_BYTES as u64)?;
            check_platform(r, &ImageConfig::parse(&img.config_digest, &raw)?)?;
        }
        Ok(Some(outcome(r, &img.config_digest, true)))
    }

    async fn fetch_and_commit(
        &self,
        r: Resolved,
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<PullOutcome> {
        let config_bytes = self.config_blob(&r).await?;
        let config = ImageConfig::parse(&r.config.digest, &config_bytes)?;
        check_platform(&r, &config)?;
        if config.rootfs.diff_ids.len() != r.layers.len() {
            return Err(Error::InvalidConfig {
                digest: r.config.digest.clone(),
                reason: format!(
                    "{} diff_ids for {} layers",
                    config.rootfs.diff_ids.len(),
                    r.layers.len()
                ),
            });
        }
        let chains = chain_ids(&config.rootfs.diff_ids);
        let blobs = blob_digests(&r);
        let lease = self
            .store
            .leases
            .acquire(blobs.iter().cloned().chain(chains.iter().cloned()));
        let _ = events.send(resolved_event(&r)).await;
        let result = self
            .commit_all(&r, &config, &config_bytes, &chains, &blobs, events, cancel)
            .await;
        drop(lease);
        if result.is_err() {
            self.collect_after_failure();
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_all(
        &self,
        r: &Resolved,
        config: &ImageConfig,
        config_bytes: &[u8],
        chains: &[String],
        blobs: &[String],
        events: &Events,
        cancel: &CancellationToken,
    ) -> Result<PullOutcome> {
        let layers: Vec<LayerRecord> = r
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .zip(chains)
            .map(|((d, diff), chain)| LayerRecord {
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
                diff_id: diff.clone(),
                chain_id: chain.clone(),
            })
            .collect();
        let size = layer::fetch_layers(self, &r.reference, &layers, events, cancel).await?;
        self.store_small(&r.top.digest, &r.top.bytes)?;
        self.store_small(&r.manifest.digest, &r.manifest.bytes)?;
        self.store_small(&r.config.digest, config_bytes)?;
        let record = ImageRecord {
            name: r.reference.to_string(),
            target_digest: r.top.digest.clone(),
            target_media_type: r.top.media_type.clone(),
            manifest_digest: r.manifest.digest.clone(),
            config_digest: r.config.digest.clone(),
            platform: platform_string(&r.platform),
            layers,
            blobs: blobs.to_vec(),
            created: config.created_unix(),
            pulled_at: chrono::Utc::now().timestamp(),
            size,
        };
        let store = Arc::clone(&self.store);
        let rec = record.clone();
        tokio::task::spawn_blocking(move || {
            sync_data_root(&store)?;
            store.meta.commit_image(&rec)
        })
        .instrument(info_span!("commit", image_id = %record.config_digest))
        .await
        .map_err(|e| Error::Metadata(format!("commit task: {e}")))??;
        // The image the name pointed at before stays, untagged (`<none>:<none>`), as Docker's
        // does: `commit_image` keeps it in the same transaction. This collects only what an
        // interrupted pull of the same blobs may have left.
        if let Err(e) = self.store.gc() {
            tracing::warn!(error = %e, "collecting after the commit failed");
        }
        Ok(outcome(r, &record.config_digest, false))
    }

    async fn config_blob(&self, r: &Resolved) -> Result<Vec<u8>> {
        if self.store.meta.content(&r.config.digest)?.is_some() {
            return self
                .store
                .content
                .read_small(&r.config.digest, MAX_MANIFEST_BYTES as u64);
        }
        let bytes = self
            .registry
            .fetch_blob_bytes(&r.reference, &r.config, MAX_MANIFEST_BYTES)
            .instrument(info_span!("config", digest = %r.config.digest))
            .await?;
        Ok(bytes.to_vec())
    }

    /// Commits a verified manifest or config blob (idempotent).
    fn store_small(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        if self.store.meta.content(digest)?.is_some() {
            return Ok(());
        }
        self.store.content.write_small(digest, bytes)?;
        let info = ContentInfo {
            size: bytes.len() as u64,
            created: chrono::Utc::now().timestamp(),
        };
        self.store.meta.put_content(digest, &info)
    }

    /// Unpacks layers whose blobs are already committed in the content store (`load`), through
    /// the pull's own layer path: chain-ID locks, existing snapshots skipped, blob digest and
    /// diff_id verified, lower layers first. The caller holds a lease on the blobs and chain
    /// IDs. Returns the unpacked size.
    pub(crate) async fn unpack_local(
        &self,
        layers: &[LayerRecord],
        cancel: &CancellationToken,
    ) -> Result<u64> {
        // Only a missing blob would be fetched from this reference, and the caller committed
        // every blob first: it never reaches a registry.
        let local = Reference::parse("localhost/ferry-load:local")?;
        let (tx, mut rx) = mpsc::channel(64);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let res = layer::fetch_layers(self, &local, layers, &tx, cancel).await;
        drop(tx);
        let _ = drain.await;
        res
    }

    fn collect_after_failure(&self) {
        match self.store.gc() {
            Ok(report) => tracing::debug!(?report, "removed what the failed pull committed"),
            Err(e) => tracing::warn!(error = %e, "cleaning up after a failed pull failed"),
        }
    }
}

fn blob_digests(r: &Resolved) -> Vec<String> {
    let mut v = vec![r.top.digest.clone()];
    if r.manifest.digest != r.top.digest {
        v.push(r.manifest.digest.clone());
    }
    v.push(r.config.digest.clone());
    v.extend(r.layers.iter().map(|l| l.digest.clone()));
    v.dedup();
    v
}

fn resolved_event(r: &Resolved) -> PullEvent {
    PullEvent::Resolved {
        reference: r.reference.to_string(),
        tag_or_digest: r.reference.tag_or_digest(),
        repository: r.reference.repository().to_string(),
        layer_ids: r.layers.iter().map(|l| short_id(&l.digest)).collect(),
    }
}

fn outcome(r: &Resolved, image_id: &str, up_to_date: bool) -> PullOutcome {
    PullOutcome {
        reference: r.reference.to_string(),
        digest: r.top.digest.clone(),
        image_id: image_id.to_string(),
        up_to_date,
    }
}

/// Docker's 12-hex layer ID.
pub fn short_id(digest: &str) -> String {
    sha256_hex(digest)
        .map(|h| h[..12].to_string())
        .unwrap_or_else(|| digest.to_string())
}

/// The index's descriptor and the document it led to must agree on what it is (CVE-2021-41190).
fn same_media_type(child: &Descriptor, fetched: &FetchedManifest) -> Result<()> {
    let got = fetched.manifest.media_type();
    if child.media_type.is_empty() || child.media_type == got {
        return Ok(());
    }
    Err(Error::Distribution(
        crate::distribution::DistributionError::InvalidManifest {
            reason: format!(
                "ambiguous manifest: the index says {} is {}, the registry served {got}",
                child.digest, child.media_type
            ),
        },
    ))
}

/// Docker refuses a single-platform image of another platform when `--platform` named one (an
/// index was already chosen from by platform).
fn check_platform(r: &Resolved, config: &ImageConfig) -> Result<()> {
    if !r.explicit || !matches!(r.top.manifest, Manifest::Image { .. }) {
        return Ok(());
    }
    let have = Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
    };
    if platform_serves(&have, &r.platform) {
        return Ok(());
    }
    Err(Error::Distribution(
        crate::distribution::DistributionError::PlatformMismatch {
            reference: r.reference.to_string(),
            wanted: platform_string(&r.platform),
            actual: platform_string(&have),
        },
    ))
}

pub fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// One syncfs for the whole pull instead of an fsync per file: the image record must not be
/// durable before the files it names.
pub(crate) fn sync_data_root(store: &Store) -> Result<()> {
    let root = store.snapshots.root();
    let dir = std::fs::File::open(root).map_err(|e| Error::io("open", root, e))?;
    rustix::fs::syncfs(&dir).map_err(|e| Error::io("syncfs", root, e.into()))
}
