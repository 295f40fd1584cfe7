//! Image archives: `save` writes them, `load` reads them.
//!
//! The format `save` writes is Docker 25's: an OCI image layout that is also a docker-archive,
//! built from the content store's original (compressed) blobs so every digest survives:
//! ```text
//! oci-layout            {"imageLayoutVersion":"1.0.0"}
//! blobs/sha256/<hex>    manifests, configs, layers, byte for byte as pulled
//! index.json            one manifest descriptor per name, annotated with
//!                       io.containerd.image.name (full name) and org.opencontainers.image.ref.name (tag)
//! manifest.json         [{"Config","RepoTags","Layers"}], paths into blobs/sha256/ (docker load)
//! repositories          {"repo":{"tag":"<top layer hex>"}} (legacy readers)
//! ```
//! `load` reads that, a plain OCI layout archive (index.json) and a legacy docker-archive
//! (manifest.json with `<id>/layer.tar` uncompressed layers, for which it writes a Docker schema 2
//! manifest). The tar is spooled into a private directory under the content ingest area first
//! (`spool`: bounded, no links, no escaping paths, every `blobs/sha256/<hex>` hashed), then its
//! images are interpreted (`parse`), their blobs renamed into the content store under a lease,
//! their layers unpacked through the pull's layer path, and all records committed in one
//! transaction (`load`). A failure collects whatever was committed, so nothing remains.

mod load;
mod parse;
mod save;
mod spool;
mod stream;

pub use load::Loaded;
pub(crate) use load::{commit_records, load, put_small, record_blob};
pub use save::{plan_save, write_archive, SavePlan};
pub use spool::SpoolLimits;
pub use stream::ChunkWriter;

/// Cap on the JSON documents of an archive (index.json, manifest.json, manifests, configs), as
/// for manifests from a registry.
pub const MAX_JSON_BYTES: u64 = 4 << 20;

/// The annotation containerd and Docker 25 use for an image's full name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation: a tag (Docker) or a whole reference (skopeo).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
