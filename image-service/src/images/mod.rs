//! Image records: what a name points at, and everything the image needs (blobs, snapshots).
//!
//! A record is written last in a pull, in one transaction that first checks every blob and
//! snapshot it names has its own record; so a listed image is always complete.

mod config;

use serde::{Deserialize, Serialize};

pub use config::{chain_ids, ImageConfig};

use crate::error::{Error, Result};
use redb::ReadableTable;

use crate::metadata::{put_json, Metadata, CONTENT, IMAGES, SNAPSHOTS};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub diff_id: String,
    pub chain_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// Fully qualified reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// What the name resolved to at the registry (an index, or the manifest itself).
    pub target_digest: String,
    pub target_media_type: String,
    /// The platform manifest that was unpacked.
    pub manifest_digest: String,
    /// Config digest: the image ID.
    pub config_digest: String,
    pub platform: String,
    pub layers: Vec<LayerRecord>,
    /// Every blob the image holds: index, manifest, config, layers.
    pub blobs: Vec<String>,
    /// From the config, seconds since the epoch (0 when absent).
    pub created: i64,
    pub pulled_at: i64,
    /// Unpacked size: the sum of its snapshots' sizes.
    pub size: u64,
}

impl ImageRecord {
    pub fn chain_ids(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|l| l.chain_id.as_str())
    }
}

impl Metadata {
    /// Writes the record if every blob and snapshot it references is committed.
    pub fn commit_image(&self, record: &ImageRecord) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let content = txn.open_table(CONTENT)?;
            for digest in &record.blobs {
                if content.get(digest.as_str())?.is_none() {
                    return Err(Error::Metadata(format!(
                        "image {} lacks blob {digest}",
                        record.name
                    )));
                }
            }
            let snapshots = txn.open_table(SNAPSHOTS)?;
            for chain in record.chain_ids() {
                if snapshots.get(chain)?.is_none() {
                    return Err(Error::Metadata(format!(
                        "image {} lacks snapshot {chain}",
                        record.name
                    )));
                }
            }
        }
        put_json(&txn, IMAGES, &record.name, record)?;
        txn.commit()?;
        Ok(())
    }

    /// Finds images by name, by full or unique short ID, or by digest reference.
    pub fn resolve_image(&self, query: &str, normalized: Option<&str>) -> Result<ImageRecord> {
        let images = self.images()?;
        if let Some(name) = normalized {
            if let Some(img) = images.iter().find(|i| i.name == name) {
                return Ok(img.clone());
            }
        }
        let id = query.strip_prefix("sha256:").unwrap_or(query);
        let is_hex = !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex {
            let mut hits: Vec<&ImageRecord> = images
                .iter()
                .filter(|i| i.config_digest["sha256:".len()..].starts_with(id))
                .collect();
            hits.sort_by(|a, b| a.config_digest.cmp(&b.config_digest));
            hits.dedup_by(|a, b| a.config_digest == b.config_digest);
            match hits.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                many => {
                    return Err(Error::AmbiguousImage {
                        reference: query.to_string(),
                        candidates: many.iter().map(|i| i.config_digest.clone()).collect(),
                    })
                }
            }
        }
        Err(Error::ImageNotFound(query.to_string()))
    }
}
