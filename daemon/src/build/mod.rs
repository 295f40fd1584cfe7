//! `ferry build`: images from a Dockerfile, step by step, with a cache.
//!
//! ```text
//! dockerfile  the file read into stages of typed steps, checked before anything runs
//! lex         word expansion (BuildKit's shell/lex.go)
//! image       the image config and the config-only instructions (pure)
//! context     the client's context tar, extracted confined, removed after the build
//! step        a layer step's root: overlay of the parent's snapshots + a fresh upper dir,
//!             archived into an OCI layer (whiteouts, sorted, numeric owners, clamped mtimes)
//! run         RUN: a container through ferry-shim on that root, no container-table record
//! copy        COPY/ADD: the sources as a tar with their final names, extracted confined
//! job         one build: stages in order, the cache, the final commit
//! ```
//!
//! A build is a client of the image service (`ferry_image_service::built`: layer blobs,
//! snapshots through the pull's own layer path, config blobs, the build cache table, and the
//! image records) and of the container machinery (`containers::{rootfs, bundle, archive}`, the
//! shim launcher). Each layer step's result is a cache entry keyed by
//! sha256(parent key, the step as resolved: argv and ARG env for RUN, the digest of the tar of
//! the files for COPY); a hit reuses the entry's layers and config, so a rebuild with nothing
//! changed runs nothing and gives the same image ID. Config-only steps are recomputed (they
//! are cheap and deterministic; their history entries take the time of the step before).
//! The image records are written last, in one transaction: a failed build names no image (its
//! finished steps stay as cache).
//!
//! Not done yet: stages build one after another (not in parallel); RUN --mount=type=secret|ssh
//! and heredocs mixed with other COPY sources are refused; ADD fetches no URLs (a local tar is extracted); RUN runs
//! in the host's network namespace.

mod context;
mod copy;
mod dockerfile;
mod error;
mod image;
mod job;
mod lex;
mod run;
mod step;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ferry_image_service::pull::Puller;
use ferry_image_service::store::Store;
use tokio::sync::mpsc;

pub use error::BuildError;
pub use lex::LexError;

use crate::containers::Containers;
use crate::error::Result;

/// What `ferry build` asks for (the Dockerfile's text, the flags).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub dockerfile: String,
    pub dockerfile_name: String,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: String,
    pub no_cache: bool,
    /// `--pull`: pull base images even when present.
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    pub platform: String,
    /// SOURCE_DATE_EPOCH: the image's time and the latest file time in its new layers.
    pub source_date_epoch: Option<i64>,
}

/// BuildKit's plain progress, as events.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Started {
        step: u32,
        name: String,
    },
    Log {
        step: u32,
        line: String,
        elapsed: f64,
    },
    Cached {
        step: u32,
    },
    Done {
        step: u32,
        seconds: f64,
    },
    Error {
        step: u32,
        message: String,
    },
}

/// The committed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub image_id: String,
    pub names: Vec<String>,
}

/// Everything builds need; one per ferryd.
#[derive(Debug)]
pub struct Builder {
    containers: Arc<Containers>,
    puller: Arc<Puller>,
}

impl Builder {
    pub fn new(containers: Arc<Containers>, puller: Arc<Puller>) -> Self {
        Builder { containers, puller }
    }

    fn store(&self) -> &Arc<Store> {
        &self.containers.store
    }

    /// Removes what an interrupted build left (step roots, contexts). Call before serving.
    pub fn sweep(&self) {
        let c = &self.containers;
        step::sweep(&c.data_root, &c.exec_root);
        let _ = std::fs::remove_dir_all(context::parent(&c.data_root));
    }

    /// Builds from the context tar `context` (read on a blocking thread).
    pub async fn build(
        &self,
        req: BuildRequest,
        context: impl std::io::Read + Send + 'static,
        progress: mpsc::Sender<Progress>,
    ) -> Result<Built> {
        // The Dockerfile and the flags are read whole first: an error in them runs nothing.
        let plan = job::Plan::new(&req)?;
        let parent = context::parent(&self.containers.data_root);
        let ctx = tokio::task::spawn_blocking(move || context::Context::receive(context, &parent))
            .await
            .map_err(crate::Error::blocking("build context"))??;
        let job = job::Job::new(self, plan, ctx.dir(), progress);
        let res = job.run().await;
        if res.is_err() {
            // The job's leases are gone with it: what a failed step committed without a cache
            // entry (a layer whose snapshot did not finish) is collected now, as after a pull.
            if let Err(e) = self.store().gc() {
                tracing::warn!(error = %e, "collecting after a failed build");
            }
        }
        res
    }

    /// `builder prune`: empties the build cache and collects what only it held.
    pub fn prune(&self) -> Result<ferry_image_service::built::cache::Pruned> {
        let cache = job::cache_mounts(&self.containers.data_root);
        if let Err(e) = std::fs::remove_dir_all(&cache) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(crate::Error::io("remove", cache, e));
            }
        }
        Ok(ferry_image_service::built::cache::clear(self.store())?)
    }

    fn data_roots(&self) -> (&Path, &Path) {
        (&self.containers.data_root, &self.containers.exec_root)
    }
}
