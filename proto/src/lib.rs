//! Ferry's gRPC contracts. Each package is versioned (`ferry.images.v1`,
//! `ferry.containers.v1`, `ferry.shim.v1`); a breaking change gets a new version
//! beside the old one, never an edit in place.

#![allow(missing_debug_implementations, unreachable_pub)]
#![allow(clippy::all)]

pub mod images {
    pub mod v1 {
        tonic::include_proto!("ferry.images.v1");
    }
}

pub mod containers {
    pub mod v1 {
        tonic::include_proto!("ferry.containers.v1");
    }
}

pub mod networks {
    pub mod v1 {
        tonic::include_proto!("ferry.networks.v1");
    }
}

pub mod shim {
    pub mod v1 {
        tonic::include_proto!("ferry.shim.v1");
    }
}
