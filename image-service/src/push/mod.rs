//! The push pipeline: find the local image → open the repository → each blob (layers
//! concurrently, then the config): HEAD, else mount from another repository of the same
//! registry, else upload from the content store → PUT the manifest.
//!
//! The manifest pushed is the platform manifest as stored, byte for byte, so the registry
//! computes the digest the image was pulled as. (For an image pulled through an index, only
//! the platform that was unpacked is here; its manifest is what Docker's classic store pushes
//! too.) A lease on every blob keeps GC from removing one mid-push.
//!
//! Mount sources: Ferry does not record where a blob was pulled from; the image's other names
//! on the same registry are the repositories known to hold it (they were pulled from there, or
//! pushed there), which covers `pull a → tag b → push b`.

mod upload;

use futures::TryStreamExt as _;
use tokio::sync::mpsc;
use tracing::{info_span, Instrument};

use crate::distribution::{
    parse_manifest, DistributionError, Manifest, Mount, PushTarget, Reference, MAX_MANIFEST_BYTES,
};
use crate::error::{Error, Result};
use crate::images::ImageRecord;
use crate::pull::Puller;

/// Layers pushed at once (Docker's default `max-concurrent-uploads` is 5; our hosts are small).
const CONCURRENT_UPLOADS: usize = 3;

/// What a push reports as it goes; `services` turns these into `ferry.images.v1` messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    Resolved {
        repository: String,
        tag: String,
        layer_ids: Vec<String>,
    },
    Layer {
        id: String,
        phase: PushPhase,
        current: u64,
        total: u64,
        /// For `Mounted`: the source repository.
        from: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPhase {
    Preparing,
    Waiting,
    Pushing,
    AlreadyExists,
    Mounted,
    Pushed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

pub type PushEvents = mpsc::Sender<PushEvent>;

/// A blob to send: its descriptor and, for layers, the ID progress is reported under.
#[derive(Debug, Clone)]
struct Blob {
    digest: String,
    size: u64,
    id: Option<String>,
}

/// Pushes the local image named `reference` to its registry.
pub async fn push(puller: &Puller, reference: &str, events: PushEvents) -> Result<PushOutcome> {
    let r = Reference::parse(reference)?;
    if r.digest().is_some() {
        return Err(Error::InvalidArgument(format!(
            "cannot push a digest reference: {reference}"
        )));
    }
    let img = puller
        .store
        .meta
        .image(&r.to_string())?
        .ok_or_else(|| Error::NoLocalImage(r.familiar_name()))?;
    let span = info_span!("push", reference = %r, digest = %img.manifest_digest);
    async {
        let _lease = puller.store.leases.acquire(img.blobs.iter().cloned());
        let manifest = puller
            .store
            .content
            .read_small(&img.manifest_digest, MAX_MANIFEST_BYTES as u64)?;
        let parsed = parse_manifest("", &manifest)?;
        let (config, layers) = blobs_of(&parsed)?;
        let tag = r.tag().unwrap_or("latest").to_string();
        let _ = events
            .send(PushEvent::Resolved {
                repository: r.name(),
                tag: tag.clone(),
                layer_ids: layers.iter().filter_map(|b| b.id.clone()).collect(),
            })
            .await;
        let target = puller
            .registry
            .push_target(&r)
            .await
            .map_err(|e| push_error(e, &r))?;
        let sources = mount_sources(puller, &r, &img)?;
        push_layers(puller, &target, &sources, layers, &events).await?;
        send_blob(puller, &target, &sources, &config, &events).await?;
        let size = manifest.len() as u64;
        target
            .put_manifest(manifest.into(), parsed.media_type())
            .await
            .map_err(|e| push_error(e, &r))?;
        puller.store.events.image("push", reference, reference);
        Ok(PushOutcome {
            tag,
            digest: img.manifest_digest.clone(),
            size,
        })
    }
    .instrument(span)
    .await
}

/// The config and layers of an image manifest; layers carry their progress IDs.
fn blobs_of(manifest: &Manifest) -> Result<(Blob, Vec<Blob>)> {
    let Manifest::Image { config, layers, .. } = manifest else {
        return Err(Error::Distribution(DistributionError::InvalidManifest {
            reason: "a stored platform manifest is an index".to_string(),
        }));
    };
    let blob = |d: &crate::distribution::Descriptor, id| Blob {
        digest: d.digest.clone(),
        size: d.size,
        id,
    };
    let layers = layers
        .iter()
        .map(|l| blob(l, Some(short_id(&l.digest))))
        .collect();
    Ok((blob(config, None), layers))
}

fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

async fn push_layers(
    puller: &Puller,
    target: &PushTarget,
    sources: &[String],
    layers: Vec<Blob>,
    events: &PushEvents,
) -> Result<()> {
    for layer in &layers {
        report(events, layer, PushPhase::Preparing, 0, "").await;
    }
    for layer in layers.iter().skip(CONCURRENT_UPLOADS) {
        report(events, layer, PushPhase::Waiting, 0, "").await;
    }
    futures::stream::iter(layers.iter().map(Ok))
        .try_for_each_concurrent(CONCURRENT_UPLOADS, |layer| {
            send_blob(puller, target, sources, layer, events)
        })
        .await
}

/// One blob: skip it if the registry has it, else mount it, else upload it.
async fn send_blob(
    puller: &Puller,
    target: &PushTarget,
    sources: &[String],
    blob: &Blob,
    events: &PushEvents,
) -> Result<()> {
    let r = target_reference(target);
    let span = info_span!("blob", digest = %blob.digest, size = blob.size);
    async {
        if target
            .blob_exists(&blob.digest)
            .await
            .map_err(|e| push_error(e, r))?
        {
            report(events, blob, PushPhase::AlreadyExists, 0, "").await;
            return Ok(());
        }
        for from in sources {
            let mounted = target
                .mount(&blob.digest, from)
                .await
                .map_err(|e| push_error(e, r))?;
            if mounted == Mount::Mounted {
                report(events, blob, PushPhase::Mounted, 0, from).await;
                return Ok(());
            }
        }
        upload::upload(puller, target, blob, events).await?;
        report(events, blob, PushPhase::Pushed, blob.size, "").await;
        Ok(())
    }
    .instrument(span)
    .await
}

fn target_reference(target: &PushTarget) -> &Reference {
    target.reference()
}

/// Sends a layer event (configs have no ID and report nothing, as in Docker).
async fn report(events: &PushEvents, blob: &Blob, phase: PushPhase, current: u64, from: &str) {
    let Some(id) = &blob.id else { return };
    let _ = events
        .send(PushEvent::Layer {
            id: id.clone(),
            phase,
            current,
            total: blob.size,
            from: from.to_string(),
        })
        .await;
}

/// Other repositories of `r`'s registry that hold this image (by its other names).
fn mount_sources(puller: &Puller, r: &Reference, img: &ImageRecord) -> Result<Vec<String>> {
    let mut sources: Vec<String> = puller
        .store
        .meta
        .images()?
        .iter()
        .filter(|other| other.config_digest == img.config_digest)
        .filter_map(|other| Reference::parse(&other.name).ok())
        .filter(|o| o.registry() == r.registry() && o.repository() != r.repository())
        .map(|o| o.repository().to_string())
        .collect();
    sources.sort();
    sources.dedup();
    Ok(sources)
}

/// The registry's refusals, in push words rather than pull's "pull access denied".
fn push_error(e: DistributionError, r: &Reference) -> Error {
    match e {
        DistributionError::Unauthorized { .. } => Error::PushUnauthorized {
            repository: r.familiar_name(),
            registry: r.registry().to_string(),
        },
        DistributionError::Denied { .. } => Error::PushDenied {
            repository: r.familiar_name(),
        },
        other => Error::Distribution(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_twelve_hex() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn refusals_are_worded_for_push() {
        let r = Reference::parse("127.0.0.1:5000/a/b:1").unwrap();
        let e = push_error(
            DistributionError::Unauthorized {
                reference: "x".into(),
            },
            &r,
        );
        assert!(matches!(e, Error::PushUnauthorized { .. }));
        assert!(e.to_string().contains("ferry login 127.0.0.1:5000"), "{e}");
    }

    #[test]
    fn config_has_no_progress_id() {
        let m = parse_manifest(
            "application/vnd.oci.image.manifest.v1+json",
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":3}]}"#,
        )
        .unwrap();
        let (config, layers) = blobs_of(&m).unwrap();
        assert_eq!(config.id, None);
        assert_eq!(layers[0].id.as_deref(), Some("bbbbbbbbbbbb"));
        assert_eq!(layers[0].size, 3);
    }
}
