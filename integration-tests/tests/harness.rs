//! Tests of the harness itself, against a real `docker-registry`.

use std::io::Read;
use std::time::Duration;

use ferry_integration_tests::fixtures::{self, RegistryClient};
use ferry_integration_tests::http::Request;
use ferry_integration_tests::{sha256_digest, Compression, FaultProxy, Image, Index, Registry};

fn all_images() -> Vec<(&'static str, Image)> {
    vec![
        ("busybox", fixtures::busybox()),
        ("uncompressed", fixtures::uncompressed()),
        ("multi-layer", fixtures::multi_layer()),
        ("zstd", fixtures::zstd()),
        ("sharing-base", fixtures::sharing_base()),
        ("special-files", fixtures::special_files()),
        ("traversal", fixtures::traversal()),
        ("symlink-escape", fixtures::symlink_escape()),
        ("hardlink-escape", fixtures::hardlink_escape()),
        ("lying-diff-id", fixtures::lying_diff_id()),
    ]
}

fn all_indexes() -> Vec<(&'static str, Index)> {
    vec![
        ("two-platform", fixtures::two_platform()),
        ("two-platform-docker", fixtures::two_platform_docker()),
    ]
}

fn assert_manifest_served(
    client: &RegistryClient,
    repo: &str,
    reference: &str,
    want: &[u8],
    media_type: &str,
) {
    let resp = client.get_manifest(repo, reference);
    assert_eq!(resp.status, 200, "{repo}:{reference}: {}", resp.text());
    assert_eq!(
        resp.header("Docker-Content-Digest"),
        Some(sha256_digest(want).as_str())
    );
    assert_eq!(resp.header("Content-Type"), Some(media_type));
    assert_eq!(resp.body, want, "{repo}:{reference} manifest bytes differ");
}

fn assert_blobs_served(client: &RegistryClient, repo: &str, image: &Image) {
    for (digest, bytes) in image.blobs() {
        let resp = client.get_blob(repo, digest);
        assert_eq!(resp.status, 200, "{repo} blob {digest}");
        assert!(resp.complete);
        assert_eq!(sha256_digest(&resp.body), digest);
        assert_eq!(resp.body, bytes);
    }
}

#[test]
fn every_image_fixture_round_trips_through_the_registry() {
    let registry = Registry::start();
    let client = RegistryClient::new(&registry.addr());
    for (name, image) in all_images() {
        let repo = format!("fx/{name}");
        let pushed = image.push(&registry.addr(), &format!("{repo}:v1"));
        assert_eq!(pushed, image.manifest_digest);
        assert_manifest_served(
            &client,
            &repo,
            "v1",
            &image.manifest,
            &image.manifest_media_type,
        );
        assert_manifest_served(
            &client,
            &repo,
            &image.manifest_digest,
            &image.manifest,
            &image.manifest_media_type,
        );
        assert_blobs_served(&client, &repo, &image);
    }
}

#[test]
fn index_fixtures_round_trip_with_their_children() {
    let registry = Registry::start();
    let client = RegistryClient::new(&registry.addr());
    for (name, index) in all_indexes() {
        let repo = format!("fx/{name}");
        assert_eq!(
            index.push(&registry.addr(), &format!("{repo}:multi")),
            index.manifest_digest
        );
        assert_manifest_served(
            &client,
            &repo,
            "multi",
            &index.manifest,
            &index.manifest_media_type,
        );
        assert_eq!(index.images.len(), 2);
        for image in &index.images {
            assert_manifest_served(
                &client,
                &repo,
                &image.manifest_digest,
                &image.manifest,
                &image.manifest_media_type,
            );
            assert_blobs_served(&client, &repo, image);
        }
        let index_json: serde_json::Value =
            serde_json::from_slice(&index.manifest).expect("index JSON");
        let arches: Vec<&str> = index_json["manifests"]
            .as_array()
            .expect("manifests array")
            .iter()
            .map(|m| {
                m["platform"]["architecture"]
                    .as_str()
                    .expect("architecture")
            })
            .collect();
        assert_eq!(
            arches,
            vec![fixtures::host_arch(), fixtures::foreign_arch()]
        );
    }
}

#[test]
fn fixtures_are_deterministic() {
    let (a, b) = (fixtures::busybox(), fixtures::busybox());
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.config_digest, b.config_digest);
    assert_eq!(a.layer_digests(), b.layer_digests());
    // Bypass the per-process layer cache: rebuilding from scratch is identical too.
    let fresh = fixtures::busybox_layer_builder().finish(Compression::Gzip);
    assert_eq!(fresh.digest, a.layers[0].digest);
    assert_eq!(fresh.diff_id, a.layers[0].diff_id);
    let zstd_again = fixtures::busybox_layer_builder().finish(Compression::Zstd);
    assert_eq!(zstd_again.digest, fixtures::zstd().layers[0].digest);
    assert_eq!(
        fixtures::two_platform().manifest_digest,
        fixtures::two_platform().manifest_digest
    );
}

#[test]
fn digests_and_chain_ids_are_consistent() {
    let image = fixtures::multi_layer();
    for layer in &image.layers {
        assert_eq!(layer.digest, sha256_digest(&layer.blob));
        assert_eq!(layer.diff_id, sha256_digest(&layer.tar_bytes));
        assert_eq!(flate2_gunzip(&layer.blob), layer.tar_bytes);
    }
    let chain = image.chain_ids();
    assert_eq!(chain[0], image.layers[0].diff_id);
    let second = sha256_digest(format!("{} {}", chain[0], image.layers[1].diff_id).as_bytes());
    assert_eq!(chain[1], second);
    assert_eq!(image.id(), sha256_digest(&image.config));
    let config = image.config_json();
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(image.diff_ids())
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    // zstd(): same content, so same diff IDs / chain IDs, different blobs.
    let zstd = fixtures::zstd();
    assert_eq!(zstd.chain_ids(), chain);
    assert_ne!(zstd.layer_digests(), image.layer_digests());
    assert_eq!(
        zstd::decode_all(zstd.layers[1].blob.as_slice()).expect("zstd"),
        zstd.layers[1].tar_bytes
    );
}

fn flate2_gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

#[test]
fn sharing_base_reuses_busybox_layer_and_push_skips_it() {
    let base = fixtures::busybox();
    let shared = fixtures::sharing_base();
    assert_eq!(shared.layers[0].blob, base.layers[0].blob);
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.addr());
    base.push(&proxy.addr(), "shared/app:base");
    proxy.clear_requests();
    shared.push(&proxy.addr(), "shared/app:web");
    let uploads = proxy.count_matching("POST", |p| p.ends_with("/blobs/uploads/"));
    assert_eq!(
        uploads,
        2,
        "only config and own layer are uploaded: {:?}",
        proxy.requests()
    );
}

#[test]
fn lying_diff_id_lies_only_in_the_config() {
    let image = fixtures::lying_diff_id();
    let claimed = image.config_json()["rootfs"]["diff_ids"][0].clone();
    assert_eq!(claimed, serde_json::json!(sha256_digest(b"lie")));
    assert_eq!(
        image.layers[0].diff_id,
        fixtures::busybox().layers[0].diff_id
    );
}

/// `(raw name, raw link name, entry type)` of every entry of a layer.
fn entries(tar_bytes: &[u8]) -> Vec<(String, String, tar::EntryType)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .expect("tar entries")
        .map(|e| {
            let e = e.expect("tar entry");
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (name, link, e.header().entry_type())
        })
        .collect()
}

#[test]
fn hostile_layers_carry_their_raw_entries() {
    let trav = entries(&fixtures::traversal().layers[1].tar_bytes);
    assert!(trav.iter().any(|(n, _, _)| n == "../../escape"), "{trav:?}");
    assert!(trav.iter().any(|(n, _, _)| n == "/abs-escape"), "{trav:?}");
    let sym = entries(&fixtures::symlink_escape().layers[1].tar_bytes);
    assert!(
        sym.contains(&("a".into(), "/".into(), tar::EntryType::Symlink)),
        "{sym:?}"
    );
    assert!(
        sym.contains(&("b".into(), "../../..".into(), tar::EntryType::Symlink)),
        "{sym:?}"
    );
    assert!(sym.iter().any(|(n, _, _)| n == "a/etc/owned"));
    let hard = entries(&fixtures::hardlink_escape().layers[1].tar_bytes);
    assert!(
        hard.contains(&(
            "evil_passwd".into(),
            "/etc/passwd".into(),
            tar::EntryType::Link
        )),
        "{hard:?}"
    );
    assert!(
        hard.contains(&("evil_up".into(), "../../x".into(), tar::EntryType::Link)),
        "{hard:?}"
    );
}

#[test]
fn layer_builder_writes_special_entries() {
    let base = entries(&fixtures::busybox().layers[0].tar_bytes);
    assert!(base.contains(&("bin/sh".into(), "bin/busybox".into(), tar::EntryType::Link)));
    assert!(base.contains(&(
        "usr/bin/env".into(),
        "/bin/env".into(),
        tar::EntryType::Symlink
    )));
    let overlay = entries(&fixtures::overlay_layer(Compression::None).tar_bytes);
    assert!(
        overlay.iter().any(|(n, _, _)| n == "etc/.wh.issue"),
        "{overlay:?}"
    );
    assert!(
        overlay.iter().any(|(n, _, _)| n == "opt/app/.wh..wh..opq"),
        "{overlay:?}"
    );
    let special = &fixtures::special_files().layers[1].tar_bytes;
    let mut archive = tar::Archive::new(special.as_slice());
    let mut found_xattr = false;
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        match name.as_str() {
            "special/null" => {
                assert_eq!(entry.header().entry_type(), tar::EntryType::Char);
                assert_eq!(entry.header().device_major().expect("major"), Some(1));
                assert_eq!(entry.header().device_minor().expect("minor"), Some(3));
            }
            "special/fifo" => assert_eq!(entry.header().entry_type(), tar::EntryType::Fifo),
            "special/setuid" => assert_eq!(entry.header().mode().expect("mode"), 0o4755),
            "special/xattr" => {
                let pax = entry
                    .pax_extensions()
                    .expect("pax")
                    .expect("has pax header");
                let ext: Vec<_> = pax.map(|e| e.expect("pax record")).collect();
                assert_eq!(ext[0].key().expect("key"), "SCHILY.xattr.user.ferry");
                assert_eq!(ext[0].value_bytes(), b"1");
                found_xattr = true;
            }
            _ => {}
        }
    }
    assert!(found_xattr);
}

#[test]
fn proxy_forwards_blobs_faithfully_and_counts_them() {
    let registry = Registry::start();
    let image = fixtures::busybox();
    image.push(&registry.addr(), "p/busybox:latest");
    let proxy = FaultProxy::start(&registry.addr());
    let client = RegistryClient::new(&proxy.addr());
    let layer = &image.layers[0];
    assert_eq!(proxy.count_blob_gets(&layer.digest), 0);
    let resp = client.get_blob("p/busybox", &layer.digest);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, layer.blob);
    assert_eq!(resp.header("Connection"), Some("close"));
    client.get_blob("p/busybox", &layer.digest);
    assert_eq!(proxy.count_blob_gets(&layer.digest), 2);
    assert_eq!(proxy.count_blob_gets(&image.config_digest), 0);
    assert_manifest_served(
        &client,
        "p/busybox",
        "latest",
        &image.manifest,
        &image.manifest_media_type,
    );
    assert!(
        proxy
            .requests()
            .contains(&"GET /v2/p/busybox/manifests/latest".to_owned()),
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn drop_after_cuts_transfers_and_range_resumes_them() {
    let registry = Registry::start();
    let image = fixtures::busybox();
    image.push(&registry.addr(), "p/busybox:latest");
    let proxy = FaultProxy::start(&registry.addr());
    let layer = &image.layers[0];
    let path = format!("/v2/p/busybox/blobs/{}", layer.digest);
    proxy.drop_after(&layer.digest, 1000, 1);
    let cut = Request::get(&path)
        .send(&proxy.addr())
        .expect("GET through proxy");
    assert_eq!(cut.status, 200);
    assert!(!cut.complete);
    assert_eq!(cut.body, layer.blob[..1000]);
    let rest = Request::get(&path)
        .header("Range", &format!("bytes={}-", cut.body.len()))
        .send(&proxy.addr())
        .expect("Range GET through proxy");
    assert_eq!(rest.status, 206, "{:?}", rest.headers);
    assert!(rest.complete);
    let mut whole = cut.body.clone();
    whole.extend_from_slice(&rest.body);
    assert_eq!(sha256_digest(&whole), layer.digest);
    // `times` was 1: the next full GET succeeds.
    let again = Request::get(&path)
        .send(&proxy.addr())
        .expect("GET through proxy");
    assert!(again.complete);
    assert_eq!(again.body, layer.blob);
    assert_eq!(proxy.count_blob_gets(&layer.digest), 3);
}

#[test]
fn corrupt_flips_exactly_one_byte() {
    let registry = Registry::start();
    let image = fixtures::busybox();
    image.push(&registry.addr(), "p/busybox:latest");
    let proxy = FaultProxy::start(&registry.addr());
    let layer = &image.layers[0];
    proxy.corrupt(&layer.digest);
    let resp = RegistryClient::new(&proxy.addr()).get_blob("p/busybox", &layer.digest);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), layer.blob.len());
    let diffs: Vec<usize> = (0..layer.blob.len())
        .filter(|&i| resp.body[i] != layer.blob[i])
        .collect();
    assert_eq!(diffs, vec![layer.blob.len() / 2]);
    assert_ne!(sha256_digest(&resp.body), layer.digest);
    // The registry answers the true digest header, only the bytes lie.
    assert_eq!(
        resp.header("Docker-Content-Digest"),
        Some(layer.digest.as_str())
    );
    proxy.clear_faults();
    let clean = RegistryClient::new(&proxy.addr()).get_blob("p/busybox", &layer.digest);
    assert_eq!(clean.body, layer.blob);
}

#[test]
fn stall_sends_headers_then_nothing() {
    let registry = Registry::start();
    let image = fixtures::busybox();
    image.push(&registry.addr(), "p/busybox:latest");
    let proxy = FaultProxy::start(&registry.addr());
    let layer = &image.layers[0];
    proxy.stall(&layer.digest);
    let resp = Request::get(&format!("/v2/p/busybox/blobs/{}", layer.digest))
        .timeout(Duration::from_millis(500))
        .send(&proxy.addr())
        .expect("headers arrive");
    assert_eq!(resp.status, 200);
    assert!(!resp.complete);
    assert!(resp.body.is_empty());
}

#[test]
fn proxy_serves_oversized_manifests_the_registry_refuses() {
    let registry = Registry::start();
    let image = fixtures::busybox();
    image.push(&registry.addr(), "big/one:small");
    let big = image.padded_manifest(5 << 20);
    assert_eq!(big.len(), 5 << 20);
    let media_type = image.manifest_media_type.as_str();
    let put = fixtures::put_raw_manifest(&registry.addr(), "big/one", "latest", media_type, &big);
    assert_eq!(put.status, 400);
    assert!(
        put.text().contains("request body too large"),
        "{}",
        put.text()
    );
    let proxy = FaultProxy::start(&registry.addr());
    proxy.serve_manifest("/v2/big/one/manifests/latest", media_type, big.clone());
    let resp = RegistryClient::new(&proxy.addr()).get_manifest("big/one", "latest");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, big);
    assert_eq!(resp.header("Content-Type"), Some(media_type));
    assert_eq!(
        resp.header("Docker-Content-Digest"),
        Some(sha256_digest(&big).as_str())
    );
    proxy.replace_manifest("/v2/big/two/manifests/latest", media_type, 6 << 20);
    let generated = RegistryClient::new(&proxy.addr()).get_manifest("big/two", "latest");
    assert_eq!(generated.body.len(), 6 << 20);
    serde_json::from_slice::<serde_json::Value>(&generated.body).expect("padded manifest is JSON");
    // Other manifests still come from the registry.
    let small = RegistryClient::new(&proxy.addr()).get_manifest("big/one", "small");
    assert_eq!(small.body, image.manifest);
}

#[test]
fn registry_refuses_schema1_and_unknown_media_types() {
    let registry = Registry::start();
    let image = fixtures::busybox();
    image.push(&registry.addr(), "odd/one:base");
    let schema1 = br#"{"schemaVersion":1,"name":"odd/one","tag":"s1","architecture":"amd64","fsLayers":[],"history":[]}"#;
    let odd: [(&str, &[u8]); 3] = [
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            schema1,
        ),
        ("application/vnd.example.unknown+json", &image.manifest),
        // Content-Type disagreeing with the body's mediaType.
        (
            "application/vnd.oci.image.manifest.v1+json",
            &image.manifest,
        ),
    ];
    for (content_type, body) in odd {
        let resp = fixtures::put_raw_manifest(&registry.addr(), "odd/one", "x", content_type, body);
        assert_eq!(resp.status, 400, "{content_type}: {}", resp.text());
    }
}

#[test]
fn registry_with_auth_requires_credentials() {
    let registry = Registry::start_with_auth("ferry", "s3cret");
    let anonymous = Request::get("/v2/")
        .send(&registry.addr())
        .expect("GET /v2/");
    assert_eq!(anonymous.status, 401);
    assert!(anonymous
        .header("WWW-Authenticate")
        .is_some_and(|v| v.starts_with("Basic")));
    let image = fixtures::busybox();
    let auth = registry.authorization();
    image.push_with_auth(&registry.addr(), "private/busybox:1", auth.clone());
    let client = RegistryClient::new(&registry.addr()).with_authorization(auth);
    assert_manifest_served(
        &client,
        "private/busybox",
        "1",
        &image.manifest,
        &image.manifest_media_type,
    );
    let wrong = Request::get("/v2/")
        .header(
            "Authorization",
            &ferry_integration_tests::registry::basic_auth("ferry", "nope"),
        )
        .send(&registry.addr())
        .expect("GET /v2/");
    assert_eq!(wrong.status, 401);
}
