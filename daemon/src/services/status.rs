//! ferryd's errors to gRPC status codes, in one exhaustive match at every level: the image
//! service's own match for its errors, the network crate's here, the container domain's here.
//! A spec bug or a local I/O error is Internal (and logged); a bad user value InvalidArgument.

use ferry_image_service::services::{code_of as image_code, status_with};
use ferry_network::Error as N;
use tonic::{Code, Status};

use crate::build::BuildError as B;
use crate::containers::spec::SpecError as S;
use crate::error::Error;

pub fn to_status(err: &Error) -> Status {
    status_with(code_of(err), err)
}

pub fn code_of(err: &Error) -> Code {
    match err {
        Error::Image(e) => image_code(e),
        Error::Network(n) => network_code(n),
        Error::Spec(s) => spec_code(s),
        Error::Build(b) => build_code(b),
        Error::ContainerNotFound(_) | Error::NotFound(_) => Code::NotFound,
        Error::AmbiguousContainer { .. } | Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::NameInUse { .. } | Error::Conflict(_) => Code::FailedPrecondition,
        Error::StartFailed { .. } => Code::FailedPrecondition,
        Error::Shim(status) => status.code(),
        Error::ShimLaunch(_) | Error::ShimGone(_) | Error::Blocking(..) | Error::Io { .. } => {
            Code::Internal
        }
        Error::ShuttingDown => Code::Unavailable,
        Error::NoSpace { .. } => Code::ResourceExhausted,
        Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
    }
}

fn network_code(n: &N) -> Code {
    match n {
        N::InvalidArgument(_) => Code::InvalidArgument,
        N::Conflict(_) => Code::FailedPrecondition,
        N::NotFound(_) => Code::NotFound,
        N::Plugin(_) | N::Record(_) | N::Io { .. } => Code::Internal,
        N::NoSpace { .. } => Code::ResourceExhausted,
    }
}

fn build_code(b: &B) -> Code {
    match b {
        B::Dockerfile { .. }
        | B::Expansion { .. }
        | B::OutsideContext { .. }
        | B::UnknownTarget(_)
        | B::Invalid(_) => Code::InvalidArgument,
        B::SourceNotFound { .. } => Code::NotFound,
        B::RunFailed { .. } => Code::FailedPrecondition,
        B::Unsupported { .. } => Code::Unimplemented,
        B::Cancelled => Code::Cancelled,
    }
}

fn spec_code(s: &S) -> Code {
    match s {
        S::NoCommand
        | S::UnknownUser { .. }
        | S::UnknownGroup { .. }
        | S::InvalidUser { .. }
        | S::InvalidCapability { .. }
        | S::InvalidMount { .. }
        | S::InvalidWorkdir { .. }
        | S::InvalidResource { .. }
        | S::InvalidSeccomp { .. }
        | S::InvalidDevice { .. }
        | S::InitNotConfigured => Code::InvalidArgument,
        S::Io { .. } | S::Oci(_) => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shim_code_survives_the_daemon() {
        let e = Error::Shim(Status::failed_precondition("container is not running"));
        let s = to_status(&e);
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.message(), "shim: container is not running");
    }

    #[test]
    fn wrapped_errors_keep_their_crate_codes() {
        let img = Error::Image(ferry_image_service::Error::ImageNotFound("x".into()));
        assert_eq!(code_of(&img), Code::NotFound);
        let net = Error::Network(N::Conflict("network in use".into()));
        assert_eq!(code_of(&net), Code::FailedPrecondition);
        assert_eq!(
            code_of(&Error::Blocking("stats", "panic".into())),
            Code::Internal
        );
        assert_eq!(code_of(&Error::Spec(S::NoCommand)), Code::InvalidArgument);
    }
}
