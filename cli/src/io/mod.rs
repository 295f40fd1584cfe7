//! The local end of attached sessions: terminal modes, detach keys, stdio pumping.

pub(crate) mod chunks;
pub(crate) mod detach;
pub(crate) mod session;
pub(crate) mod tty;
