//! The shims: launching `ferry-shim` (`launch`) and the typed client ferryd talks to each one
//! through (`client`). Nothing else in ferryd sees the generated shim client.

pub mod client;
pub mod launch;

pub use client::{Shim, ShimAttach};
pub use launch::{recorded_exit, ShimLauncher};
