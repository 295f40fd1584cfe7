//! Compiles every contract under `ferry/` into OUT_DIR; nothing generated is committed. Also
//! records the compiler's version for `build_info` (cargo rebuilds when rustc changes).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "ferry/images/v1/images.proto",
        "ferry/containers/v1/containers.proto",
        "ferry/shim/v1/shim.proto",
        "ferry/networks/v1/networks.proto",
        "ferry/system/v1/system.proto",
        "ferry/volumes/v1/volumes.proto",
        "ferry/events/v1/events.proto",
        "ferry/build/v1/build.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rustc-env=FERRY_RUSTC_VERSION={}", rustc_version());
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&protos, &["."])?;
    Ok(())
}

/// "1.95.0" from `$RUSTC --version` ("rustc 1.95.0 (59807616e 2026-04-14)"); empty if unknown.
fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(String::from))
        .unwrap_or_default()
}
