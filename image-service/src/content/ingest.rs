//! Writing one blob: bytes go to `ingest/<random>` while being hashed and counted; `commit`
//! verifies size and digest, then renames the file into `blobs/sha256/<hex>`. Dropping an
//! uncommitted ingest removes its file, so a failed or cancelled pull leaves no stray ingest.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Running sha256 and byte count of a stream.
#[derive(Debug, Default, Clone)]
pub struct Digester {
    hasher: Sha256,
    len: u64,
}

impl Digester {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

#[derive(Debug)]
pub struct Ingest {
    file: Option<BufWriter<File>>,
    temp: PathBuf,
    target: PathBuf,
    expected_digest: String,
    expected_size: u64,
    digester: Digester,
}

impl Ingest {
    pub(super) fn create(dir: &Path, target: PathBuf, digest: &str, size: u64) -> Result<Self> {
        let temp = dir.join(format!("{:016x}", rand::random::<u64>()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io("create", &temp, e))?;
        Ok(Ingest {
            file: Some(BufWriter::with_capacity(256 << 10, file)),
            temp,
            target,
            expected_digest: digest.to_string(),
            expected_size: size,
            digester: Digester::default(),
        })
    }

    pub fn written(&self) -> u64 {
        self.digester.len()
    }

    /// Digest of what was written so far.
    pub fn digest(&self) -> String {
        self.digester.digest()
    }

    /// Verifies size and digest and moves the blob into place.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("commit is called once");
        file.into_inner()
            .map_err(|e| Error::io("write", &self.temp, e.into_error()))?;
        if self.digester.len() != self.expected_size {
            return Err(Error::SizeMismatch {
                digest: self.expected_digest.clone(),
                expected: self.expected_size,
                actual: self.digester.len(),
            });
        }
        let actual = self.digester.digest();
        if actual != self.expected_digest {
            return Err(Error::DigestMismatch {
                what: "blob".into(),
                expected: self.expected_digest.clone(),
                actual,
            });
        }
        std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io("rename", &self.target, e))
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.digester.len() + buf.len() as u64 > self.expected_size {
            return Err(std::io::Error::other(format!(
                "blob {} is longer than its descriptor's {} bytes",
                self.expected_digest, self.expected_size
            )));
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("ingest closed"))?;
        file.write_all(buf)?;
        self.digester.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // Only an uncommitted ingest (or one whose rename failed) still has its temp file.
        if let Err(e) = std::fs::remove_file(&self.temp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.temp.display(), error = %e, "cannot remove ingest file");
            }
        }
    }
}
