//! Fuzz targets for Ferry's parsers; see `README.md`. The assertions live in [`checks`].

pub mod checks;
