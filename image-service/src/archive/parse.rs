//! Interpreting a spooled archive: which images it holds, under which names, made of which files.
//! An OCI layout (`index.json`) is preferred, since it keeps the original manifests; a legacy
//! docker-archive (`manifest.json` only) gets a Docker schema 2 manifest written for it, whose
//! layers are the archive's files as they are (usually uncompressed tars).

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

use super::spool::{Spool, Spooled};
use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, DOCKER_CONFIG};
use crate::content::sha256_hex;
use crate::distribution::{
    parse_manifest, select_platform, sha256_digest, Descriptor, Manifest, Platform, Reference,
    DOCKER_MANIFEST_V2,
};
use crate::error::{Error, Result};
use crate::images::ImageConfig;

/// A blob of the image: where it is in the spool (none for a manifest we wrote).
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub(crate) digest: String,
    pub(crate) media_type: String,
    pub(crate) size: u64,
    pub(crate) source: Option<Spooled>,
}

/// One image of the archive.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Full references (`docker.io/library/busybox:latest`); empty when untagged.
    pub(crate) names: Vec<String>,
    pub(crate) manifest: Blob,
    /// Manifest bytes we wrote (legacy archives): stored as a blob of their own.
    pub(crate) written_manifest: Option<Vec<u8>>,
    pub(crate) config: Blob,
    pub(crate) image_config: ImageConfig,
    pub(crate) layers: Vec<Blob>,
}

#[derive(Debug, Deserialize)]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The images of a spooled archive, in archive order.
pub(crate) fn candidates(spool: &Spool) -> Result<Vec<Candidate>> {
    let found = if spool.has("index.json") {
        from_index(spool)?
    } else if spool.has("manifest.json") {
        from_legacy(spool)?
    } else {
        return Err(Error::InvalidArchive(
            "neither index.json nor manifest.json: not an image archive".into(),
        ));
    };
    if found.is_empty() {
        return Err(Error::InvalidArchive("the archive holds no image".into()));
    }
    Ok(found)
}

fn from_index(spool: &Spool) -> Result<Vec<Candidate>> {
    let raw: RawIndex = json(spool, "index.json")?;
    let mut out: Vec<Candidate> = Vec::new();
    for d in raw.manifests {
        let name = name_of(&d.annotations);
        let desc = Descriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            platform: None,
            urls: Vec::new(),
        };
        let (manifest, parsed) = platform_manifest(spool, &desc)?;
        // Several names for one manifest (two tags saved together) make one image.
        if let Some(c) = out
            .iter_mut()
            .find(|c| c.manifest.digest == manifest.digest)
        {
            c.names.extend(name);
            continue;
        }
        let mut c = from_manifest(spool, manifest, parsed)?;
        c.names.extend(name);
        out.push(c);
    }
    Ok(out)
}

/// Docker 25 and containerd name an image with `io.containerd.image.name`; skopeo puts the whole
/// reference in `org.opencontainers.image.ref.name`, where Docker puts only the tag (useless alone).
fn name_of(annotations: &HashMap<String, String>) -> Option<String> {
    if let Some(n) = annotations.get(ANNOTATION_IMAGE_NAME) {
        return crate::images::normalize(n);
    }
    let n = annotations.get(ANNOTATION_REF_NAME)?;
    if !n.contains(':') && !n.contains('/') {
        return None;
    }
    crate::images::normalize(n)
}

/// The image manifest a descriptor leads to: itself, or the host's entry of an index.
fn platform_manifest(spool: &Spool, desc: &Descriptor) -> Result<(Blob, Manifest)> {
    let (blob, bytes) = blob_bytes(spool, desc)?;
    let parsed = parse_manifest(&desc.media_type, &bytes)?;
    let Manifest::Index { manifests, .. } = &parsed else {
        let blob = Blob {
            media_type: parsed.media_type().to_string(),
            ..blob
        };
        return Ok((blob, parsed));
    };
    let child = select_platform(manifests, &Platform::host())?.clone();
    let (blob, bytes) = blob_bytes(spool, &child)?;
    match parse_manifest(&child.media_type, &bytes)? {
        m @ Manifest::Image { .. } => Ok((blob, m)),
        Manifest::Index { .. } => Err(Error::InvalidArchive(format!(
            "index {} points at another index",
            desc.digest
        ))),
    }
}

fn from_manifest(spool: &Spool, manifest: Blob, parsed: Manifest) -> Result<Candidate> {
    let Manifest::Image { config, layers, .. } = parsed else {
        return Err(Error::InvalidArchive(format!(
            "{} is not an image manifest",
            manifest.digest
        )));
    };
    let (config_blob, config_bytes) = blob_bytes(spool, &config)?;
    let layers = layers
        .iter()
        .map(|l| blob_of(spool, l))
        .collect::<Result<Vec<_>>>()?;
    candidate(manifest, None, config_blob, config_bytes, layers)
}

fn candidate(
    manifest: Blob,
    written_manifest: Option<Vec<u8>>,
    config: Blob,
    config_bytes: Vec<u8>,
    layers: Vec<Blob>,
) -> Result<Candidate> {
    let image_config = ImageConfig::parse(&config.digest, &config_bytes)?;
    if image_config.rootfs.diff_ids.len() != layers.len() {
        return Err(Error::InvalidConfig {
            digest: config.digest.clone(),
            reason: format!(
                "{} diff_ids for {} layers",
                image_config.rootfs.diff_ids.len(),
                layers.len()
            ),
        });
    }
    Ok(Candidate {
        names: Vec::new(),
        manifest,
        written_manifest,
        config,
        image_config,
        layers,
    })
}

/// The spooled file of a descriptor, its size checked (its digest was checked when spooled).
fn blob_of(spool: &Spool, d: &Descriptor) -> Result<Blob> {
    let hex = sha256_hex(&d.digest)
        .ok_or_else(|| Error::InvalidArchive(format!("unsupported digest {}", d.digest)))?;
    let path = format!("blobs/sha256/{hex}");
    let f = spool
        .get(&path)
        .ok_or_else(|| Error::InvalidArchive(format!("archive lacks blob {}", d.digest)))?;
    if f.size != d.size {
        return Err(Error::SizeMismatch {
            digest: d.digest.clone(),
            expected: d.size,
            actual: f.size,
        });
    }
    Ok(Blob {
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: d.size,
        source: Some(f.clone()),
    })
}

fn blob_bytes(spool: &Spool, d: &Descriptor) -> Result<(Blob, Vec<u8>)> {
    let blob = blob_of(spool, d)?;
    let path = format!("blobs/sha256/{}", sha256_hex(&d.digest).unwrap_or_default());
    let bytes = spool.read_small(&path)?;
    Ok((blob, bytes))
}

fn json<T: serde::de::DeserializeOwned>(spool: &Spool, path: &str) -> Result<T> {
    let bytes = spool.read_small(path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::InvalidArchive(format!("{path}: {e}")))
}

fn from_legacy(spool: &Spool) -> Result<Vec<Candidate>> {
    let entries: Vec<LegacyEntry> = json(spool, "manifest.json")?;
    entries.iter().map(|e| legacy_image(spool, e)).collect()
}

/// A docker-archive image: files named by path, digests from their content.
fn legacy_image(spool: &Spool, e: &LegacyEntry) -> Result<Candidate> {
    let cfg_file = legacy_file(spool, &e.config)?;
    let config_bytes = spool.read_small(&e.config)?;
    let config = Blob {
        digest: cfg_file.digest.clone(),
        media_type: DOCKER_CONFIG.into(),
        size: cfg_file.size,
        source: Some(cfg_file),
    };
    let layers = e
        .layers
        .iter()
        .map(|p| {
            let f = legacy_file(spool, p)?;
            Ok(Blob {
                digest: f.digest.clone(),
                media_type: sniff_layer_type(&f)?.into(),
                size: f.size,
                source: Some(f),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = schema2_manifest(&config, &layers)?;
    let manifest = Blob {
        digest: sha256_digest(&bytes),
        media_type: DOCKER_MANIFEST_V2.into(),
        size: bytes.len() as u64,
        source: None,
    };
    let mut c = candidate(manifest, Some(bytes), config, config_bytes, layers)?;
    for tag in e.repo_tags.iter().flatten() {
        let r = Reference::parse(tag)?;
        c.names.push(r.to_string());
    }
    Ok(c)
}

fn legacy_file(spool: &Spool, path: &str) -> Result<Spooled> {
    spool
        .get(path)
        .cloned()
        .ok_or_else(|| Error::InvalidArchive(format!("archive lacks {path}")))
}

/// docker-archive layers carry no media type: tell gzip and zstd from a plain tar by magic.
fn sniff_layer_type(f: &Spooled) -> Result<&'static str> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(&f.file).map_err(|e| Error::io("open", &f.file, e))?;
    let n = file
        .read(&mut magic)
        .map_err(|e| Error::io("read", &f.file, e))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.docker.image.rootfs.diff.tar",
    })
}

pub(crate) fn schema2_manifest(config: &Blob, layers: &[Blob]) -> Result<Vec<u8>> {
    let desc = |b: &Blob| serde_json::json!({"mediaType": b.media_type, "size": b.size, "digest": b.digest});
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": desc(config),
        "layers": layers.iter().map(desc).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&m).map_err(|e| Error::InvalidArchive(format!("writing a manifest: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_annotations_as_docker_reads_them() {
        let ann = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            name_of(&ann(ANNOTATION_IMAGE_NAME, "docker.io/library/busybox:1")).as_deref(),
            Some("docker.io/library/busybox:1")
        );
        assert_eq!(
            name_of(&ann(ANNOTATION_REF_NAME, "busybox:latest")).as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(name_of(&ann(ANNOTATION_REF_NAME, "latest")), None);
        assert_eq!(name_of(&HashMap::new()), None);
    }

    #[test]
    fn sniffs_layer_compression() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &str); 3] = [
            (
                &[0x1f, 0x8b, 8, 0],
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            ),
            (
                &[0x28, 0xb5, 0x2f, 0xfd],
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            (b"etc/", "application/vnd.docker.image.rootfs.diff.tar"),
        ];
        for (bytes, want) in cases {
            let file = dir.path().join("l");
            std::fs::write(&file, bytes).unwrap();
            let f = Spooled {
                file,
                size: bytes.len() as u64,
                digest: String::new(),
            };
            assert_eq!(sniff_layer_type(&f).unwrap(), want);
        }
    }
}
