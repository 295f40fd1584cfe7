//! The parts of an image config that a pull needs: diff IDs (to verify layers), the creation
//! time, and the platform. Parsed leniently: unknown fields are ignored, as Docker does.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::content::sha256_hex;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    pub fn parse(digest: &str, bytes: &[u8]) -> Result<Self> {
        let cfg: ImageConfig = serde_json::from_slice(bytes).map_err(|e| Error::InvalidConfig {
            digest: digest.to_string(),
            reason: e.to_string(),
        })?;
        if cfg.rootfs.kind != "layers" {
            return Err(invalid(
                digest,
                format!("rootfs type {:?} is not \"layers\"", cfg.rootfs.kind),
            ));
        }
        if let Some(bad) = cfg.rootfs.diff_ids.iter().find(|d| sha256_hex(d).is_none()) {
            return Err(invalid(
                digest,
                format!("diff_id {bad:?} is not a sha256 digest"),
            ));
        }
        Ok(cfg)
    }

    /// Seconds since the epoch, 0 when absent or unparsable.
    pub fn created_unix(&self) -> i64 {
        self.created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0)
    }
}

fn invalid(digest: &str, reason: String) -> Error {
    Error::InvalidConfig {
        digest: digest.to_string(),
        reason,
    }
}

/// Chain IDs per the OCI image spec: ChainID(L0) = DiffID(L0),
/// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). A snapshot is keyed by its chain ID,
/// so the same layer on the same parents is unpacked once and shared.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => {
                let h = Sha256::digest(format!("{parent} {diff}").as_bytes());
                format!("sha256:{}", hex::encode(h))
            }
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let want = hex::encode(Sha256::digest(format!("{a} {b}").as_bytes()));
        assert_eq!(ids[1], format!("sha256:{want}"));
    }

    #[test]
    fn config_rejects_bad_rootfs() {
        let d = "sha256:x";
        assert!(
            ImageConfig::parse(d, br#"{"rootfs":{"type":"layers","diff_ids":["nope"]}}"#).is_err()
        );
        assert!(ImageConfig::parse(d, br#"{"rootfs":{"type":"x","diff_ids":[]}}"#).is_err());
        assert!(ImageConfig::parse(d, b"[]").is_err());
        let ok = ImageConfig::parse(
            d,
            br#"{"created":"2024-01-02T03:04:05Z","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(ok.created_unix(), 1704164645);
    }
}
