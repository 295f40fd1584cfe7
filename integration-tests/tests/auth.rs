//! Registry authentication end to end: credentials from Docker's `config.json`
//! (`DOCKER_CONFIG`) and its credential helpers (a script on ferryd's PATH), HTTP basic
//! auth (htpasswd), the bearer-token flow against a real token server, challenges that come
//! only at a repository's manifest or blob (a proxy answering `/v2/` with 200), and what a
//! redirected blob download sends to another host or port.
//! Every refused pull also asserts that nothing was committed.

use std::path::Path;

use ferry_integration_tests::checks::{
    assert_image_listed, assert_store_empty, docker_config, no_docker_config, write_docker_config,
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

/// An htpasswd registry holding busybox as `private/busybox:1`.
fn basic_registry() -> (Registry, Image) {
    let registry = Registry::start_with_auth(USER, PASS);
    let img = fixtures::busybox();
    img.push_with_auth(
        &registry.addr(),
        "private/busybox:1",
        registry.authorization(),
    );
    (registry, img)
}

#[test]
fn basic_auth_uses_docker_config_credentials_and_requires_them() {
    let (registry, img) = basic_registry();
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

/// A server on `ip` (127.0.0.2: another host than the registry's 127.0.0.1; 127.0.0.1:
/// another port) serving `bytes` at `/cdn/<digest>`, honouring `Range: bytes=N-` as object
/// stores do.
fn blob_host(ip: &str, digest: &str, bytes: &[u8]) -> HttpServer {
    let path = format!("/cdn/{digest}");
    let bytes = bytes.to_vec();
    HttpServer::start(ip, move |req| {
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
    cdn_ip: &str,
) {
    let proxy = FaultProxy::start(&registry.addr());
    let layer = img.layer_digests()[0].clone();
    let cdn = blob_host(cdn_ip, &layer, &layer_bytes(img, &layer));
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
    assert_no_credentials(&seen);
}

fn assert_no_credentials(seen: &[Received]) {
    for req in seen {
        for header in ["Authorization", "Cookie", "Proxy-Authorization"] {
            assert_eq!(
                req.header(header),
                None,
                "{header} leaked to the redirect target: {req:?}"
            );
        }
    }
}

fn layer_bytes(img: &Image, layer: &str) -> Vec<u8> {
    img.blobs()
        .into_iter()
        .find(|(d, _)| *d == layer)
        .map(|(_, b)| b.to_vec())
        .expect("layer bytes")
}

#[test]
fn redirected_blob_gets_no_basic_credentials() {
    let (registry, img) = basic_registry();
    let creds = Some((USER, PASS));
    assert_redirect_drops_credentials(&registry, &img, "private/busybox", creds, "127.0.0.2");
}

#[test]
fn redirected_blob_to_another_port_of_the_same_host_gets_no_credentials() {
    let (registry, img) = basic_registry();
    let creds = Some((USER, PASS));
    assert_redirect_drops_credentials(&registry, &img, "private/busybox", creds, "127.0.0.1");
}

#[test]
fn redirected_blob_gets_no_bearer_token() {
    let img = fixtures::busybox();
    let policy = TokenPolicy {
        anonymous_pull: false,
        credentials: Some((USER.into(), PASS.into())),
    };
    let (_tokens, registry) = token_registry(policy, &img, "private/busybox");
    let creds = Some((USER, PASS));
    assert_redirect_drops_credentials(&registry, &img, "private/busybox", creds, "127.0.0.2");
}

/// A challenge from the host a blob was redirected to is not answered: the pull fails, and
/// that host never sees the registry's credentials.
#[test]
fn a_challenge_from_a_redirect_target_is_not_answered() {
    let (registry, img) = basic_registry();
    let proxy = FaultProxy::start(&registry.addr());
    let layer = img.layer_digests()[0].clone();
    let cdn = HttpServer::start("127.0.0.2", |_| {
        Reply::new(401, "").header("WWW-Authenticate", "Basic realm=\"cdn\"")
    });
    proxy.redirect_blob(&layer, &format!("http://{}/cdn/{layer}", cdn.addr()));
    let config = docker_config(&proxy.addr(), USER, PASS);
    let daemon = daemon_with_config(config.path());
    let reference = format!("{}/private/busybox:1", proxy.addr());
    assert_pull_denied(
        &daemon,
        &reference,
        &format!("{}/private/busybox", proxy.addr()),
    );
    assert_store_empty(&daemon);
    let seen = cdn.requests();
    assert_eq!(seen.len(), 1, "the challenge was answered: {seen:?}");
    assert_no_credentials(&seen);
}

/// A proxy in front of `registry` that answers `/v2/` with 200 itself, as a registry whose
/// auth covers repositories only does.
fn open_ping_proxy(registry: &Registry) -> FaultProxy {
    let proxy = FaultProxy::start(&registry.addr());
    proxy.fail_status("/v2/", 200, u32::MAX);
    let ping = Request::get("/v2/").send(&proxy.addr()).expect("GET /v2/");
    assert_eq!(ping.status, 200, "{}", ping.text());
    proxy
}

#[test]
fn a_late_basic_challenge_on_the_manifest_is_answered_with_config_json_credentials() {
    let registry = Registry::start_with_auth(USER, PASS);
    let img = fixtures::multi_layer();
    img.push_with_auth(
        &registry.addr(),
        "private/multi:1",
        registry.authorization(),
    );
    let proxy = open_ping_proxy(&registry);
    let reference = format!("{}/private/multi:1", proxy.addr());
    let name = format!("{}/private/multi", proxy.addr());
    let config = no_docker_config();
    let daemon = daemon_with_config(config.path());

    assert_pull_denied(&daemon, &reference, &name);
    assert_store_empty(&daemon);
    write_docker_config(config.path(), &proxy.addr(), USER, PASS);
    daemon.ferry_ok(&["pull", &reference]);
    assert_image_listed(&daemon, img.id());
}

/// The manifest is served without auth; the first challenge comes at the config blob, from
/// a token registry: it is answered with a token asked with the credentials.
#[test]
fn a_late_bearer_challenge_on_a_blob_is_answered_with_a_token() {
    let img = fixtures::busybox();
    let policy = TokenPolicy {
        anonymous_pull: false,
        credentials: Some((USER.into(), PASS.into())),
    };
    let (tokens, registry) = token_registry(policy, &img, "private/busybox");
    let proxy = open_ping_proxy(&registry);
    let manifest_path = "/v2/private/busybox/manifests/1";
    proxy.serve_manifest(
        manifest_path,
        &img.manifest_media_type,
        img.manifest.clone(),
    );
    let config = docker_config(&proxy.addr(), USER, PASS);
    let daemon = daemon_with_config(config.path());

    daemon.ferry_ok(&["pull", &format!("{}/private/busybox:1", proxy.addr())]);
    assert_image_listed(&daemon, img.id());
    let requests = tokens.requests();
    assert!(
        scopes(&requests).contains(&"repository:private/busybox:pull".to_owned()),
        "{requests:?}"
    );
    let basic = ferry_integration_tests::registry::basic_auth(USER, PASS);
    assert!(
        requests
            .iter()
            .all(|r| r.header("Authorization") == Some(basic.as_str())),
        "{requests:?}"
    );
}

/// A `docker-credential-NAME` script in `dir` that answers `user`/`pass` for `server_url`
/// (and "not found" for any other), writing each server URL it was asked for to `dir/asked`.
fn credential_helper(dir: &Path, name: &str, server_url: &str, user: &str, pass: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let asked = dir.join("asked");
    let script = format!(
        "#!/bin/sh\nread url\necho \"$1 $url\" >> '{}'\n\
         if [ \"$url\" != '{server_url}' ]; then\n\
         echo 'credentials not found in native keychain'; exit 1\nfi\n\
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{pass}\"}}' \"$url\"\n",
        asked.display()
    );
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).expect("write helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// ferryd with `config_dir`'s config.json and `bin_dir` first on its PATH.
fn daemon_with_helpers(config_dir: &Path, bin_dir: &Path) -> Daemon {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = config_dir.to_str().expect("utf-8 temp path");
    Daemon::start(
        DaemonOpts::default()
            .env("DOCKER_CONFIG", dir)
            .env("PATH", &path),
    )
}

/// Writes `json` as `dir/config.json`.
fn write_config_json(dir: &Path, json: &serde_json::Value) {
    std::fs::write(dir.join("config.json"), json.to_string()).expect("write config.json");
}

#[test]
fn cred_helpers_and_creds_store_are_run_as_docker_runs_them() {
    let registry = Registry::start_with_auth(USER, PASS);
    let img = fixtures::busybox();
    // Two repositories: learned auth is per repository, so each pull below asks afresh.
    for repo in ["private/one:1", "private/two:1", "private/three:1"] {
        img.push_with_auth(&registry.addr(), repo, registry.authorization());
    }
    let reference = |repo: &str| format!("{}/private/{repo}:1", registry.addr());
    let config = no_docker_config();
    let bin = no_docker_config();
    credential_helper(bin.path(), "ferrytest", &registry.addr(), USER, PASS);
    let daemon = daemon_with_helpers(config.path(), bin.path());

    // A credsStore that is not on PATH fails the pull naming it, as Docker's does.
    write_config_json(
        config.path(),
        &serde_json::json!({"credsStore": "ferry-missing"}),
    );
    let out = daemon.ferry(&["pull", &reference("one")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("error getting credentials from docker-credential-ferry-missing"),
        "{}",
        out.stderr
    );
    assert_store_empty(&daemon);

    // credHelpers names the helper for this registry; the inline entry (wrong) is not used.
    write_config_json(
        config.path(),
        &serde_json::json!({
            "auths": {registry.addr(): {"auth": "d3Jvbmc6d3Jvbmc="}},
            "credHelpers": {registry.addr(): "ferrytest"},
        }),
    );
    daemon.ferry_ok(&["pull", &reference("two")]);
    assert_image_listed(&daemon, img.id());
    let asked = std::fs::read_to_string(bin.path().join("asked")).expect("helper was run");
    let want = format!("get {}", registry.addr());
    assert!(asked.lines().all(|l| l == want), "{asked}");

    // A credsStore answers for every registry.
    write_config_json(
        config.path(),
        &serde_json::json!({"credsStore": "ferrytest"}),
    );
    daemon.ferry_ok(&["pull", &reference("three")]);
    let asked = std::fs::read_to_string(bin.path().join("asked")).expect("helper was run");
    assert!(asked.lines().count() >= 2, "{asked}");
}

/// A file-backed `docker-credential-NAME` in `dir` (one secret, in `dir/secret`): `store`
/// keeps its stdin, `get` answers it, `erase` drops it.
fn storing_helper(dir: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let secret = dir.join("secret");
    let secret = secret.display();
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n\
         store) cat > '{secret}' ;;\n\
         get) cat > /dev/null; [ -f '{secret}' ] && cat '{secret}' || \
         {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n\
         erase) cat > /dev/null; rm '{secret}' ;;\n\
         esac\n"
    );
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).expect("write helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// With a credsStore, `ferry login` stores through the helper (and ferryd's pulls ask it),
/// leaving `auths[server]` empty as Docker does; `logout` erases it.
#[test]
fn login_and_logout_go_through_the_creds_store() {
    let (registry, img) = basic_registry();
    img.push_with_auth(&registry.addr(), "private/two:1", registry.authorization());
    let server = registry.addr();
    let config = no_docker_config();
    let bin = no_docker_config();
    storing_helper(bin.path(), "ferrystore");
    write_config_json(
        config.path(),
        &serde_json::json!({"credsStore": "ferrystore"}),
    );
    let daemon = daemon_with_helpers(config.path(), bin.path());
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = config.path().to_str().expect("utf-8 temp path");
    let env = [("DOCKER_CONFIG", dir), ("PATH", path.as_str())];

    let out = daemon.ferry_with_env(&["login", "-u", USER, "-p", PASS, &server], &env);
    assert_eq!(out.code, Some(0), "{out:?}");
    let stored = std::fs::read_to_string(bin.path().join("secret")).expect("helper stored");
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(stored["Secret"], PASS, "{stored}");
    let text = std::fs::read_to_string(config.path().join("config.json")).expect("config");
    let file: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(file["auths"][&server], serde_json::json!({}), "{text}");
    daemon.ferry_ok(&["pull", &format!("{server}/private/busybox:1")]);
    assert_image_listed(&daemon, img.id());

    let out = daemon.ferry_with_env(&["logout", &server], &env);
    assert_eq!(
        out.stdout.trim(),
        format!("Removing login credentials for {server}")
    );
    assert!(!bin.path().join("secret").exists(), "logout erased nothing");
    let two = format!("{server}/private/two:1");
    assert_pull_denied(&daemon, &two, &format!("{server}/private/two"));
}
