//! What a binary of this workspace was built from, for `ferry version` (the CLI's Client
//! section, ferryd's Server section). Each binary reports its own copy, so a client and a daemon
//! built apart show their own builds.
//!
//! The commit and the build time are not read from git or the clock here: a build that wants
//! them (a release, a package) sets `FERRY_GIT_COMMIT` and `FERRY_BUILD_TIME`, which keeps a
//! plain `cargo build` reproducible. Unset, `version` leaves those lines out.

/// The workspace's version ("0.1.0"), shared by every crate.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The contract version the binaries speak: the `v1` of `ferry.*.v1`.
pub const API_VERSION: &str = "1";

/// The rustc that built this crate ("1.95.0"; empty if the build script could not ask it).
pub const RUST_VERSION: &str = env!("FERRY_RUSTC_VERSION");

/// `FERRY_GIT_COMMIT` at build time, if set.
pub const GIT_COMMIT: Option<&str> = option_env!("FERRY_GIT_COMMIT");

/// `FERRY_BUILD_TIME` at build time, if set (free text, e.g. Docker's "Wed Feb 26 10:41:08 2025").
pub const BUILD_TIME: Option<&str> = option_env!("FERRY_BUILD_TIME");

/// The build target's OS and architecture with Go's names, as Docker prints `OS/Arch`:
/// `linux/amd64`, not `linux/x86_64`.
pub fn go_os_arch() -> (&'static str, &'static str) {
    (std::env::consts::OS, go_arch(std::env::consts::ARCH))
}

/// Rust's architecture name as Go's `GOARCH`.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_take_go_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("s390x"), "s390x");
        assert_eq!(go_os_arch().0, "linux");
    }

    #[test]
    fn the_compiler_version_is_recorded() {
        assert!(RUST_VERSION.starts_with("1."), "{RUST_VERSION:?}");
    }
}
