//! Snapshots: unpacked layers as overlayfs lower directories, keyed by chain ID and shared
//! between images.
//!
//! On disk, under `<data-root>/snapshots/`:
//! ```text
//! <id>/fs        a committed snapshot (numeric ID from the metadata counter); read-only by use
//! .tmp-<rand>/fs a layer being extracted; renamed to <id> only after every digest matched
//! ```
//! Lifecycle: `prepare` makes a temporary directory; the unpacker fills it; `commit` renames it
//! to its ID and then the metadata record is written. A crash before the record leaves a
//! directory without a record, which the start-up repair removes.

mod mounts;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use mounts::{is_mounted as mounts_is_mounted, ImageMounts, MountError};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: u64,
    pub chain_id: String,
    pub parent: Option<String>,
    /// Bytes of file content in this layer.
    pub size: u64,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
}

/// A snapshot being extracted; removed on drop unless committed.
#[derive(Debug)]
pub struct Prepared {
    dir: Option<PathBuf>,
}

impl Prepared {
    /// Where the layer's files go.
    pub fn fs(&self) -> PathBuf {
        self.dir.as_ref().map(|d| d.join("fs")).unwrap_or_default()
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "cannot remove unfinished snapshot");
            }
        }
    }
}

impl Snapshots {
    pub fn open(root: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&root).map_err(|e| Error::io("create", &root, e))?;
        Ok(Snapshots { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory overlayfs uses as a lower layer.
    pub fn fs_path(&self, id: u64) -> PathBuf {
        self.root.join(id.to_string()).join("fs")
    }

    pub fn prepare(&self) -> Result<Prepared> {
        let dir = self
            .root
            .join(format!(".tmp-{:016x}", rand::random::<u64>()));
        let fs = dir.join("fs");
        std::fs::create_dir_all(&fs).map_err(|e| Error::io("create", &fs, e))?;
        Ok(Prepared { dir: Some(dir) })
    }

    /// Moves a finished extraction to its final place.
    pub fn commit(&self, mut prepared: Prepared, id: u64) -> Result<()> {
        let dir = prepared
            .dir
            .take()
            .expect("a prepared snapshot is committed once");
        let target = self.root.join(id.to_string());
        std::fs::rename(&dir, &target).map_err(|e| {
            prepared.dir = Some(dir);
            Error::io("rename", &target, e)
        })
    }

    pub fn remove(&self, id: u64) -> Result<()> {
        let dir = self.root.join(id.to_string());
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &dir, e)),
            _ => Ok(()),
        }
    }

    /// Entries on disk: committed IDs, and the names of anything else (temporaries, strays).
    pub fn list_dirs(&self) -> Result<(Vec<u64>, Vec<PathBuf>)> {
        let mut ids = Vec::new();
        let mut others = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(|e| Error::io("read", &self.root, e))? {
            let entry = entry.map_err(|e| Error::io("read", &self.root, e))?;
            match entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(id) => ids.push(id),
                None => others.push(entry.path()),
            }
        }
        Ok((ids, others))
    }
}
