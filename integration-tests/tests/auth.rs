//! Registry authentication end to end: credentials from Docker's `config.json`
//! (`DOCKER_CONFIG`), HTTP basic auth (htpasswd), the bearer-token flow against a
//! real token server, and what a redirected blob download sends to the other host.
//! Every refused pull also asserts that nothing was committed.

use std::path::Path;

use ferry_integration_tests::checks::{
    assert_image_listed, assert_store_empty, no_docker_config, write_docker_config,
};
use ferry_integration_tests::fixtures::{self, Image};
use ferry_integration_tests::http::Request;
use ferry_integration_tests::{
    Daemon, DaemonOpts, FaultProxy, HttpServer, Received, Registry, Reply, TokenPolicy, TokenServer,
};

const USER: &str = "ferry";
const PASS: &str = "s3cret";

/// A ferryd reading credentials from `config_dir/config.json` only.
fn daemon_with_config(config_dir: &Path) -> Daemon {
    let dir = config_dir.to_str().expect("utf-8 temp path");
    Daemon::start(DaemonOpts::default().env("DOCKER_CONFIG", dir))
}

/// Asserts the pull exits 1 with Docker's "pull access denied" for `name`.
fn assert_pull_denied(daemon: &Daemon, reference: &str, name: &str) {
    let out = daemon.ferry(&["pull", reference]);
    assert_eq!(out.code, Some(1), "pull {reference} should fail: {out:?}");
    let want = format!(
        "Error response from daemon: pull access denied for {name}, repository does not exist \
         or may require 'docker login'"
    );
    assert!(
        out.stderr.starts_with(&want),
        "want {want:?}\ngot {:?}\nferryd log:\n{}",
        out.stderr,
        daemon.log()
    );
}

#[test]
fn basic_auth_uses_docker_config_credentials_and_requires_them() {
    let registry = Registry::start_with_auth(USER, PASS);
    let img = fixtures::busybox();
    img.push_with_auth(
        &registry.addr(),
        "private/busybox:1",
        registry.authorization(),
    );
    let reference = format!("{}/private/busybox:1", registry.addr());
    let name = format!("{}/private/busybox", registry.addr());
    let config = no_docker_config();
    let daemon = daemon_with_config(config.path());

    assert_pull_denied(&daemon, &reference, &name);
    assert_store_empty(&daemon);

    write_docker_config(config.path(), &registry.addr(), USER, "wrong");
    assert_pull_denied(&daemon, &reference, &name);
    assert_store_empty(&daemon);

    // `docker login` while ferryd runs: the next pull uses the new credentials.
    write_docker_config(config.path(), &registry.addr(), USER, PASS);
    let out = daemon.ferry_ok(&["pull", &reference]);
    assert!(
        out.stdout
            .contains(&format!("Digest: {}", img.manifest_digest)),
        "{}",
        out.stdout
    );
    assert_image_listed(&daemon, img.id());
}

/// A token-auth registry with `image` pushed (with a push token) as `repo:1`.
fn token_registry(policy: TokenPolicy, image: &Image, repo: &str) -> (TokenServer, Registry) {
    let tokens = TokenServer::start(policy);
    let registry = Registry::start_with_token_auth(&tokens);
    let push = tokens.bearer(repo, &["pull", "push"]);
    image.push_with_auth(&registry.addr(), &format!("{repo}:1"), Some(push));
    // The registry really enforces tokens: no token, no manifest.
    let anonymous = Request::get(&format!("/v2/{repo}/manifests/1"))
        .send(&registry.addr())
        .expect("GET manifest without a token");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let challenge = anonymous.header("WWW-Authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(&tokens.realm()),
        "{challenge}"
    );
    (tokens, registry)
}

fn scopes(requests: &[Received]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| r.query_values("scope"))
        .collect()
}

#[test]
fn bearer_token_anonymous_pull_when_the_token_server_grants_it() {
    let img = fixtures::multi_layer();
    let policy = TokenPolicy {
        anonymous_pull: true,
        credentials: Some((USER.into(), PASS.into())),
    };
    let (tokens, registry) = token_registry(policy, &img, "public/multi");
    let config = no_docker_config();
    let daemon = daemon_with_config(config.path());

    daemon.ferry_ok(&["pull", &format!("{}/public/multi:1", registry.addr())]);
    assert_image_listed(&daemon, img.id());
    let requests = tokens.requests();
    assert!(
        scopes(&requests).contains(&"repository:public/multi:pull".to_owned()),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.header("Authorization").is_none()),
        "anonymous pull sent credentials to the token server: {requests:?}"
    );
}

#[test]
fn bearer_token_with_docker_config_credentials_when_required() {
    let img = fixtures::busybox();
    let policy = TokenPolicy {
        anonymous_pull: false,
        credentials: Some((USER.into(), PASS.into())),
    };
    let (tokens, registry) = token_registry(policy, &img, "private/busybox");
    let reference = format!("{}/private/busybox:1", registry.addr());
    let name = format!("{}/private/busybox", registry.addr());
    let config = no_docker_config();
    let daemon = daemon_with_config(config.path());

    // Anonymous: the token server answers a token granting nothing; the registry says 401.
    assert_pull_denied(&daemon, &reference, &name);
    assert_store_empty(&daemon);
    // Wrong password: the token server itself answers 401.
    write_docker_config(config.path(), &registry.addr(), USER, "wrong");
    assert_pull_denied(&daemon, &reference, &name);
    assert_store_empty(&daemon);

    write_docker_config(config.path(), &registry.addr(), USER, PASS);
    daemon.ferry_ok(&["pull", &reference]);
    assert_image_listed(&daemon, img.id());
    let basic = ferry_integration_tests::registry::basic_auth(USER, PASS);
    let last = tokens.requests().pop().expect("token requests");
    assert_eq!(
        last.header("Authorization"),
        Some(basic.as_str()),
        "{last:?}"
    );
    assert_eq!(last.query_values("service"), ["ferry-test-registry"]);
}

/// A server on 127.0.0.2 (another host than the registry's 127.0.0.1) serving
/// `bytes` at `/cdn/<digest>`, honouring `Range: bytes=N-` as object stores do.
fn blob_host(digest: &str, bytes: &[u8]) -> HttpServer {
    let path = format!("/cdn/{digest}");
    let bytes = bytes.to_vec();
    HttpServer::start("127.0.0.2", move |req| {
        if req.path() != path {
            return Reply::new(404, "no such object");
        }
        let start = req
            .header("Range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        match start {
            Some(start) if start < bytes.len() => {
                let range = format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len());
                Reply::new(206, &bytes[start..]).header("Content-Range", &range)
            }
            _ => Reply::new(200, bytes.clone()),
        }
    })
}

/// Pulls `img` (pushed as `repo:1` behind `registry`) through a proxy that
/// redirects its layer to another host, with `config_dir` credentials for the
/// proxy; asserts the layer came from that host, which saw no `Authorization`.
fn assert_redirect_drops_credentials(
    registry: &Registry,
    img: &Image,
    repo: &str,
    user_pass: Option<(&str, &str)>,
) {
    let proxy = FaultProxy::start(&registry.addr());
    let layer = img.layer_digests()[0].clone();
    let layer_bytes = img
        .blobs()
        .into_iter()
        .find(|(d, _)| *d == layer)
        .map(|(_, b)| b.to_vec())
        .expect("layer bytes");
    let cdn = blob_host(&layer, &layer_bytes);
    proxy.redirect_blob(&layer, &format!("http://{}/cdn/{layer}", cdn.addr()));
    let config = no_docker_config();
    if let Some((user, pass)) = user_pass {
        write_docker_config(config.path(), &proxy.addr(), user, pass);
    }
    let daemon = daemon_with_config(config.path());

    daemon.ferry_ok(&["pull", &format!("{}/{repo}:1", proxy.addr())]);
    assert_image_listed(&daemon, img.id());
    assert!(proxy.count_blob_gets(&layer) >= 1, "{:?}", proxy.requests());
    let seen = cdn.requests();
    assert!(
        seen.iter().any(|r| r.path().ends_with(&layer)),
        "layer never fetched from the other host: {seen:?}"
    );
    for req in &seen {
        for header in ["Authorization", "Cookie", "Proxy-Authorization"] {
            assert_eq!(
                req.header(header),
                None,
                "{header} leaked to the redirect target: {req:?}"
            );
        }
    }
}

#[test]
fn redirected_blob_gets_no_basic_credentials() {
    let registry = Registry::start_with_auth(USER, PASS);
    let img = fixtures::busybox();
    img.push_with_auth(
        &registry.addr(),
        "private/busybox:1",
        registry.authorization(),
    );
    assert_redirect_drops_credentials(&registry, &img, "private/busybox", Some((USER, PASS)));
}

#[test]
fn redirected_blob_gets_no_bearer_token() {
    let img = fixtures::busybox();
    let policy = TokenPolicy {
        anonymous_pull: false,
        credentials: Some((USER.into(), PASS.into())),
    };
    let (_tokens, registry) = token_registry(policy, &img, "private/busybox");
    assert_redirect_drops_credentials(&registry, &img, "private/busybox", Some((USER, PASS)));
}
