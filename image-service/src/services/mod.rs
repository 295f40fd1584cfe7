//! gRPC services: thin translators from `ferry.images.v1` to the domain and back.

mod convert;
mod images;
mod status;

pub use images::ImagesService;
pub use status::to_status;
