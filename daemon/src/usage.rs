//! `system df`: the image service's figures, plus what containers and volumes hold on disk.

use std::collections::HashSet;
use std::path::Path;

use ferry_image_service::images::usage::{self as images, DiskUsage as ImagesUsage};
use ferry_image_service::store::Store;

use crate::containers::{ContainerRecord, Containers};
use crate::error::Result;

/// One container in `system df`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUsage {
    pub record: ContainerRecord,
    /// Bytes in its writable layer.
    pub size_rw: u64,
}

/// One named volume in `system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    pub name: String,
    pub size: u64,
    /// Containers that mount it.
    pub links: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskUsage {
    pub images: ImagesUsage,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
}

/// Walks the disk: run it off the async threads.
pub fn disk_usage(store: &Store, containers: &Containers) -> Result<DiskUsage> {
    let images = images::disk_usage(store)?;
    let records = containers.list()?;
    let usage = records
        .iter()
        .map(|c| ContainerUsage {
            record: c.clone(),
            size_rw: dir_size(&containers.paths(&c.id).upper()),
        })
        .collect();
    Ok(DiskUsage {
        images,
        containers: usage,
        volumes: volumes(containers)?,
    })
}

fn volumes(containers: &Containers) -> Result<Vec<VolumeUsage>> {
    Ok(containers
        .volume_list()?
        .into_iter()
        .map(|(v, users)| VolumeUsage {
            size: dir_size(&containers.volumes.data_dir(&v.name)),
            name: v.name,
            links: users.len() as u64,
        })
        .collect())
}

/// Bytes of regular files under `dir`, each inode counted once, symlinks not followed (as
/// Docker's `directory.Size`). Unreadable parts count as empty.
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() && seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_size_counts_hardlinks_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"12345").unwrap();
        std::fs::hard_link(d.path().join("f"), d.path().join("g")).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/h"), b"12").unwrap();
        assert_eq!(dir_size(d.path()), 7);
    }
}
