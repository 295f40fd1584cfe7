//! `ferry push`, `login`, `logout` and `search` end to end: real docker-registry processes
//! (counted through a FaultProxy), real ferryd daemons, the real CLI. Each test has its own
//! registries, daemons and `DOCKER_CONFIG` directory, shared by its ferryd and its CLI calls.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ferry_integration_tests::checks::{assert_image_listed, no_docker_config};
use ferry_integration_tests::daemon::bin_dir;
use ferry_integration_tests::fixtures::{self, Image};
use ferry_integration_tests::{
    CmdOutput, Daemon, DaemonOpts, FaultProxy, Registry, TokenPolicy, TokenServer,
};

const USER: &str = "ferry";
const PASS: &str = "s3cret";

/// A ferryd whose credentials come from `config_dir/config.json` only.
fn daemon(config_dir: &Path) -> Daemon {
    let dir = config_dir.to_str().expect("utf-8 temp path");
    Daemon::start(DaemonOpts::default().env("DOCKER_CONFIG", dir))
}

/// Runs `ferry` with the same `DOCKER_CONFIG` as the daemon.
fn ferry(d: &Daemon, config_dir: &Path, args: &[&str]) -> CmdOutput {
    let dir = config_dir.to_str().expect("utf-8 temp path");
    d.ferry_with_env(args, &[("DOCKER_CONFIG", dir)])
}

/// Seeds `registry_addr` with `img` as `repo_tag`, pulls it into `d` and tags it `target`.
fn local_image(d: &Daemon, img: &Image, registry_addr: &str, repo_tag: &str, target: &str) {
    img.push(registry_addr, repo_tag);
    d.ferry_ok(&["pull", &format!("{registry_addr}/{repo_tag}")]);
    d.ferry_ok(&["tag", &format!("{registry_addr}/{repo_tag}"), target]);
}

fn short(digest: &str) -> &str {
    &digest["sha256:".len()..][..12]
}

fn assert_each_layer(out: &CmdOutput, img: &Image, status: &str) {
    for digest in img.layer_digests() {
        let line = format!("{}: {status}", short(&digest));
        assert!(out.stdout.contains(&line), "no {line:?} in\n{}", out.stdout);
    }
}

/// Blob upload requests: POSTs opening an upload (mount or not) and PATCHes carrying data.
fn uploads(proxy: &FaultProxy) -> (usize, usize) {
    let posts = proxy.count_matching("POST", |p| p.contains("/blobs/uploads"));
    let patches = proxy.count_matching("PATCH", |p| p.contains("/blobs/uploads"));
    (posts, patches)
}

#[test]
fn push_then_pull_elsewhere_gives_the_same_image_and_a_second_push_uploads_nothing() {
    let source = Registry::start();
    let target = Registry::start();
    let proxy = FaultProxy::start(&target.addr());
    let config = no_docker_config();
    let a = daemon(config.path());
    let img = fixtures::multi_layer();
    let reference = format!("{}/dst/app:2", proxy.addr());
    local_image(&a, &img, &source.addr(), "src/app:1", &reference);

    let out = a.ferry_ok(&["push", &reference]);
    let first = format!("The push refers to repository [{}/dst/app]", proxy.addr());
    assert_eq!(
        out.stdout.lines().next(),
        Some(first.as_str()),
        "{}",
        out.stdout
    );
    assert_each_layer(&out, &img, "Preparing");
    assert_each_layer(&out, &img, "Pushed");
    let done = format!(
        "2: digest: {} size: {}",
        img.manifest_digest,
        img.manifest.len()
    );
    assert_eq!(
        out.stdout.lines().last(),
        Some(done.as_str()),
        "{}",
        out.stdout
    );
    let (posts, patches) = uploads(&proxy);
    assert!(
        posts >= img.layers.len() && patches >= img.layers.len(),
        "{posts} {patches}"
    );

    proxy.clear_requests();
    let out = a.ferry_ok(&["push", &reference]);
    assert_each_layer(&out, &img, "Layer already exists");
    assert!(!out.stdout.contains("Pushed"), "{}", out.stdout);
    assert_eq!(uploads(&proxy), (0, 0), "{:?}", proxy.requests());

    let other_config = no_docker_config();
    let b = daemon(other_config.path());
    let out = b.ferry_ok(&["pull", &reference]);
    assert!(
        out.stdout
            .contains(&format!("Digest: {}", img.manifest_digest)),
        "{}",
        out.stdout
    );
    assert_image_listed(&b, img.id());
}

#[test]
fn push_mounts_blobs_from_another_repository_of_the_same_registry() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.addr());
    let config = no_docker_config();
    let d = daemon(config.path());
    let img = fixtures::busybox();
    let reference = format!("{}/dst/busybox:1", proxy.addr());
    local_image(&d, &img, &proxy.addr(), "src/busybox:1", &reference);
    proxy.clear_requests();

    let out = d.ferry_ok(&["push", &reference]);
    assert_each_layer(&out, &img, "Mounted from src/busybox");
    let mounts = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.contains("mount=") && r.contains("from=src"))
        .count();
    assert!(mounts >= img.layers.len(), "{:?}", proxy.requests());
    assert_eq!(
        uploads(&proxy).1,
        0,
        "no PATCH expected: {:?}",
        proxy.requests()
    );
    assert!(out.stdout.contains(&img.manifest_digest), "{}", out.stdout);

    // A registry nobody listens on: Unavailable, said plainly.
    let gone = "127.0.0.1:1/x/busybox:1";
    d.ferry_ok(&["tag", &reference, gone]);
    let out = d.ferry(&["push", gone]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("cannot reach registry 127.0.0.1:1"),
        "{}",
        out.stderr
    );
}

fn assert_push_unauthorized(d: &Daemon, config: &Path, reference: &str) {
    let out = ferry(d, config, &["push", reference]);
    assert_eq!(out.code, Some(1), "push should fail: {out:?}");
    assert!(
        out.stderr.contains("unauthorized: authentication required"),
        "{}",
        out.stderr
    );
}

fn stored_auth(config: &Path, server: &str) -> Option<String> {
    let text = std::fs::read(config.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["auths"][server]["auth"].as_str().map(str::to_string)
}

#[test]
fn push_to_an_auth_registry_needs_login_and_logout_drops_it() {
    let source = Registry::start();
    let private = Registry::start_with_auth(USER, PASS);
    let server = private.addr();
    let config = no_docker_config();
    let cfg = config.path();
    // A key ferryd does not read (a credsStore would send every lookup to its helper).
    std::fs::write(cfg.join("config.json"), r#"{"psFormat":"none-here"}"#).expect("config");
    let d = daemon(cfg);
    let img = fixtures::busybox();
    let reference = format!("{server}/private/busybox:1");
    local_image(&d, &img, &source.addr(), "src/busybox:1", &reference);

    assert_push_unauthorized(&d, cfg, &reference);

    let out = ferry(&d, cfg, &["login", "-u", USER, "-p", "wrong", &server]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("incorrect username or password"),
        "{}",
        out.stderr
    );
    assert_eq!(stored_auth(cfg, &server), None);

    let out = ferry(&d, cfg, &["login", "-u", USER, "-p", PASS, &server]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), "Login Succeeded");
    assert_eq!(
        stored_auth(cfg, &server).as_deref(),
        Some("ZmVycnk6czNjcmV0")
    );
    let meta = std::fs::metadata(cfg.join("config.json")).expect("config.json");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(cfg.join("config.json")).expect("config.json");
    assert!(text.contains("none-here"), "other keys kept: {text}");

    let out = ferry(&d, cfg, &["push", &reference]);
    assert_eq!(out.code, Some(0), "{out:?}\n{}", d.log());
    assert_each_layer(&out, &img, "Pushed");
    // The catalog of a registry that wants credentials: read with the stored ones.
    let out = ferry(
        &d,
        cfg,
        &["search", "--format", "{{.Name}}", &format!("{server}/priv")],
    );
    assert_eq!(out.stdout, format!("{server}/private/busybox\n"), "{out:?}");

    let out = ferry(&d, cfg, &["logout", &server]);
    assert_eq!(
        out.stdout.trim(),
        format!("Removing login credentials for {server}")
    );
    assert_eq!(stored_auth(cfg, &server), None);
    assert_push_unauthorized(&d, cfg, &reference);

    let out = login_password_stdin(&d, cfg, &server, PASS);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Login Succeeded"
    );
    assert_eq!(
        stored_auth(cfg, &server).as_deref(),
        Some("ZmVycnk6czNjcmV0")
    );
}

/// `echo PASS | ferry login -u USER --password-stdin SERVER`.
fn login_password_stdin(d: &Daemon, cfg: &Path, server: &str, pass: &str) -> Output {
    let mut child = Command::new(bin_dir().join("ferry"))
        .args([
            "-H",
            &d.host(),
            "login",
            "-u",
            USER,
            "--password-stdin",
            server,
        ])
        .env("DOCKER_CONFIG", cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry login");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{pass}").expect("write password");
    drop(stdin);
    child.wait_with_output().expect("ferry login")
}

#[test]
fn login_and_push_through_a_bearer_token_server_ask_for_push_scope() {
    let source = Registry::start();
    let tokens = TokenServer::start(TokenPolicy {
        anonymous_pull: false,
        credentials: Some((USER.into(), PASS.into())),
    });
    let private = Registry::start_with_token_auth(&tokens);
    let server = private.addr();
    let config = no_docker_config();
    let cfg = config.path();
    let d = daemon(cfg);
    let img = fixtures::busybox();
    let reference = format!("{server}/team/busybox:1");
    local_image(&d, &img, &source.addr(), "src/busybox:1", &reference);

    assert_push_unauthorized(&d, cfg, &reference);
    let out = ferry(&d, cfg, &["login", "-u", USER, "-p", "wrong", &server]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("incorrect username or password"),
        "{}",
        out.stderr
    );

    ferry(&d, cfg, &["login", "-u", USER, "-p", PASS, &server]);
    let out = ferry(&d, cfg, &["push", &reference]);
    assert_eq!(out.code, Some(0), "{out:?}\n{}", d.log());
    let scopes: Vec<String> = tokens
        .requests()
        .iter()
        .flat_map(|r| r.query_values("scope"))
        .collect();
    assert!(
        scopes.contains(&"repository:team/busybox:pull,push".to_owned()),
        "{scopes:?}"
    );
    let other_config = no_docker_config();
    let b = daemon(other_config.path());
    std::fs::copy(
        cfg.join("config.json"),
        other_config.path().join("config.json"),
    )
    .expect("copy config.json");
    let out = b.ferry_ok(&["pull", &reference]);
    assert!(out.stdout.contains(&img.manifest_digest), "{}", out.stdout);
}

#[test]
fn search_lists_catalog_repositories_matching_the_term() {
    let registry = Registry::start();
    let addr = registry.addr();
    let img = fixtures::busybox();
    for repo in ["alpha/busybox:1", "alpha/tools:1", "beta/busybox:1"] {
        img.push(&addr, repo);
    }
    let config = no_docker_config();
    let d = daemon(config.path());

    let out = d.ferry_ok(&["search", &format!("{addr}/alpha")]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"],
        "{}",
        out.stdout
    );
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[1].starts_with(&format!("{addr}/alpha/busybox ")),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with(&format!("{addr}/alpha/tools ")),
        "{}",
        out.stdout
    );

    let out = d.ferry_ok(&[
        "search",
        "--format",
        "{{.Name}}",
        &format!("{addr}/busybox"),
    ]);
    let want = format!("{addr}/alpha/busybox\n{addr}/beta/busybox\n");
    assert_eq!(out.stdout, want);

    let out = d.ferry_ok(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}",
        &format!("{addr}/"),
    ]);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
}

#[test]
fn push_of_an_unknown_image_is_not_found() {
    let config = no_docker_config();
    let d = daemon(config.path());
    let out = d.ferry(&["push", "127.0.0.1:5999/nope:1"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: An image does not exist locally with the tag: \
         127.0.0.1:5999/nope"
    );
}
