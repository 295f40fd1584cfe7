//! gRPC services: thin translators from `ferry.images.v1` to the domain and back. ferryd serves
//! them beside its own; `status` is the error mapping its services reuse for image errors.

pub mod convert;
mod images;
mod registry_convert;
mod status;

pub use images::ImagesService;
pub use status::{code_of, status_with, to_status};
