//! Builds a fixture image in code (from the host's busybox-static) and pushes it to a registry:
//! the demo's way to seed a local registry without downloading anything.
//!
//! `ferry-fixtures push busybox 127.0.0.1:5000 library/busybox:latest`

use ferry_integration_tests::fixtures;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [verb, name, addr, reference] = args.as_slice() else {
        eprintln!("usage: ferry-fixtures push busybox|multi-layer|zstd REGISTRY REPO:TAG");
        std::process::exit(2);
    };
    let image = match (verb.as_str(), name.as_str()) {
        ("push", "busybox") => fixtures::busybox(),
        ("push", "multi-layer") => fixtures::multi_layer(),
        ("push", "zstd") => fixtures::zstd(),
        _ => {
            eprintln!("unknown fixture {name:?}");
            std::process::exit(2);
        }
    };
    let digest = image.push(addr, reference);
    println!("pushed {addr}/{reference} {digest}");
}
