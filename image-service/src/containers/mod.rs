//! Containers: the table ferryd keeps, the OCI runtime spec it builds for each, and the shims
//! that run them.

pub mod spec;
