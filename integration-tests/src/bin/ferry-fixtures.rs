//! Builds fixture images in code (from the host's busybox-static, or Debian packages' files) and
//! pushes them to a registry: the demo's way to seed a local registry without downloading
//! anything, and the conformance run's.
//!
//! `ferry-fixtures push busybox 127.0.0.1:5000 library/busybox:latest`
//! `ferry-fixtures push-many 1000 127.0.0.1:5000 bench/many` (tags 0..N: distinct images that
//! share the busybox layer; for bench/images.sh)
//! `ferry-fixtures push-critest 127.0.0.1:5000` (every image critest pulls; `--help`)
//! `ferry-fixtures push-critest --print-mirrors` (the registries ferryd must mirror to it)

use ferry_integration_tests::fixtures::critest::{self, CRITEST_REGISTRIES, UNREPRODUCIBLE};
use ferry_integration_tests::fixtures::{self, Compression, ImageBuilder, ManifestFormat};
use serde_json::json;

const USAGE: &str =
    "usage: ferry-fixtures push busybox|multi-layer|zstd REGISTRY REPO:TAG\n       \
ferry-fixtures push-many N REGISTRY REPO\n       \
ferry-fixtures push-critest REGISTRY | --print-mirrors | --help";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["push-many", n, addr, repo] => push_many(n, addr, repo),
        ["push-critest", "--help" | "-h"] => print!("{}", critest_help()),
        ["push-critest", "--print-mirrors"] => println!("{}", CRITEST_REGISTRIES.join("\n")),
        ["push-critest", addr] if !addr.starts_with('-') => push_critest(addr),
        ["push", name, addr, reference] => push(name, addr, reference),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn push(name: &str, addr: &str, reference: &str) {
    let image = match name {
        "busybox" => fixtures::busybox(),
        "multi-layer" => fixtures::multi_layer(),
        "zstd" => fixtures::zstd(),
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

fn push_critest(addr: &str) {
    for (path, digest) in critest::push_critest(addr) {
        println!("pushed {addr}/{path} {digest}");
    }
}

/// The subcommand's help, naming the registries from the same table the push uses.
fn critest_help() -> String {
    let names: Vec<String> = critest::critest_images()
        .into_iter()
        .map(|(name, _)| format!("  {name}\n"))
        .collect();
    format!(
        "ferry-fixtures push-critest REGISTRY\n\n\
         Builds every image critest v1.36 pulls from Debian packages' files (downloaded by\n\
         scripts/setup.sh) and pushes each to the plain-HTTP registry REGISTRY (HOST:PORT)\n\
         under its repository path, without the registry host: registry.k8s.io/pause:3.9 is\n\
         REGISTRY/pause:3.9. ferryd must mirror each of these registries to REGISTRY:\n\n  {}\n\n\
         (`--print-mirrors` prints them one a line, for scripts:\n  \
         for r in $(ferry-fixtures push-critest --print-mirrors); do\n    \
         flags+=(--registry-mirror \"$r=http://REGISTRY\"); done)\n\n\
         The names:\n{}\nNot reproducible offline (skip the spec that pulls it):\n  {}\n",
        CRITEST_REGISTRIES.join("\n  "),
        names.concat(),
        UNREPRODUCIBLE.join("\n  ")
    )
}
