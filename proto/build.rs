//! Compiles every contract under `ferry/` into OUT_DIR; nothing generated is committed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "ferry/images/v1/images.proto",
        "ferry/containers/v1/containers.proto",
        "ferry/shim/v1/shim.proto",
        "ferry/networks/v1/networks.proto",
        "ferry/system/v1/system.proto",
        "ferry/volumes/v1/volumes.proto",
        "ferry/events/v1/events.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&protos, &["."])?;
    Ok(())
}
