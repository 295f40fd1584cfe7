//! Containers: the table ferryd keeps (`table`, `record`), the OCI runtime spec it builds for
//! each (`spec`, `bundle`), their root filesystems (`rootfs`), and their lifecycle through the shims
//! (`manager`, `monitor`, `attach`, `exec`, `logs`, `stats`, `copy`); `inspect` is Docker's JSON.

pub(crate) mod archive;
pub mod attach;
pub mod bundle;
mod command;
pub mod copy;
pub mod exec;
pub mod inspect;
pub mod logs;
pub mod manager;
pub mod monitor;
pub mod names;
mod networking;
pub mod pod;
pub mod record;
pub mod rootfs;
pub mod signals;
pub mod spec;
pub mod stats;
pub mod status;
pub mod table;
pub mod volumes;

pub use manager::Containers;
pub use record::{ContainerConfig, ContainerRecord, MountConfig, RestartPolicy, State};
pub use table::{ContainerTable, ContainerUsers};
