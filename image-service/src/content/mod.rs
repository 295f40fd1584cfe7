//! The content store: compressed blobs (layers, configs, manifests) by digest.
//!
//! On disk, under `<data-root>/content/`:
//! ```text
//! blobs/sha256/<hex>   verified, immutable; renamed into place only after the digest matched
//! ingest/<random>      a blob being written; never read; removed on failure and at start
//! ```
//! A blob is visible to the rest of ferryd only through its `content` record in the metadata
//! store, which is written after the rename; a file without a record is an orphan that the start-up
//! repair removes. Digests are validated before they become paths, so a hostile digest cannot
//! name a file outside the store.

mod ingest;

use std::path::{Path, PathBuf};

pub use ingest::{Digester, Ingest};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    pub fn open(root: PathBuf) -> Result<Self> {
        for dir in [root.join("blobs/sha256"), root.join("ingest")] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        }
        Ok(ContentStore { root })
    }

    /// Path of a committed blob. Fails on anything but `sha256:<64 lowercase hex>`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest).ok_or_else(|| Error::InvalidConfig {
            digest: digest.to_string(),
            reason: "not a sha256 digest".into(),
        })?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    pub fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Starts writing a blob whose digest and size we expect.
    pub fn ingest(&self, digest: &str, size: u64) -> Result<Ingest> {
        let target = self.blob_path(digest)?;
        Ingest::create(&self.ingest_dir(), target, digest, size)
    }

    /// Writes a small blob (manifest, config) already held in memory and verified by the caller.
    pub fn write_small(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let mut ingest = self.ingest(digest, bytes.len() as u64)?;
        std::io::Write::write_all(&mut ingest, bytes)
            .map_err(|e| Error::io("write", self.ingest_dir(), e))?;
        ingest.commit()
    }

    pub fn read_small(&self, digest: &str, max: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        if len > max {
            return Err(Error::TooLarge {
                what: digest.to_string(),
                max,
            });
        }
        std::fs::read(&path).map_err(|e| Error::io("read", &path, e))
    }

    pub fn remove(&self, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove", &path, e))
            }
            _ => Ok(()),
        }
    }

    /// Digests of every blob file on disk (for the start-up repair).
    pub fn list_files(&self) -> Result<Vec<String>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("read", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let digest = format!("sha256:{name}");
            if sha256_hex(&digest).is_some() {
                out.push(digest);
            } else {
                remove_path(&entry.path());
            }
        }
        Ok(out)
    }

    /// Removes everything an interrupted write left behind.
    pub fn clean_ingest(&self) -> Result<usize> {
        let dir = self.ingest_dir();
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("read", &dir, e))?;
            remove_path(&entry.path());
            n += 1;
        }
        Ok(n)
    }
}

/// The hex part of a well-formed sha256 digest.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

fn remove_path(path: &Path) {
    let res = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = res {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove stray file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn digest_of(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(b)))
    }

    #[test]
    fn rejects_digests_that_are_not_sha256_hex() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path().to_path_buf()).unwrap();
        for bad in [
            "sha256:../../etc/passwd",
            "md5:abc",
            "sha256:ABC",
            "sha256:",
        ] {
            assert!(store.blob_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn small_blob_round_trip_and_mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path().to_path_buf()).unwrap();
        let d = digest_of(b"hello");
        store.write_small(&d, b"hello").unwrap();
        assert_eq!(store.read_small(&d, 10).unwrap(), b"hello");
        assert_eq!(store.list_files().unwrap(), vec![d.clone()]);

        let wrong = digest_of(b"other");
        let err = store.write_small(&wrong, b"hello!").unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch { .. } | Error::DigestMismatch { .. }
            ),
            "{err}"
        );
        let err = store.write_small(&wrong, b"hello").unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.blob_path(&wrong).unwrap().exists());
        assert_eq!(std::fs::read_dir(store.ingest_dir()).unwrap().count(), 0);
    }
}
