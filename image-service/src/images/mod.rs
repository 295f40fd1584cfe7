//! Image records: what a name points at, and everything the image needs (blobs, snapshots).
//!
//! ```text
//! images table (metadata.redb), key -> ImageRecord (JSON), record.name == key:
//!   docker.io/library/busybox:latest         a tag
//!   docker.io/library/busybox@sha256:<m>     a name pulled by digest
//!   @sha256:<config digest>                  an untagged ("dangling", <none>:<none>) image
//! ```
//! An image (a config digest) has either one or more named records, or exactly one untagged
//! record, never both: every change of names goes through [`refs`]'s helpers, which keep that
//! in the same write transaction. When a name moves to another image (a re-pull, `tag`, `rmi` of
//! the last name of an image a container uses) and nothing else names the old image, it stays as
//! an untagged record, as Docker keeps `<none>:<none>` images; so its blobs and snapshots stay
//! referenced and GC keeps them. An untagged image goes only when removed by ID or pruned.
//!
//! A tag record also implies the repository digest `repo@<target digest>` (Docker's RepoDigests);
//! `rmi` untags it with the last tag of that repository, as Docker does.
//!
//! A record is written last in a pull, in one transaction that first checks every blob and
//! snapshot it names has its own record; so a listed image is always complete. Removal deletes
//! records in one transaction, then GC deletes the files no record references (`store`).

mod config;
pub mod inspect;
pub mod list;
pub mod refs;
pub mod remove;
pub mod tag;
pub mod usage;

use serde::{Deserialize, Serialize};

pub use config::{chain_ids, ImageConfig};

use crate::distribution::Reference;
use crate::error::{Error, Result};

/// Key prefix of untagged records: `@` cannot start a reference.
pub const UNTAGGED_PREFIX: &str = "@";

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

    /// An untagged record: `<none>:<none>` in `images`.
    pub fn is_untagged(&self) -> bool {
        self.name.starts_with(UNTAGGED_PREFIX)
    }

    /// The same image, as its untagged record.
    pub fn untagged(&self) -> ImageRecord {
        ImageRecord {
            name: untagged_key(&self.config_digest),
            ..self.clone()
        }
    }
}

/// The key of an image's untagged record.
pub fn untagged_key(config_digest: &str) -> String {
    format!("{UNTAGGED_PREFIX}{config_digest}")
}

/// Whether an image with this config digest is still recorded, read in the caller's write
/// transaction: another owner's insert (a container of this image) commits only if it is, so
/// an `rmi` that commits first wins.
pub fn exists_in(txn: &redb::WriteTransaction, config_digest: &str) -> Result<bool> {
    let t = crate::images::refs::open_in(txn)?;
    Ok(refs::records_in(&t)?
        .iter()
        .any(|i| i.config_digest == config_digest))
}

/// The fully qualified name `query` means when it parses as a reference (`busybox` is
/// `docker.io/library/busybox:latest`); `None` for what can only be an ID.
pub fn normalize(query: &str) -> Option<String> {
    Reference::parse(query).ok().map(|r| r.to_string())
}

/// Resolves `query` among `images`: by name (its normalized reference), by repository digest
/// (`name@sha256:…` matching what a tag was pulled as), then by full or unique short ID.
pub fn resolve_in(images: &[ImageRecord], query: &str) -> Result<ImageRecord> {
    if let Some(name) = normalize(query).as_deref() {
        if let Some(img) = images.iter().find(|i| i.name == name) {
            return Ok(img.clone());
        }
        if let Some(img) = by_repo_digest(images, name) {
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

/// `repo@sha256:…` naming the manifest or index a tag of `repo` was pulled as.
fn by_repo_digest<'a>(images: &'a [ImageRecord], name: &str) -> Option<&'a ImageRecord> {
    let (repo, digest) = name.split_once('@')?;
    images.iter().find(|i| {
        !i.is_untagged()
            && refs::repository_of(&i.name) == repo
            && (i.target_digest == digest || i.manifest_digest == digest)
    })
}
