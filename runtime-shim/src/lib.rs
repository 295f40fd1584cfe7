//! ferry-shim: one process per container. It drives the OCI runtime (crun or runc), holds the
//! container's stdio (pipes or a pty), writes its json-file log (and, for kubelet, a CRI log),
//! reaps it and keeps its exit status, and serves `ferry.shim.v1` on a unix socket so ferryd
//! (or a restarted ferryd) can manage it. Layers: [`process`] (domain) <- [`service`] (gRPC) <- [`server`] (socket) <- the
//! binary, which daemonizes with [`daemon`] first.

pub mod daemon;
pub mod error;
pub mod io;
pub mod oci;
pub mod pod_init;
pub mod process;
pub mod reaper;
pub mod server;
pub mod service;

pub use error::{Error, Result};
