//! Ferry's gRPC contracts. Each package is versioned (`ferry.images.v1`,
//! `ferry.containers.v1`, `ferry.networks.v1`, `ferry.system.v1`, `ferry.volumes.v1`, `ferry.events.v1`, `ferry.build.v1`,
//! `ferry.shim.v1`); a breaking change gets a new version
//! beside the old one, never an edit in place.

pub mod build_info;
pub mod chunks;
pub mod docker;

pub mod images {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.images.v1");
    }
}

pub mod containers {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.containers.v1");
    }
}

pub mod networks {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.networks.v1");
    }
}

pub mod system {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.system.v1");
    }
}

pub mod volumes {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.volumes.v1");
    }
}

pub mod events {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.events.v1");
    }
}

pub mod build {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.build.v1");
    }
}

pub mod shim {
    #[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("ferry.shim.v1");
    }
}
