pub(crate) mod images;
pub(crate) mod mount;
pub(crate) mod pull;
