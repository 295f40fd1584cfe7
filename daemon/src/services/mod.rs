//! gRPC services: thin translators from `ferry.containers.v1`, `ferry.networks.v1` and
//! `ferry.system.v1`, `ferry.volumes.v1`, `ferry.events.v1`, `ferry.build.v1` to the domain and back (`ferry.images.v1` is the image service's own).

mod build;
mod container_convert;
mod containers;
mod events;
mod networks;
mod status;
mod system;
mod volumes;

pub use build::BuildService;
pub use containers::ContainersService;
pub use events::EventsService;
pub use networks::NetworksService;
pub use status::{code_of, to_status};
pub use system::SystemService;
pub use volumes::VolumesService;

/// Runs blocking domain work (CNI, files, directory walks) off the async threads: a panicked
/// task is `Error::Blocking` (Internal, logged), a domain error keeps its code.
async fn blocking<T: Send + 'static>(
    task: &'static str,
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, tonic::Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| to_status(&crate::Error::blocking(task)(e)))?
        .map_err(|e| to_status(&e))
}
