//! Domain errors to gRPC status codes, in one exhaustive match: a new variant cannot ship
//! without a code. Internal errors are logged here; messages are capped.

use tonic::{Code, Status};

use crate::distribution::DistributionError as D;
use crate::error::Error;
use crate::unpack::UnpackError as U;

const MAX_MESSAGE: usize = 4096;

pub fn to_status(err: &Error) -> Status {
    status_with(code_of(err), err)
}

/// A status with `code` and the error's message, capped; internal errors are logged. ferryd's
/// own error mapping ends here too, so every hop caps and logs alike.
pub fn status_with(code: Code, err: &dyn std::fmt::Display) -> Status {
    if code == Code::Internal {
        tracing::error!(error = %err, "internal error");
    }
    let mut msg = err.to_string();
    if msg.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    Status::new(code, msg)
}

/// The gRPC code of an image service error: one exhaustive match.
pub fn code_of(err: &Error) -> Code {
    match err {
        Error::Distribution(d) => distribution_code(d),
        Error::Unpack(u) => unpack_code(u),
        Error::ImageNotFound(_) => Code::NotFound,
        Error::AmbiguousImage { .. } => Code::InvalidArgument,
        Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => Code::DataLoss,
        Error::TooLarge { .. } | Error::NoSpace { .. } | Error::LowSpace { .. } => {
            Code::ResourceExhausted
        }
        Error::InvalidConfig { .. } | Error::InvalidArchive(_) => Code::InvalidArgument,
        Error::UnsupportedLayer { .. } => Code::InvalidArgument,
        Error::ImageMounted { .. } => Code::FailedPrecondition,
        Error::NotMounted { .. } => Code::NotFound,
        Error::Cancelled => Code::Cancelled,
        Error::Metadata(_) | Error::Io { .. } | Error::Mount(_) => Code::Internal,
        Error::Locked { .. } => Code::FailedPrecondition,
        Error::NotFound(_) => Code::NotFound,
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::Conflict(_) => Code::FailedPrecondition,
        Error::Blocking(..) => Code::Internal,
        Error::NoLocalImage(_) => Code::NotFound,
        Error::PushUnauthorized { .. } | Error::LoginFailed { .. } => Code::Unauthenticated,
        Error::PushDenied { .. } => Code::PermissionDenied,
        Error::SearchUnsupported { .. } => Code::FailedPrecondition,
    }
}

fn distribution_code(d: &D) -> Code {
    match d {
        D::InvalidReference { .. } | D::InvalidPlatform { .. } | D::InvalidMirror { .. } => {
            Code::InvalidArgument
        }
        D::Unreachable { .. } => Code::Unavailable,
        D::Unauthorized { .. } => Code::Unauthenticated,
        D::Denied { .. } => Code::PermissionDenied,
        D::ManifestNotFound { .. } | D::BlobNotFound { .. } => Code::NotFound,
        D::NoMatchingPlatform { .. } | D::PlatformMismatch { .. } => Code::NotFound,
        D::ManifestTooLarge { .. } | D::BlobTooLarge { .. } => Code::ResourceExhausted,
        D::UnsupportedMediaType { .. } | D::InvalidManifest { .. } => Code::InvalidArgument,
        D::DigestMismatch { .. } | D::SizeMismatch { .. } => Code::DataLoss,
        D::Protocol { .. } => Code::Unavailable,
        D::Config { .. } => Code::InvalidArgument,
        // The host's setup (a missing or broken helper), not the request, is at fault.
        D::CredentialHelper { .. } => Code::FailedPrecondition,
    }
}

fn unpack_code(u: &U) -> Code {
    match u {
        U::Escape { .. }
        | U::InvalidEntry { .. }
        | U::BareWhiteout { .. }
        | U::PathTooLong { .. }
        | U::PathTooDeep { .. }
        | U::UnsupportedEntry { .. }
        | U::Tar { .. } => Code::InvalidArgument,
        U::TooManyEntries { .. } | U::NoSpace { .. } => Code::ResourceExhausted,
        U::Io { .. } => Code::Internal,
    }
}
