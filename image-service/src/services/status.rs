//! Domain errors to gRPC status codes, in one exhaustive match: a new variant cannot ship
//! without a code. Internal errors are logged here; messages are capped.

use tonic::{Code, Status};

use crate::distribution::DistributionError as D;
use crate::error::Error;
use crate::unpack::UnpackError as U;

const MAX_MESSAGE: usize = 4096;

pub fn to_status(err: &Error) -> Status {
    let code = code_of(err);
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

fn code_of(err: &Error) -> Code {
    match err {
        Error::Distribution(d) => distribution_code(d),
        Error::Unpack(u) => unpack_code(u),
        Error::ImageNotFound(_) => Code::NotFound,
        Error::AmbiguousImage { .. } => Code::InvalidArgument,
        Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => Code::DataLoss,
        Error::TooLarge { .. } | Error::NoSpace { .. } => Code::ResourceExhausted,
        Error::InvalidConfig { .. } | Error::InvalidArchive(_) => Code::InvalidArgument,
        Error::UnsupportedLayer { .. } => Code::InvalidArgument,
        Error::ImageMounted { .. } => Code::FailedPrecondition,
        Error::NotMounted { .. } => Code::NotFound,
        Error::Cancelled => Code::Cancelled,
        Error::Metadata(_) | Error::Io { .. } | Error::Mount(_) => Code::Internal,
        Error::Locked { .. } => Code::FailedPrecondition,
        Error::ContainerNotFound(_) | Error::NotFound(_) => Code::NotFound,
        Error::AmbiguousContainer { .. } | Error::InvalidArgument(_) | Error::Spec(_) => {
            Code::InvalidArgument
        }
        Error::NameInUse { .. } | Error::Conflict(_) => Code::FailedPrecondition,
        Error::StartFailed { .. } => Code::FailedPrecondition,
        Error::Shim(_) | Error::ShimGone(_) | Error::Network(_) => Code::Internal,
        Error::NoLocalImage(_) => Code::NotFound,
        Error::PushUnauthorized { .. } | Error::LoginFailed { .. } => Code::Unauthenticated,
        Error::PushDenied { .. } => Code::PermissionDenied,
        Error::SearchUnsupported { .. } => Code::FailedPrecondition,
    }
}

fn distribution_code(d: &D) -> Code {
    match d {
        D::InvalidReference { .. } | D::InvalidPlatform { .. } => Code::InvalidArgument,
        D::Unreachable { .. } => Code::Unavailable,
        D::Unauthorized { .. } => Code::Unauthenticated,
        D::Denied { .. } => Code::PermissionDenied,
        D::ManifestNotFound { .. } | D::BlobNotFound { .. } => Code::NotFound,
        D::NoMatchingPlatform { .. } => Code::NotFound,
        D::ManifestTooLarge { .. } | D::BlobTooLarge { .. } => Code::ResourceExhausted,
        D::UnsupportedMediaType { .. } | D::InvalidManifest { .. } => Code::InvalidArgument,
        D::DigestMismatch { .. } | D::SizeMismatch { .. } => Code::DataLoss,
        D::Protocol { .. } => Code::Unavailable,
        D::Config { .. } => Code::InvalidArgument,
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
