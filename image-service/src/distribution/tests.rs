//! Client tests against a real registry (Debian's `docker-registry`), a
//! byte-cutting TCP proxy and a tiny hostile HTTP responder.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const LAYER_SIZE: usize = 300_000;

/// A `docker-registry` child process on a free loopback port.
struct TestRegistry {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn start_registry() -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("config.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
        dir.path().join("data").display()
    );
    std::fs::write(&config, yaml).unwrap();
    let child = Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let registry = TestRegistry {
        child,
        addr,
        _dir: dir,
    };
    let url = format!("http://{addr}/v2/");
    for _ in 0..200 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return registry;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("registry did not start on {addr}");
}

/// A pushed image: its layer and config descriptors and manifest digest.
struct Pushed {
    layer: Vec<u8>,
    layer_desc: Descriptor,
    config_desc: Descriptor,
    manifest_digest: String,
}

async fn push_blob(base: &str, repo: &str, data: &[u8]) -> String {
    let http = reqwest::Client::new();
    let digest = sha256_digest(data);
    let resp = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let resp = http
        .put(format!("{location}{sep}digest={digest}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    digest
}

async fn push_manifest(base: &str, repo: &str, tag: &str, media_type: &str, body: &[u8]) {
    let resp = reqwest::Client::new()
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

fn descriptor(media_type: &str, data: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: sha256_digest(data),
        size: data.len() as u64,
        platform: None,
        urls: vec![],
    }
}

/// Pushes a one-layer OCI image as `repo:tag`.
async fn push_image(addr: SocketAddr, repo: &str, tag: &str) -> Pushed {
    let base = format!("http://{addr}");
    let layer: Vec<u8> = (0..LAYER_SIZE).map(|i| (i * 7 % 251) as u8).collect();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    push_blob(&base, repo, &layer).await;
    push_blob(&base, repo, config).await;
    let layer_desc = descriptor("application/vnd.oci.image.layer.v1.tar", &layer);
    let config_desc = descriptor("application/vnd.oci.image.config.v1+json", config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_desc.media_type, "digest": config_desc.digest, "size": config_desc.size},
        "layers": [{"mediaType": layer_desc.media_type, "digest": layer_desc.digest, "size": layer_desc.size}],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    push_manifest(&base, repo, tag, OCI_MANIFEST, &manifest).await;
    Pushed {
        layer,
        layer_desc,
        config_desc,
        manifest_digest: sha256_digest(&manifest),
    }
}

fn test_client() -> RegistryClient {
    client_with_mirrors(&[])
}

/// [`test_client`] with `--registry-mirror` values.
fn client_with_mirrors(flags: &[&str]) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        insecure: vec![],
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        rate_floor: RateFloor::default(),
        max_retries: 2,
        retry_backoff: Duration::from_millis(10),
        mirrors: flags.iter().map(|f| Mirror::parse(f).unwrap()).collect(),
    })
    .unwrap()
}

fn reference(addr: SocketAddr, rest: &str) -> Reference {
    Reference::parse(&format!("{addr}/{rest}")).unwrap()
}

/// Collects a blob stream: (data, number of Retrying events) or the error.
async fn collect_blob(
    client: &RegistryClient,
    r: &Reference,
    desc: &Descriptor,
) -> Result<(Vec<u8>, u32), DistributionError> {
    let mut data = Vec::new();
    let mut retries = 0;
    let mut stream = std::pin::pin!(client.blob_stream(r, desc));
    while let Some(chunk) = stream.next().await {
        match chunk? {
            BlobChunk::Data(b) => data.extend_from_slice(&b),
            BlobChunk::Retrying { offset, .. } => {
                assert_eq!(offset, data.len() as u64);
                retries += 1;
            }
        }
    }
    Ok((data, retries))
}

#[tokio::test]
async fn fetches_manifest_config_and_layer_from_a_real_registry() {
    let registry = start_registry().await;
    let pushed = push_image(registry.addr, "test/app", "v1").await;
    let client = test_client();
    let r = reference(registry.addr, "test/app:v1");

    let fetched = client.fetch_manifest(&r).await.unwrap();
    assert_eq!(fetched.digest, pushed.manifest_digest);
    assert_eq!(fetched.media_type, OCI_MANIFEST);
    let Manifest::Image { config, layers, .. } = &fetched.manifest else {
        panic!("expected an image manifest");
    };
    assert_eq!(config, &pushed.config_desc);
    assert_eq!(layers, &vec![pushed.layer_desc.clone()]);

    // By digest, and tag+digest (digest wins).
    let by_digest = client
        .fetch_manifest_by_digest(&r, &pushed.manifest_digest)
        .await
        .unwrap();
    assert_eq!(by_digest.bytes, fetched.bytes);

    let config_bytes = client.fetch_blob_bytes(&r, config, 1 << 20).await.unwrap();
    assert_eq!(sha256_digest(&config_bytes), config.digest);

    let (data, retries) = collect_blob(&client, &r, &pushed.layer_desc).await.unwrap();
    assert_eq!(retries, 0);
    assert!(data == pushed.layer, "layer bytes differ");

    // Error mapping.
    let e = client
        .fetch_manifest(&reference(registry.addr, "test/app:nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DistributionError::ManifestNotFound { .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "manifest for {}/test/app:nope not found: manifest unknown",
            registry.addr
        )
    );
    let mut missing = pushed.layer_desc.clone();
    missing.digest = sha256_digest(b"missing");
    let e = collect_blob(&client, &r, &missing).await.unwrap_err();
    assert!(matches!(e, DistributionError::BlobNotFound { .. }), "{e}");
    let e = client.fetch_blob_bytes(&r, config, 3).await.unwrap_err();
    assert!(matches!(e, DistributionError::BlobTooLarge { .. }), "{e}");
}

/// Manifest, config and layer of `r` all come through `client`, as pushed.
async fn assert_pulls(client: &RegistryClient, r: &Reference, pushed: &Pushed) {
    let fetched = client.fetch_manifest(r).await.unwrap();
    assert_eq!(fetched.digest, pushed.manifest_digest);
    let config = client
        .fetch_blob_bytes(r, &pushed.config_desc, 1 << 20)
        .await
        .unwrap();
    assert_eq!(sha256_digest(&config), pushed.config_desc.digest);
    let (data, _) = collect_blob(client, r, &pushed.layer_desc).await.unwrap();
    assert!(data == pushed.layer, "layer bytes differ");
}

#[tokio::test]
async fn a_registrys_names_are_pulled_through_its_mirror() {
    let mirror = start_registry().await;
    let pushed = push_image(mirror.addr, "pause", "3.9").await;
    // registry.k8s.io itself is never asked: the mirror answers everything.
    let client = client_with_mirrors(&[&format!("registry.k8s.io=http://{}", mirror.addr)]);
    let r = Reference::parse("registry.k8s.io/pause:3.9").unwrap();
    assert_pulls(&client, &r, &pushed).await;
    // Another registry's names are not sent to it.
    let other = Reference::parse("127.0.0.1:1/pause:3.9").unwrap();
    let e = client.fetch_manifest(&other).await.unwrap_err();
    assert!(matches!(e, DistributionError::Unreachable { .. }), "{e}");
}

#[tokio::test]
async fn a_dead_or_incomplete_mirror_falls_back_to_the_next_then_to_the_registry() {
    let origin = start_registry().await;
    let empty = start_registry().await;
    let pushed = push_image(origin.addr, "test/fallback", "v1").await;
    let dead = free_port();
    let registry = origin.addr.to_string();
    let client = client_with_mirrors(&[
        &format!("{registry}=http://127.0.0.1:{dead}"),
        &format!("{registry}=http://{}", empty.addr),
    ]);
    let r = reference(origin.addr, "test/fallback:v1");
    // Refused by the first, 404 from the second (manifest and blobs): the registry serves.
    assert_pulls(&client, &r, &pushed).await;
    // Unknown everywhere: the registry's own answer is the error.
    let e = client
        .fetch_manifest(&reference(origin.addr, "test/fallback:nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DistributionError::ManifestNotFound { .. }),
        "{e}"
    );
}

#[tokio::test]
async fn blob_size_is_enforced() {
    let registry = start_registry().await;
    let pushed = push_image(registry.addr, "test/size", "v1").await;
    let client = test_client();
    let r = reference(registry.addr, "test/size:v1");

    let mut short = pushed.layer_desc.clone();
    short.size -= 1;
    let e = collect_blob(&client, &r, &short).await.unwrap_err();
    assert!(matches!(e, DistributionError::SizeMismatch { .. }), "{e}");

    let mut config = pushed.config_desc.clone();
    config.size += 10;
    let e = client
        .fetch_blob_bytes(&r, &config, 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(e, DistributionError::SizeMismatch { .. }), "{e}");
}

/// Forwards to `target`; the first connection that requests `cut_path` is
/// closed after `cut_after` response bytes. With `strip_range` the `Range`
/// header is renamed, so the registry answers 200 to ranged requests.
async fn spawn_cutting_proxy(
    target: SocketAddr,
    cut_path: String,
    cut_after: u64,
    strip_range: bool,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cut_done = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(target).await.unwrap();
            let cut = Cut {
                path: cut_path.clone(),
                after: cut_after,
                done: cut_done.clone(),
                strip_range,
            };
            tokio::spawn(proxy_connection(client, server, cut));
        }
    });
    addr
}

struct Cut {
    path: String,
    after: u64,
    done: Arc<AtomicBool>,
    strip_range: bool,
}

async fn proxy_connection(client: TcpStream, server: TcpStream, cut: Cut) {
    let cut_after = cut.after;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let armed = Arc::new(AtomicBool::new(false));
    let armed_up = armed.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            let mut text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if cut.strip_range {
                text = text.replace("range: ", "x-no-range: ");
            }
            if n == 0 || sw.write_all(text.as_bytes()).await.is_err() {
                break;
            }
            if text.contains(&cut.path) && !cut.done.swap(true, Ordering::SeqCst) {
                armed_up.store(true, Ordering::SeqCst);
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent_since_armed = 0u64;
    while let Ok(n) = sr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut n = n as u64;
        if armed.load(Ordering::SeqCst) {
            n = n.min(cut_after - sent_since_armed);
            sent_since_armed += n;
        }
        if cw.write_all(&buf[..n as usize]).await.is_err() {
            break;
        }
        if armed.load(Ordering::SeqCst) && sent_since_armed >= cut_after {
            break; // drop both halves: the client sees a truncated body
        }
    }
    upstream.abort();
}

#[tokio::test]
async fn blob_stream_resumes_after_a_cut_connection() {
    let registry = start_registry().await;
    let pushed = push_image(registry.addr, "test/resume", "v1").await;
    let path = format!("/blobs/{}", pushed.layer_desc.digest);
    for strip_range in [false, true] {
        let proxy = spawn_cutting_proxy(registry.addr, path.clone(), 100_000, strip_range).await;
        let client = test_client();
        let r = reference(proxy, "test/resume:v1");

        let (data, retries) = collect_blob(&client, &r, &pushed.layer_desc).await.unwrap();
        assert_eq!(retries, 1, "strip_range={strip_range}");
        assert_eq!(data.len(), LAYER_SIZE);
        assert!(
            data == pushed.layer,
            "resumed bytes differ (strip_range={strip_range})"
        );
    }
}

/// What the hostile responder serves for `/v2/<…>/manifests/<…>`.
#[derive(Clone, Copy)]
enum Serve {
    /// A fixed body with its Content-Length.
    Fixed(&'static [u8]),
    /// Announces 5 MiB in Content-Length.
    HugeLength,
    /// Streams chunked data until the client hangs up.
    Endless,
}

/// A minimal HTTP/1.1 server; counts the body bytes it wrote.
async fn spawn_responder(serve: Serve) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(respond(conn, serve, counter.clone()));
        }
    });
    (addr, written)
}

async fn respond(mut conn: TcpStream, serve: Serve, written: Arc<AtomicU64>) {
    loop {
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if conn.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&request);
        let ct = match serve {
            Serve::Fixed(_) => "Content-Type: application/json\r\n".to_string(),
            _ => format!("Content-Type: {OCI_MANIFEST}\r\n"),
        };
        let ok = if !head.contains("/manifests/") {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await
        } else {
            match serve {
                Serve::Fixed(body) => {
                    let h = format!(
                        "HTTP/1.1 200 OK\r\n{ct}Content-Length: {}\r\n\r\n",
                        body.len()
                    );
                    conn.write_all(&[h.as_bytes(), body].concat()).await
                }
                Serve::HugeLength => {
                    let h = format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: {}\r\n\r\n", 5 << 20);
                    conn.write_all(h.as_bytes()).await
                }
                Serve::Endless => return serve_endless(conn, &ct, &written).await,
            }
        };
        if ok.is_err() {
            return;
        }
    }
}

async fn serve_endless(mut conn: TcpStream, ct: &str, written: &AtomicU64) {
    let head = format!("HTTP/1.1 200 OK\r\n{ct}Transfer-Encoding: chunked\r\n\r\n");
    if conn.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = [b"10000\r\n".as_slice(), &[b' '; 0x10000], b"\r\n"].concat();
    // Give up at 64 MiB so a broken client cannot hang the test.
    for _ in 0..1024 {
        if conn.write_all(&chunk).await.is_err() {
            return;
        }
        written.fetch_add(0x10000, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn oversized_manifests_are_refused_without_reading_them() {
    let client = test_client();
    let (addr, _) = spawn_responder(Serve::HugeLength).await;
    let e = client
        .fetch_manifest(&reference(addr, "x:y"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DistributionError::ManifestTooLarge { size, max } if size == 5 << 20 && max == 4 << 20),
        "{e}"
    );

    let (addr, written) = spawn_responder(Serve::Endless).await;
    let e = client
        .fetch_manifest(&reference(addr, "x:y"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DistributionError::ManifestTooLarge { .. }),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 16 << 20, "server managed to send {sent} bytes");
}

#[tokio::test]
async fn by_digest_fetch_detects_substituted_content() {
    const BODY: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let (addr, _) = spawn_responder(Serve::Fixed(BODY)).await;
    let client = test_client();
    let r = reference(addr, "x:y");
    let fetched = client.fetch_manifest(&r).await.unwrap();
    assert_eq!(fetched.digest, sha256_digest(BODY));
    assert!(matches!(fetched.manifest, Manifest::Index { .. }));

    let wanted = sha256_digest(b"something else");
    let e = client
        .fetch_manifest_by_digest(&r, &wanted)
        .await
        .unwrap_err();
    match &e {
        DistributionError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, &wanted);
            assert_eq!(actual, &sha256_digest(BODY));
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(e
        .to_string()
        .starts_with("digest mismatch: expected sha256:"));
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = free_port();
    let client = test_client();
    let r = Reference::parse(&format!("127.0.0.1:{port}/x:y")).unwrap();
    let e = client.fetch_manifest(&r).await.unwrap_err();
    assert!(matches!(e, DistributionError::Unreachable { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("cannot reach registry 127.0.0.1:{port}: connection refused")
    );
    let desc = descriptor("application/octet-stream", b"x");
    let e = collect_blob(&client, &r, &desc).await.unwrap_err();
    assert!(matches!(e, DistributionError::Unreachable { .. }), "{e}");
}

#[test]
fn loopback_hosts_use_plain_http() {
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec!["reg.lan:5000".into()],
        ..Default::default()
    })
    .unwrap();
    for host in [
        "localhost:5000",
        "127.0.0.1:5000",
        "127.1.2.3",
        "[::1]:5000",
        "reg.lan:5000",
    ] {
        assert!(client.is_plain_http(host), "{host}");
    }
    for host in [
        "registry-1.docker.io",
        "reg.lan",
        "10.0.0.1:5000",
        "localhost.example.com",
    ] {
        assert!(!client.is_plain_http(host), "{host}");
    }
    assert_eq!(client.backoff(1), Duration::from_secs(1));
    assert_eq!(client.backoff(3), Duration::from_secs(4));
    assert_eq!(client.backoff(30), Duration::from_secs(30));
}
