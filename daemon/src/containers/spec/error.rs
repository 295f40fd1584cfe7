//! Why a spec could not be built. Every variant holds the value that was
//! wrong; messages copy Docker's wording where Docker has one, so the CLI can
//! print them as `docker run` would.

use std::path::PathBuf;

/// An invalid `run` flag, an image config that cannot run, or an unreadable
/// user database inside the rootfs.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the run flags name a program.
    #[error("no command specified")]
    NoCommand,

    /// A user name that the rootfs's `/etc/passwd` does not list.
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser { user: String },

    /// A group name that the rootfs's `/etc/group` does not list.
    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup { group: String },

    /// A `--user` value that cannot be parsed (empty part, id out of range).
    #[error("invalid user {user:?}: {reason}")]
    InvalidUser { user: String, reason: String },

    /// A `--cap-add`/`--cap-drop` name no kernel knows.
    #[error("unknown capability: {cap:?}")]
    InvalidCapability { cap: String },

    /// A mount whose destination is relative, `/`, or used twice.
    #[error("invalid mount {destination:?}: {reason}")]
    InvalidMount { destination: String, reason: String },

    /// A working directory that is not absolute.
    #[error("the working directory '{workdir}' is invalid, it needs to be an absolute path")]
    InvalidWorkdir { workdir: String },

    /// A resource limit outside what the kernel or Docker accepts.
    #[error("invalid {resource}: {reason}")]
    InvalidResource {
        resource: &'static str,
        reason: String,
    },

    /// `--init` was asked for but the caller has no init binary to mount.
    #[error("--init requested but no init binary is configured")]
    InitNotConfigured,

    /// A seccomp profile (the CRI's `Localhost`) that is not an OCI seccomp profile.
    #[error("invalid seccomp profile {path}: {reason}")]
    InvalidSeccomp { path: PathBuf, reason: String },

    /// A device path that is not a character or block device.
    #[error("{path} is not a device")]
    InvalidDevice { path: PathBuf },

    /// `/etc/passwd` or `/etc/group` inside the rootfs could not be read.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// oci-spec refused a value (its builders validate little, so this is a bug).
    #[error("building the runtime spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}
