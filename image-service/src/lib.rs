//! Ferry's image service: the domain behind `ferryd`.
//!
//! Layers, as in containerd: domain modules (content, distribution, unpack, snapshots, images,
//! metadata, pull) do the work and never see a socket; `services` translates gRPC to them.
//! Nothing here knows what a container is: what holds an image is asked through [`users`].

pub mod archive;
pub mod built;
pub mod config;
pub mod content;
pub mod distribution;
pub mod error;
pub mod events;
pub mod images;
pub mod leases;
pub mod metadata;
pub mod pull;
pub mod push;
pub mod registries;
pub mod services;
pub mod snapshots;
pub mod store;
pub mod unpack;
pub mod users;

pub use error::{Error, Result};
