//! SPDY/3.1 as the Kubernetes streaming client speaks it (moby/spdystream): `frame` (bytes ⇄
//! frames), `headers` (zlib header blocks with the SPDY dictionary) and `conn` (a server
//! connection: client-opened streams in, our DATA out). spdystream does no flow control, so
//! neither do we: WINDOW_UPDATE and SETTINGS are read and ignored.

pub mod conn;
pub mod frame;
pub mod headers;

pub use conn::{Conn, Incoming};
pub use headers::Headers;

/// What a peer can do wrong on a SPDY connection (it ends the connection with a GOAWAY).
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("spdy frame of {0} bytes is over the limit")]
    FrameTooLarge(usize),
    #[error("spdy control frame type {0} is truncated")]
    Truncated(u16),
    #[error("spdy version {0} is not 3")]
    Version(u16),
    #[error("spdy header block: {0}")]
    HeaderBlock(String),
    #[error("spdy protocol error: {0}")]
    Protocol(&'static str),
    #[error("spdy connection: {0}")]
    Io(#[from] std::io::Error),
}
