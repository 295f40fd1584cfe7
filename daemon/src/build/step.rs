//! A step that writes a layer: the previous step's snapshots mounted as overlay lower layers
//! with a fresh upper directory (the containers' own `rootfs::Paths`, under
//! `<data-root>/build/` and `<exec-root>/build/` so they are no container's), changed by a RUN
//! process or by COPY's files, unmounted, and the upper directory archived as the layer.
//!
//! A `StepRoot` unmounts and removes its directories when dropped, whatever happened; ferryd's
//! start clears `build/` of what a crash left (`sweep`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_image_service::built::LayerFile;
use ferry_image_service::store::Store;

use crate::containers::archive::{Archiver, Options};
use crate::containers::rootfs::Paths;
use crate::error::{Error, Result};

/// The mounted root of one step.
#[derive(Debug)]
pub(crate) struct StepRoot {
    pub id: String,
    pub paths: Paths,
    mounted: bool,
}

/// `<data-root>/build` and `<exec-root>/build`: where step roots live.
pub(crate) fn roots(data_root: &Path, exec_root: &Path) -> (PathBuf, PathBuf) {
    (data_root.join("build"), exec_root.join("build"))
}

impl StepRoot {
    /// Mounts `chain_ids`' snapshots (bottom first) under a fresh upper directory. A step on
    /// `scratch` gets an empty lower directory (overlayfs needs one).
    pub(crate) fn mount(
        store: &Store,
        data_root: &Path,
        exec_root: &Path,
        chain_ids: &[String],
    ) -> Result<StepRoot> {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let (d, e) = roots(data_root, exec_root);
        let paths = Paths::new(&d, &e, &id);
        let mut root = StepRoot {
            id,
            paths,
            mounted: false,
        };
        root.paths.create_dirs()?;
        let mut lowers = store.snapshot_dirs(chain_ids)?;
        if lowers.is_empty() {
            let empty = root.paths.state.join("empty");
            std::fs::create_dir_all(&empty).map_err(|err| Error::io("create", &empty, err))?;
            lowers.push(empty);
        }
        root.paths.mount_rootfs(&lowers)?;
        root.mounted = true;
        Ok(root)
    }

    pub(crate) fn rootfs(&self) -> PathBuf {
        self.paths.rootfs()
    }

    /// Unmounts, then archives the upper directory as an OCI layer into the content ingest.
    pub(crate) fn into_layer(
        mut self,
        store: &Arc<Store>,
        clamp: Option<u64>,
    ) -> Result<LayerFile> {
        self.paths.unmount_rootfs()?;
        self.mounted = false;
        let upper = self.paths.upper();
        let fd = rustix::fs::open(
            &upper,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io("open", &upper, e.into()))?;
        let opts = Options {
            whiteouts: true,
            clamp_mtime: clamp,
            ..Default::default()
        };
        let mut w = Archiver::new(LayerFile::create(store)?, opts);
        w.add(&fd, Path::new(""))?;
        w.finish()
    }
}

impl Drop for StepRoot {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = self.paths.unmount_rootfs() {
                tracing::warn!(id = %self.id, error = %e, "unmounting a build step's root");
            }
        }
        if let Err(e) = self.paths.remove_all() {
            tracing::warn!(id = %self.id, error = %e, "removing a build step's directories");
        }
    }
}

/// Removes what an interrupted build left under `build/` (ferryd's start; no build runs yet).
pub(crate) fn sweep(data_root: &Path, exec_root: &Path) {
    let (d, e) = roots(data_root, exec_root);
    let Ok(entries) = std::fs::read_dir(e.join("containers")) else {
        return;
    };
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().to_string();
        let paths = Paths::new(&d, &e, &id);
        let _ = paths.unmount_rootfs();
        let _ = paths.remove_all();
    }
    let _ = std::fs::remove_dir_all(d.join("containers"));
}
