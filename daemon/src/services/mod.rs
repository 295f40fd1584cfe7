//! gRPC services: thin translators from `ferry.containers.v1`, `ferry.networks.v1` and
//! `ferry.system.v1`, `ferry.volumes.v1`, `ferry.events.v1` to the domain and back (`ferry.images.v1` is the image service's own).

mod container_convert;
mod containers;
mod events;
mod networks;
mod status;
mod system;
mod volumes;

pub use containers::ContainersService;
pub use events::EventsService;
pub use networks::NetworksService;
pub use status::{code_of, to_status};
pub use system::SystemService;
pub use volumes::VolumesService;
