//! ferryd: composes the image service (`ferry_image_service`) with what runs containers.
//!
//! ```text
//! build/        `ferry build`: Dockerfile, word expansion, steps (RUN through the shims, COPY
//!               from the context), the build cache, the commit through the image service
//! containers/   the container table (one owner of the `containers` table), the OCI spec
//!               builder, root filesystems, lifecycle, exec, logs, stats, copy
//! cri/          the CRI v1 runtime and image services: pod sandboxes (their own table),
//!               pods' containers as rows of the container table, the image store as CRI images
//! events        the event bus (`docker events`, the CRI's container events)
//! shim/         launching ferry-shim and the typed client ferryd talks to it through
//! usage         `system df`: the image service's figures plus containers and volumes
//! volumes       named volumes under `<data-root>/volumes/` (the local driver's layout)
//! info/         `version` and `info`: the build, the runtimes' versions, host facts, counts,
//!               the engine ID kept in the data root
//! metrics       the Prometheus registry ferryd serves (the pull's figures registered in it)
//! services/     thin gRPC translators: containers, networks, system (images is the image
//!               service's own)
//! ```
//! Networking (CNI, netns, ports, subnets) is the `ferry_network` crate; `containers::networking`
//! is the one place that joins a container to it; a pod sandbox joins it in `cri::sandbox`.

pub mod build;
pub mod containers;
pub mod cri;
pub mod error;
pub mod events;
pub mod info;
pub mod metrics;
pub mod services;
pub mod shim;
pub mod usage;
pub mod volumes;

pub use error::{Error, Result};
