//! Images made on this host rather than pulled: ferryd's `build` writes layer tars and configs
//! through these, with the pull's invariants (files first, records last; a lease on every blob
//! and chain ID before it is committed, so GC leaves them alone until a record holds them).
//!
//! * [`LayerFile`] — an uncompressed layer tar being written into the content ingest area,
//!   hashed as it goes; dropping it unfinished removes the file.
//! * [`commit_layer`] — moves it into the content store and unpacks its snapshot above the
//!   given lower layers through the pull's own layer path (`Puller::unpack_local`).
//! * [`put_blob`] — a small JSON blob (a step's config).
//! * [`commit_image`] — writes the OCI manifest and the image records under the given names in
//!   one transaction, as `load` does (a name that pointed elsewhere moves; the old image stays
//!   untagged).
//! * [`cache`] — the build cache table: step key → the image state that step produced.

pub mod cache;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::archive::Loaded;
use crate::content::Digester;
use crate::error::{Error, Result};
use crate::images::{chain_ids, untagged_key, ImageConfig, ImageRecord, LayerRecord};
use crate::leases::Lease;
use crate::pull::{platform_string, sync_data_root, Puller};
use crate::store::Store;

pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// An uncompressed layer tar being written to `<content>/ingest/layer-<random>`.
#[derive(Debug)]
pub struct LayerFile {
    file: Option<BufWriter<File>>,
    path: PathBuf,
    digester: Digester,
}

impl LayerFile {
    pub fn create(store: &Store) -> Result<LayerFile> {
        let path = store
            .content
            .ingest_dir()
            .join(format!("layer-{:016x}", rand::random::<u64>()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        Ok(LayerFile {
            file: Some(BufWriter::with_capacity(256 << 10, file)),
            path,
            digester: Digester::default(),
        })
    }

    /// The digest of what was written (the layer's blob digest and diff ID alike).
    pub fn digest(&self) -> String {
        self.digester.digest()
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(f) = self.file.take() {
            f.into_inner()
                .map_err(|e| Error::io("write", &self.path, e.into_error()))?;
        }
        Ok(())
    }
}

impl Write for LayerFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("layer file closed"))?;
        f.write_all(buf)?;
        self.digester.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for LayerFile {
    fn drop(&mut self) {
        // Renamed into the store when committed; otherwise it is ours to remove.
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove layer file");
            }
            _ => {}
        }
    }
}

/// Commits `file` as the layer above `lowers` (the image's layers so far, bottom first): the
/// blob is renamed into the content store (or dropped, if the store has it) and recorded, then
/// its snapshot is unpacked and recorded. Returns its record and a lease that keeps the blob and
/// the snapshot from GC until the caller's own record references them.
pub async fn commit_layer(
    puller: &Puller,
    mut file: LayerFile,
    lowers: &[LayerRecord],
) -> Result<(LayerRecord, Lease)> {
    file.finish()?;
    let store = &puller.store;
    let digest = file.digest();
    let mut diffs: Vec<String> = lowers.iter().map(|l| l.diff_id.clone()).collect();
    diffs.push(digest.clone());
    let chain_id = chain_ids(&diffs).pop().expect("diffs is not empty");
    let lease = store.leases.acquire([digest.clone(), chain_id.clone()]);
    {
        let _lock = store.locks.lock(&format!("blob:{digest}")).await;
        if store.meta.content(&digest)?.is_none() {
            let target = store.content.blob_path(&digest)?;
            std::fs::rename(&file.path, &target).map_err(|e| Error::io("rename", &target, e))?;
            crate::archive::record_blob(store, &digest, file.digester.len())?;
        }
    }
    let layer = LayerRecord {
        digest: digest.clone(),
        media_type: LAYER_MEDIA_TYPE.to_string(),
        size: file.digester.len(),
        diff_id: digest,
        chain_id,
    };
    let mut all = lowers.to_vec();
    all.push(layer.clone());
    puller.unpack_local(&all, &CancellationToken::new()).await?;
    Ok((layer, lease))
}

/// Stores a small blob (a config, a manifest) and returns its digest; idempotent.
pub fn put_blob(store: &Store, bytes: &[u8]) -> Result<String> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    crate::archive::put_small(store, &digest, bytes)?;
    Ok(digest)
}

/// The OCI manifest of a config and its layers.
pub fn manifest_json(config_digest: &str, config_size: usize, layers: &[LayerRecord]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    serde_json::to_vec(&doc).expect("a JSON value serializes")
}

/// Writes the config and manifest blobs of an image whose layers are committed, and its records
/// under `names` (fully qualified references; none: one untagged record), all in one
/// transaction that checks every blob and snapshot is there. `action` names the event.
pub fn commit_image(
    store: &Store,
    names: &[String],
    config: &[u8],
    layers: &[LayerRecord],
    action: &str,
) -> Result<Vec<Loaded>> {
    let config_digest = put_blob(store, config)?;
    let cfg = ImageConfig::parse(&config_digest, config)?;
    if cfg.rootfs.diff_ids.len() != layers.len() {
        return Err(Error::InvalidConfig {
            digest: config_digest,
            reason: format!(
                "{} diff_ids for {} layers",
                cfg.rootfs.diff_ids.len(),
                layers.len()
            ),
        });
    }
    let manifest = manifest_json(&config_digest, config.len(), layers);
    let manifest_digest = put_blob(store, &manifest)?;
    let base = record(store, &cfg, &config_digest, &manifest_digest, layers)?;
    let records: Vec<ImageRecord> = if names.is_empty() {
        vec![base]
    } else {
        names
            .iter()
            .map(|n| ImageRecord {
                name: n.clone(),
                ..base.clone()
            })
            .collect()
    };
    sync_data_root(store)?;
    crate::archive::commit_records(store, &[records], action)
}

fn record(
    store: &Store,
    cfg: &ImageConfig,
    config_digest: &str,
    manifest_digest: &str,
    layers: &[LayerRecord],
) -> Result<ImageRecord> {
    let mut size = 0;
    for l in layers {
        size += store.meta.snapshot(&l.chain_id)?.map_or(0, |s| s.size);
    }
    let mut blobs = vec![manifest_digest.to_string(), config_digest.to_string()];
    for l in layers {
        if !blobs.contains(&l.digest) {
            blobs.push(l.digest.clone());
        }
    }
    Ok(ImageRecord {
        name: untagged_key(config_digest),
        target_digest: manifest_digest.to_string(),
        target_media_type: MANIFEST_MEDIA_TYPE.to_string(),
        manifest_digest: manifest_digest.to_string(),
        config_digest: config_digest.to_string(),
        platform: platform_string(&crate::distribution::Platform {
            os: cfg.os.clone(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
        }),
        layers: layers.to_vec(),
        blobs,
        created: cfg.created_unix(),
        pulled_at: chrono::Utc::now().timestamp(),
        size,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::distribution::{RegistryClient, RegistryConfig};
    use crate::users::NoUsers;

    fn puller(root: &std::path::Path) -> Arc<Puller> {
        let (data, exec) = (root.join("data"), root.join("exec"));
        let store = Arc::new(Store::open(&data, &exec, Arc::new(NoUsers)).unwrap());
        let registry = RegistryClient::new(RegistryConfig {
            insecure: Vec::new(),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_retries: 0,
            retry_backoff: Duration::from_millis(1),
            mirrors: Vec::new(),
            rate_floor: Default::default(),
        })
        .unwrap();
        let mut cfg = Config::new(data, exec);
        cfg.min_free_bytes = 0;
        Arc::new(Puller::new(cfg, store, registry))
    }

    fn layer_with(store: &Store, name: &str, body: &[u8]) -> LayerFile {
        let mut f = LayerFile::create(store).unwrap();
        let mut b = tar::Builder::new(&mut f);
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, name, body).unwrap();
        b.finish().unwrap();
        drop(b);
        f
    }

    fn config(diffs: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": diffs},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_built_image_is_committed_and_its_cache_entries_hold_their_layers() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let p = puller(tmp.path());
        let store = &p.store;
        let (one, _l1) = commit_layer(&p, layer_with(store, "hello", b"hi\n"), &[])
            .await
            .unwrap();
        let (two, _l2) = commit_layer(
            &p,
            layer_with(store, "bye", b"bye\n"),
            std::slice::from_ref(&one),
        )
        .await
        .unwrap();
        assert_eq!(one.chain_id, one.diff_id);
        assert_ne!(two.chain_id, two.diff_id);
        let snap = store.meta.snapshot(&two.chain_id).unwrap().unwrap();
        assert!(store.snapshots.fs_path(snap.id).join("bye").is_file());

        let layers = vec![one.clone(), two.clone()];
        let cfg = config(&[&one.diff_id, &two.diff_id]);
        let name = "docker.io/library/built:latest".to_string();
        let done =
            commit_image(store, std::slice::from_ref(&name), &cfg, &layers, "build").unwrap();
        assert_eq!(done[0].name.as_deref(), Some("built:latest"));
        let img = store.meta.image(&name).unwrap().unwrap();
        assert_eq!(img.config_digest, done[0].id);
        assert_eq!(img.layers, layers);

        // A cache entry alone keeps the first layer through a collection; cleared, it goes.
        let step_cfg = put_blob(store, &config(&[&one.diff_id])).unwrap();
        let entry = ImageRecord {
            name: "k1".into(),
            config_digest: step_cfg.clone(),
            layers: vec![one.clone()],
            blobs: vec![step_cfg, one.digest.clone()],
            ..img.clone()
        };
        cache::put(store, "k1", &entry).unwrap();
        assert_eq!(cache::get(store, "k1").unwrap(), Some(entry));
        drop((_l1, _l2));
        store
            .meta
            .remove_records(&[name], &Default::default(), &Default::default())
            .unwrap();
        store.gc().unwrap();
        assert!(store.meta.snapshot(&one.chain_id).unwrap().is_some());
        assert!(store.meta.snapshot(&two.chain_id).unwrap().is_none());
        let pruned = cache::clear(store).unwrap();
        assert_eq!(pruned.entries, 1);
        assert!(pruned.bytes > 0, "{pruned:?}");
        assert!(store.meta.snapshot(&one.chain_id).unwrap().is_none());
        assert!(cache::get(store, "k1").unwrap().is_none());
    }

    #[tokio::test]
    async fn an_abandoned_layer_file_leaves_nothing() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let p = puller(tmp.path());
        let f = layer_with(&p.store, "x", b"x");
        let path = f.path.clone();
        assert!(path.exists());
        drop(f);
        assert!(!path.exists());
    }
}
