//! Builds a fixture image in code (from the host's busybox-static) and pushes it to a registry:
//! the demo's way to seed a local registry without downloading anything.
//!
//! `ferry-fixtures push busybox 127.0.0.1:5000 library/busybox:latest`
//! `ferry-fixtures push-many 1000 127.0.0.1:5000 bench/many` (tags 0..N: distinct images that
//! share the busybox layer; for bench/images.sh)

use ferry_integration_tests::fixtures::{self, Compression, ImageBuilder, ManifestFormat};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [verb, n, addr, repo] = args.as_slice() {
        if verb == "push-many" {
            push_many(n, addr, repo);
            return;
        }
    }
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

fn push_many(n: &str, addr: &str, repo: &str) {
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("push-many: {n:?} is not a count");
        std::process::exit(2);
    };
    let base = fixtures::busybox_layer(Compression::Gzip);
    for i in 0..n {
        let image = ImageBuilder::new(ManifestFormat::Docker)
            .layer(base.clone())
            .config_field("Labels", json!({ "bench.n": i.to_string() }))
            .build();
        image.push(addr, &format!("{repo}:{i}"));
    }
    println!("pushed {n} images to {addr}/{repo}");
}
