//! `ferry-fixtures push-critest`'s images, against a real docker-registry: every name critest
//! pulls resolves under its mirror path, names that must be one image are, and the images work
//! as the specs use them (run in a chroot of what the registry serves: busybox through `PATH`,
//! pgrep, ipcs, a masked `/bin/ls`, nginx's configuration, the setuid `nnp`).

use std::path::Path;
use std::process::{Command, Output};

use ferry_integration_tests::fixtures::critest::{self, mirror_path};
use ferry_integration_tests::fixtures::{split_reference, RegistryClient};
use ferry_integration_tests::{var_tmpdir, Registry};
use flate2::read::GzDecoder;
use serde_json::Value;

/// The manifest `repo:reference` as JSON, with the digest the registry gives it.
fn manifest(client: &RegistryClient, repo: &str, reference: &str) -> (Value, String) {
    let resp = client.get_manifest(repo, reference);
    assert_eq!(resp.status, 200, "{repo}:{reference}: {}", resp.text());
    let digest = resp
        .header("Docker-Content-Digest")
        .expect("a manifest has a digest")
        .to_owned();
    (
        serde_json::from_slice(&resp.body).expect("manifest JSON"),
        digest,
    )
}

/// The platform manifest (and its repository) behind a critest name's manifest list.
fn platform_manifest(client: &RegistryClient, name: &str) -> (String, Value) {
    let (repo, tag) = split_reference(mirror_path(name));
    let (list, _) = manifest(client, repo, tag);
    let child = list["manifests"][0]["digest"].as_str().expect("one entry");
    (repo.to_owned(), manifest(client, repo, child).0)
}

fn config(client: &RegistryClient, name: &str) -> Value {
    let (repo, image) = platform_manifest(client, name);
    let digest = image["config"]["digest"].as_str().expect("config digest");
    serde_json::from_slice(&client.get_blob(&repo, digest).body).expect("config JSON")
}

/// Unpacks the image `name` as the registry serves it into `root`, layer by layer.
fn unpack(client: &RegistryClient, name: &str, root: &Path) {
    let (repo, image) = platform_manifest(client, name);
    for layer in image["layers"].as_array().expect("layers") {
        let digest = layer["digest"].as_str().expect("layer digest");
        let blob = client.get_blob(&repo, digest).body;
        let mut archive = tar::Archive::new(GzDecoder::new(blob.as_slice()));
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_overwrite(true);
        archive.unpack(root).expect("unpack a layer");
    }
}

/// Runs `script` with the host's sh in a private mount namespace (its mounts vanish with it).
fn in_mount_namespace(script: &str) -> Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .output()
        .expect("run unshare")
}

/// One push (building the set costs half a minute of a debug build), two checks.
#[test]
fn push_critest_serves_every_name_and_images_that_work() {
    let registry = Registry::start();
    let pushed = critest::push_critest(&registry.addr());
    let client = RegistryClient::new(&registry.addr());
    every_name_resolves_under_its_mirror_path(&client, &pushed);
    images_work_as_the_specs_use_them(&client);
}

fn every_name_resolves_under_its_mirror_path(client: &RegistryClient, pushed: &[(String, String)]) {
    let digest_of = |path: &str| {
        let (repo, tag) = split_reference(path);
        manifest(client, repo, tag).1
    };
    for (name, _) in critest::critest_images() {
        let path = mirror_path(&name);
        let want = pushed.iter().find(|(p, _)| p == path).map(|(_, d)| d);
        assert_eq!(Some(&digest_of(path)), want, "{name}");
        platform_manifest(client, &name);
    }
    let gcr = |p: &str| digest_of(&format!("k8s-staging-cri-tools/{p}"));
    assert_eq!(gcr("test-image-tags:1"), gcr("test-image-tags:3"));
    assert_ne!(gcr("test-image-1:latest"), gcr("test-image-2:latest"));
    assert_ne!(digest_of("pause:3.9"), digest_of("pause:3.10"));
    let user = |p: &str| config(client, &format!("gcr.io/k8s-staging-cri-tools/{p}"));
    assert_eq!(
        user("test-image-user-uid-group:latest")["config"]["User"],
        "1003:1004"
    );
    assert_eq!(
        user("test-image-user-username:latest")["config"]["User"],
        "www-data"
    );
}

fn images_work_as_the_specs_use_them(client: &RegistryClient) {
    let nginx = var_tmpdir("ferry-critest-nginx-");
    unpack(
        client,
        "registry.k8s.io/e2e-test-images/nginx:1.14-2",
        nginx.path(),
    );
    let root = nginx.path().display().to_string();

    // As a runtime would, the chroot gets a /dev (the host's, in the private namespace).
    let tools = "mkdir -p {R}/dev && mount --rbind /dev {R}/dev && \
                 chroot {R} /bin/sh -c 'echo -n hello; pgrep -x nosuchprocess; ipcs -m >/dev/null \
                 && id -u nobody && brctl show >/dev/null 2>&1; /usr/sbin/nginx -t'";
    let out = in_mount_namespace(&tools.replace("{R}", &root));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello65534\n",
        "{stderr}"
    );
    assert!(stderr.contains("syntax is ok"), "nginx -t: {stderr}");

    // critest's MaskedPaths spec: the runtime binds /dev/null over /bin/ls.
    let masked = format!("mount --bind /dev/null {root}/bin/ls && chroot {root} /bin/sh -c ls");
    let out = in_mount_namespace(&masked);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "/bin/sh: ls: Permission denied\n"
    );

    let nnp = var_tmpdir("ferry-critest-nnp-");
    unpack(
        client,
        "registry.k8s.io/e2e-test-images/nonewprivs:1.3",
        nnp.path(),
    );
    let out = Command::new("chroot")
        .args([
            nnp.path().to_str().expect("utf-8 path"),
            "/usr/local/bin/nnp",
        ])
        .output()
        .expect("run chroot");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Effective uid: 0\n");
}
