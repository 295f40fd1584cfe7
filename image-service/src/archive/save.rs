//! `save`: images → one tar in Docker 25's format (see the module doc), written from the content
//! store's blobs as they are, streamed: each blob is copied from its file into the writer, so a
//! layer is never held in memory. The caller leases the plan's blobs so GC keeps them meanwhile.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Value};

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MAX_JSON_BYTES};
use crate::content::sha256_hex;
use crate::distribution::{parse_manifest, OCI_INDEX};
use crate::error::{Error, Result};
use crate::images::refs::{familiar, repository_of};
use crate::images::ImageRecord;
use crate::store::Store;

/// One image to write, and the tags it is saved under (full references).
#[derive(Debug, Clone)]
struct Planned {
    record: ImageRecord,
    manifest_media_type: String,
    manifest_size: u64,
    tags: Vec<String>,
}

/// What `save` will write, decided before a byte goes out so a bad argument fails the call.
#[derive(Debug, Clone, Default)]
pub struct SavePlan {
    images: Vec<Planned>,
}

impl SavePlan {
    /// Every blob the archive holds, in the order written.
    pub fn blobs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.images {
            let r = &p.record;
            let all = std::iter::once(&r.config_digest)
                .chain(r.layers.iter().map(|l| &l.digest))
                .chain(std::iter::once(&r.manifest_digest));
            for d in all {
                if !out.contains(d) {
                    out.push(d.clone());
                }
            }
        }
        out
    }
}

/// Resolves each query (name, ID, digest reference) to an image; a query that names a tag
/// saves that tag, one that names an ID saves the image untagged, as Docker does.
pub fn plan_save(store: &Store, queries: &[String]) -> Result<SavePlan> {
    if queries.is_empty() {
        return Err(Error::InvalidArgument(
            "save needs at least one image".into(),
        ));
    }
    let mut plan = SavePlan::default();
    for q in queries {
        let normalized = crate::images::normalize(q);
        let record = store.meta.resolve_image(q)?;
        let tag = normalized.filter(|n| *n == record.name && !n.contains('@'));
        if let Some(p) = plan
            .images
            .iter_mut()
            .find(|p| p.record.config_digest == record.config_digest)
        {
            p.tags.extend(tag.filter(|t| !p.tags.contains(t)));
            continue;
        }
        let bytes = store
            .content
            .read_small(&record.manifest_digest, MAX_JSON_BYTES)?;
        let manifest = parse_manifest("", &bytes)?;
        plan.images.push(Planned {
            manifest_media_type: manifest.media_type().to_string(),
            manifest_size: bytes.len() as u64,
            tags: tag.into_iter().collect(),
            record,
        });
    }
    Ok(plan)
}

/// Writes the archive to `out`. The caller leased the plan's blobs; an `rmi` that removed one
/// between the plan and the lease is caught here, before a byte goes out.
pub fn write_archive(store: &Store, plan: &SavePlan, out: impl Write) -> Result<()> {
    for p in &plan.images {
        let name = p
            .tags
            .first()
            .map_or(p.record.config_digest.as_str(), String::as_str);
        store.events.image("save", &p.record.config_digest, name);
    }
    for d in plan.blobs() {
        if store.meta.content(&d)?.is_none() {
            return Err(Error::ImageNotFound(format!("{d} (removed while saving)")));
        }
    }
    let mut tar = tar::Builder::new(out);
    let err = |e: std::io::Error| Error::io("write", "archive", e);
    put_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(0, tar::EntryType::Directory);
        h.set_mode(0o755);
        tar.append_data(&mut h, dir, std::io::empty())
            .map_err(err)?;
    }
    for d in plan.blobs() {
        put_blob(store, &mut tar, &d)?;
    }
    put_bytes(&mut tar, "index.json", &to_json(&index_json(plan))?)?;
    put_bytes(&mut tar, "manifest.json", &to_json(&manifest_json(plan))?)?;
    put_bytes(&mut tar, "repositories", &to_json(&repositories(plan))?)?;
    tar.into_inner().map_err(err)?.flush().map_err(err)
}

fn header(size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h
}

fn put_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> Result<()> {
    let mut h = header(bytes.len() as u64, tar::EntryType::Regular);
    tar.append_data(&mut h, path, bytes)
        .map_err(|e| Error::io("write", path, e))
}

/// Streams one blob from its file.
fn put_blob<W: Write>(store: &Store, tar: &mut tar::Builder<W>, digest: &str) -> Result<()> {
    let path = store.content.blob_path(digest)?;
    let file = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("stat", &path, e))?
        .len();
    let mut h = header(size, tar::EntryType::Regular);
    tar.append_data(&mut h, blob_entry(digest), std::io::BufReader::new(file))
        .map_err(|e| Error::io("write", &path, e))
}

fn blob_entry(digest: &str) -> String {
    format!("blobs/sha256/{}", sha256_hex(digest).unwrap_or_default())
}

fn to_json(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::InvalidArgument(format!("encoding json: {e}")))
}

/// One descriptor per tag (and one bare one for an image saved by ID), as Docker 25 writes.
fn index_json(plan: &SavePlan) -> Value {
    let mut manifests = Vec::new();
    for p in &plan.images {
        let desc = |annotations: Value| {
            json!({
                "mediaType": p.manifest_media_type,
                "digest": p.record.manifest_digest,
                "size": p.manifest_size,
                "annotations": annotations,
            })
        };
        if p.tags.is_empty() {
            manifests.push(desc(json!({})));
        }
        for t in &p.tags {
            let tag = t.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
            manifests.push(desc(
                json!({ANNOTATION_IMAGE_NAME: t, ANNOTATION_REF_NAME: tag}),
            ));
        }
    }
    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
}

/// docker-archive's manifest.json: paths into the same blobs.
fn manifest_json(plan: &SavePlan) -> Value {
    let entries: Vec<Value> = plan
        .images
        .iter()
        .map(|p| {
            let tags: Vec<String> = p.tags.iter().map(|t| familiar(t)).collect();
            let layers: Vec<String> = p
                .record
                .layers
                .iter()
                .map(|l| blob_entry(&l.digest))
                .collect();
            json!({
                "Config": blob_entry(&p.record.config_digest),
                "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
                "Layers": layers,
            })
        })
        .collect();
    Value::Array(entries)
}

/// The legacy `repositories` file: repository → tag → the top layer's hex.
fn repositories(plan: &SavePlan) -> Value {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for p in &plan.images {
        let Some(top) = p.record.layers.last() else {
            continue;
        };
        for t in &p.tags {
            let f = familiar(t);
            let repo = repository_of(&f).to_string();
            let tag = f[repo.len()..].trim_start_matches(':').to_string();
            let hex = sha256_hex(&top.digest).unwrap_or_default().to_string();
            repos.entry(repo).or_default().insert(tag, hex);
        }
    }
    json!(repos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::LayerRecord;

    fn planned(tags: &[&str]) -> Planned {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        Planned {
            record: ImageRecord {
                name: tags.first().map(|t| t.to_string()).unwrap_or_default(),
                target_digest: d('a'),
                target_media_type: String::new(),
                manifest_digest: d('a'),
                config_digest: d('b'),
                platform: "linux/amd64".into(),
                layers: vec![LayerRecord {
                    digest: d('c'),
                    media_type: String::new(),
                    size: 1,
                    diff_id: d('d'),
                    chain_id: d('d'),
                }],
                blobs: vec![],
                created: 0,
                pulled_at: 0,
                size: 0,
            },
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest_size: 10,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn documents_name_each_tag_and_share_blobs() {
        let plan = SavePlan {
            images: vec![planned(&[
                "docker.io/library/busybox:latest",
                "127.0.0.1:5000/x/y:1",
            ])],
        };
        let idx = index_json(&plan);
        assert_eq!(idx["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(idx["manifests"][1]["annotations"][ANNOTATION_REF_NAME], "1");
        let m = manifest_json(&plan);
        assert_eq!(
            m[0]["RepoTags"],
            json!(["busybox:latest", "127.0.0.1:5000/x/y:1"])
        );
        assert_eq!(
            m[0]["Layers"][0],
            format!("blobs/sha256/{}", "c".repeat(64))
        );
        let r = repositories(&plan);
        assert_eq!(r["127.0.0.1:5000/x/y"]["1"], "c".repeat(64));
        assert_eq!(plan.blobs().len(), 3);
    }

    #[test]
    fn untagged_image_has_no_names() {
        let plan = SavePlan {
            images: vec![planned(&[])],
        };
        assert_eq!(manifest_json(&plan)[0]["RepoTags"], Value::Null);
        assert_eq!(index_json(&plan)["manifests"][0]["annotations"], json!({}));
    }
}
