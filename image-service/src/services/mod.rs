//! gRPC services: thin translators from `ferry.images.v1` / `ferry.containers.v1` to the domain
//! and back.

mod container_convert;
mod containers;
mod convert;
mod images;
mod networks;
mod registry_convert;
mod status;

pub use containers::ContainersService;
pub use images::ImagesService;
pub use networks::NetworksService;
pub use status::to_status;
