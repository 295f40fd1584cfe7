//! `ferry pull` end to end: a real docker-registry (behind a fault-injecting proxy), a real
//! ferryd on a private root, the real CLI. Every failure case also asserts that nothing was
//! committed: no image, no snapshot, no blob, no ingest file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_integration_tests::checks::{assert_store_empty, entries};
use ferry_integration_tests::fixtures;
use ferry_integration_tests::{wait_until, Daemon, DaemonOpts, Env, BUSYBOX};

/// A registry behind a fault proxy: what [`Env::push`] returns names the proxy.
fn env() -> Env {
    Env::builder().proxy().build()
}

trait PullFails {
    fn pull_fails(&self, reference: &str) -> String;
}

impl PullFails for Env {
    fn pull_fails(&self, reference: &str) -> String {
        let out = self.ferry(&["pull", reference]);
        assert_eq!(out.code, Some(1), "pull {reference} should fail: {out:?}");
        assert!(
            out.stderr.starts_with("Error response from daemon: "),
            "{}",
            out.stderr
        );
        out.stderr
    }
}

fn snapshot_dirs(d: &Daemon) -> Vec<PathBuf> {
    let root = d.data_root().join("snapshots");
    entries(&root).into_iter().map(|n| root.join(n)).collect()
}

#[test]
fn pull_busybox_lists_it_and_repull_is_up_to_date() {
    let env = env();
    let img = fixtures::busybox();
    let reference = env.push(&img, "library/busybox:latest");
    let out = env.daemon().ferry_ok(&["pull", &reference]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0], "latest: Pulling from library/busybox",
        "{}",
        out.stdout
    );
    let layer = &img.layer_digests()[0]["sha256:".len()..][..12];
    assert!(
        out.stdout.contains(&format!("{layer}: Pull complete")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Digest: {}", img.manifest_digest)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Status: Downloaded newer image for {reference}")),
        "{}",
        out.stdout
    );
    assert_eq!(lines.last(), Some(&reference.as_str()));

    let images = env.daemon().ferry_ok(&["images"]);
    let rows: Vec<&str> = images.stdout.lines().collect();
    assert!(
        rows[0].starts_with("REPOSITORY")
            && rows[0].contains("IMAGE ID")
            && rows[0].ends_with("SIZE")
    );
    let id12 = &img.id()["sha256:".len()..][..12];
    let repo = reference
        .rsplit_once(':')
        .map(|(r, _)| r)
        .unwrap_or(&reference);
    assert!(
        rows[1].starts_with(repo) && rows[1].contains("latest") && rows[1].contains(id12),
        "{}",
        images.stdout
    );
    assert!(
        rows[1].contains("ago") && rows[1].ends_with("MB"),
        "{}",
        images.stdout
    );

    let gets = env.proxy().count_blob_gets(&img.layer_digests()[0]);
    assert_eq!(gets, 1);
    let again = env.daemon().ferry_ok(&["pull", &reference]);
    assert!(
        again
            .stdout
            .contains(&format!("Status: Image is up to date for {reference}")),
        "{}",
        again.stdout
    );
    assert_eq!(
        env.proxy().count_blob_gets(&img.layer_digests()[0]),
        1,
        "warm re-pull fetches no blob"
    );

    let quiet = env.daemon().ferry_ok(&["pull", "-q", &reference]);
    assert_eq!(quiet.stdout, format!("{reference}\n"));
}

#[test]
fn unpacked_busybox_keeps_hardlinks_symlinks_and_modes() {
    let env = env();
    let reference = env.push(&fixtures::busybox(), "library/busybox:1");
    env.daemon().ferry_ok(&["pull", &reference]);
    let mount = env
        .daemon()
        .ferry_ok(&["image", "mount", &reference])
        .stdout
        .trim()
        .to_string();
    let root = Path::new(&mount);
    use std::os::unix::fs::MetadataExt;
    let bb = std::fs::metadata(root.join("bin/busybox")).expect("busybox");
    let ls = std::fs::metadata(root.join("bin/ls")).expect("ls applet");
    assert_eq!(bb.ino(), ls.ino(), "applets are hard links to busybox");
    assert_eq!(bb.mode() & 0o7777, 0o755);
    let tmp = std::fs::metadata(root.join("tmp")).expect("tmp");
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    assert!(std::fs::symlink_metadata(root.join("usr/bin/env"))
        .expect("env")
        .file_type()
        .is_symlink());
    let out = std::process::Command::new(root.join("bin/busybox"))
        .arg("true")
        .status()
        .expect("run busybox");
    assert!(out.success());
    env.daemon().ferry_ok(&["image", "unmount", &mount]);
    assert!(!root.exists());
}

#[test]
fn multi_layer_whiteouts_and_opaque_dirs_apply_and_zstd_shares_snapshots() {
    let env = env();
    let reference = env.push(&fixtures::multi_layer(), "app/multi:1");
    env.daemon().ferry_ok(&["pull", &reference]);
    let mount = env
        .daemon()
        .ferry_ok(&["image", "mount", &reference])
        .stdout
        .trim()
        .to_string();
    let root = Path::new(&mount);
    assert!(
        !root.join("etc/issue").exists(),
        "whiteout hides the base's /etc/issue"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/motd")).expect("motd"),
        fixtures::MOTD
    );
    assert_eq!(
        entries(&root.join("opt/app")),
        vec!["only".to_string()],
        "opaque dir hides the base's files"
    );
    env.daemon().ferry_ok(&["image", "unmount", &reference]);

    let snaps = snapshot_dirs(env.daemon()).len();
    let zstd = fixtures::zstd();
    let zref = env.push(&zstd, "app/multi:zstd");
    let out = env.daemon().ferry_ok(&["pull", &zref]);
    assert!(out.stdout.contains("Already exists"), "{}", out.stdout);
    assert_eq!(
        snapshot_dirs(env.daemon()).len(),
        snaps,
        "same chain IDs share snapshots"
    );
    for d in zstd.layer_digests() {
        // Its own blobs are still fetched (and verified) once: push and save need them.
        assert_eq!(env.proxy().count_blob_gets(&d), 1, "{d}");
    }
    let images = env.daemon().ferry_ok(&["images"]).stdout;
    assert!(
        images.contains("zstd") && images.contains(" 1 "),
        "{images}"
    );
}

#[test]
fn shared_base_layer_is_fetched_and_unpacked_once() {
    let env = env();
    let base = fixtures::busybox();
    let derived = fixtures::sharing_base();
    let r1 = env.push(&base, "library/busybox:latest");
    let r2 = env.push(&derived, "app/derived:latest");
    env.daemon().ferry_ok(&["pull", &r1]);
    let snaps = snapshot_dirs(env.daemon()).len();
    let out = env.daemon().ferry_ok(&["pull", &r2]);
    assert!(out.stdout.contains("Already exists"), "{}", out.stdout);
    assert_eq!(
        env.proxy().count_blob_gets(&base.layer_digests()[0]),
        1,
        "base layer fetched once"
    );
    assert_eq!(
        snapshot_dirs(env.daemon()).len(),
        snaps + derived.layers.len() - 1
    );
}

#[test]
fn concurrent_pulls_of_one_image_download_each_blob_once() {
    let env = env();
    let img = fixtures::multi_layer();
    let reference = env.push(&img, "app/multi:1");
    std::thread::scope(|s| {
        let a = s.spawn(|| env.daemon().ferry(&["pull", &reference]));
        let b = s.spawn(|| env.daemon().ferry(&["pull", &reference]));
        for out in [a.join().expect("a"), b.join().expect("b")] {
            assert!(out.success(), "{out:?}\n{}", env.daemon().log());
        }
    });
    for d in img.layer_digests() {
        assert_eq!(env.proxy().count_blob_gets(&d), 1, "blob {d}");
    }
}

#[test]
fn index_pulls_host_platform_and_platform_flag_overrides() {
    let env = env();
    let index = fixtures::two_platform();
    let reference = env.push_index(&index, "multi/arch:1");
    env.daemon().ferry_ok(&["pull", &reference]);
    let host = index.image_for(fixtures::host_arch()).expect("host image");
    let images = env.daemon().ferry_ok(&["images", "--no-trunc"]).stdout;
    assert!(images.contains(host.id()), "{images}");
    assert!(env
        .daemon()
        .ferry_ok(&["pull", &reference])
        .stdout
        .contains(&format!("Digest: {}", index.manifest_digest)));

    let foreign = index
        .image_for(fixtures::foreign_arch())
        .expect("foreign image");
    let platform = format!("linux/{}", fixtures::foreign_arch());
    let r2 = env.push_index(&index, "multi/arch:2");
    env.daemon()
        .ferry_ok(&["pull", "--platform", &platform, &r2]);
    let images = env.daemon().ferry_ok(&["images", "--no-trunc"]).stdout;
    assert!(images.contains(foreign.id()), "{images}");
}

#[test]
fn no_matching_platform_commits_nothing() {
    let env = env();
    let reference = env.push_index(&fixtures::two_platform(), "multi/arch:1");
    let out = env
        .daemon()
        .ferry(&["pull", "--platform", "windows/amd64", &reference]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("windows/amd64"), "{}", out.stderr);
    assert_store_empty(env.daemon());
}

#[test]
fn a_single_platform_image_of_another_platform_is_refused_warm_or_cold() {
    let env = env();
    let reference = env.push(&fixtures::busybox(), "single/arch:1");
    let wanted = format!("linux/{}", fixtures::foreign_arch());
    // Cold: the config says another platform; nothing is committed.
    let cold = env
        .daemon()
        .ferry(&["pull", "--platform", &wanted, &reference]);
    assert_eq!(cold.code, Some(1), "{cold:?}");
    assert!(
        cold.stderr
            .contains("does not match the specified platform"),
        "{}",
        cold.stderr
    );
    assert_store_empty(env.daemon());
    // Warm: present, yet not "up to date" for another platform.
    env.ok(&["pull", &reference]);
    let warm = env
        .daemon()
        .ferry(&["pull", "--platform", &wanted, &reference]);
    assert_eq!(warm.code, Some(1), "{warm:?}");
    assert!(warm.stderr.contains(&wanted), "{}", warm.stderr);
    let host = format!("linux/{}", fixtures::host_arch());
    let same = env.ok(&["pull", "--platform", &host, &reference]);
    assert!(same.contains("Image is up to date"), "{same}");
}

/// CVE-2021-41190: a manifest whose mediaType says other than the registry's Content-Type.
#[test]
fn an_ambiguous_manifest_is_refused_and_commits_nothing() {
    let env = env();
    let img = fixtures::busybox();
    let reference = env.push(&img, "amb/one:1");
    let lying = if img.manifest_media_type.contains("oci") {
        "application/vnd.docker.distribution.manifest.v2+json"
    } else {
        "application/vnd.oci.image.manifest.v1+json"
    };
    env.proxy()
        .serve_manifest("/v2/amb/one/manifests/1", lying, img.manifest.clone());
    let out = env.daemon().ferry(&["pull", &reference]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("ambiguous manifest"), "{}", out.stderr);
    assert_store_empty(env.daemon());
}

#[test]
fn traversal_and_hardlink_escapes_are_refused_and_commit_nothing() {
    let env = env();
    for (name, img) in [
        ("traversal", fixtures::traversal()),
        ("hardlink", fixtures::hardlink_escape()),
    ] {
        let reference = env.push(&img, &format!("hostile/{name}:1"));
        let err = env.pull_fails(&reference);
        assert!(
            err.contains("escapes") || err.contains("outside"),
            "{name}: {err}"
        );
        assert_store_empty(env.daemon());
    }
    let tmp = env.daemon().data_root();
    let outside = tmp.parent().expect("parent");
    for stray in ["escape", "abs-escape", "x"] {
        assert!(
            !outside.join(stray).exists() && !tmp.join(stray).exists(),
            "{stray} escaped"
        );
    }
    assert!(!Path::new("/abs-escape").exists());
}

#[test]
fn symlinked_parents_resolve_inside_the_root() {
    let env = env();
    let reference = env.push(&fixtures::symlink_escape(), "hostile/symlink:1");
    env.daemon().ferry_ok(&["pull", &reference]);
    let mount = env
        .daemon()
        .ferry_ok(&["image", "mount", &reference])
        .stdout
        .trim()
        .to_string();
    let root = Path::new(&mount);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/owned")).expect("inside"),
        "owned\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("x")).expect("inside"),
        "x\n"
    );
    assert!(
        !Path::new("/etc/owned").exists(),
        "a symlinked parent wrote to the host"
    );
    let data = env.daemon().data_root();
    for dir in [
        data.clone(),
        data.join("snapshots"),
        data.parent().expect("parent").to_path_buf(),
    ] {
        assert!(
            !dir.join("x").exists(),
            "{} holds an escaped file",
            dir.display()
        );
    }
    env.daemon().ferry_ok(&["image", "unmount", &mount]);
}

#[test]
fn lying_diff_id_is_data_loss_and_commits_nothing() {
    let env = env();
    let reference = env.push(&fixtures::lying_diff_id(), "hostile/diff:1");
    let err = env.pull_fails(&reference);
    assert!(
        err.contains("digest mismatch") && err.contains("diff_id"),
        "{err}"
    );
    assert_store_empty(env.daemon());
}

#[test]
fn a_blob_whose_bytes_lie_is_refused_and_commits_nothing() {
    let env = env();
    let img = fixtures::multi_layer();
    let reference = env.push(&img, "app/multi:1");
    let bad = img.layer_digests()[1].clone();
    env.proxy().corrupt(&bad);
    let err = env.pull_fails(&reference);
    assert!(
        err.contains("digest mismatch") && err.contains(&bad),
        "{err}"
    );
    assert_store_empty(env.daemon());
}

#[test]
fn oversized_manifest_is_refused() {
    let env = env();
    let reference = env.push(&fixtures::busybox(), "library/busybox:big");
    env.proxy().replace_manifest(
        "/manifests/big",
        "application/vnd.oci.image.manifest.v1+json",
        5 << 20,
    );
    let err = env.pull_fails(&reference);
    assert!(
        err.contains("exceeds") || err.contains("too large"),
        "{err}"
    );
    assert_store_empty(env.daemon());
}

#[test]
fn schema1_and_unknown_media_types_are_named() {
    let env = env();
    let reference = env.push(&fixtures::busybox(), "library/busybox:old");
    let v1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    env.proxy().serve_manifest(
        "/manifests/old",
        v1,
        br#"{"schemaVersion":1,"name":"x","tag":"old"}"#.to_vec(),
    );
    let err = env.pull_fails(&reference);
    assert!(err.contains(v1), "{err}");
    let weird = "application/vnd.example.unknown+json";
    env.proxy()
        .serve_manifest("/manifests/old", weird, br#"{"schemaVersion":2}"#.to_vec());
    let err = env.pull_fails(&reference);
    assert!(err.contains(weird), "{err}");
    assert_store_empty(env.daemon());
}

#[test]
fn dropped_connection_resumes_with_a_range_request() {
    let env = env();
    let img = fixtures::busybox();
    let reference = env.push(&img, "library/busybox:latest");
    let layer = img.layer_digests()[0].clone();
    env.proxy().drop_after(&layer, 100_000, 1);
    env.daemon().ferry_ok(&["pull", &reference]);
    assert_eq!(
        env.proxy().count_blob_gets(&layer),
        2,
        "one cut, one resumed"
    );
    assert!(env
        .daemon()
        .ferry_ok(&["images", "-q"])
        .stdout
        .contains(&img.id()["sha256:".len()..][..12]));
}

#[test]
fn unreachable_registry_and_bad_references_are_clear_errors() {
    let env = env();
    let port = ferry_integration_tests::free_port();
    let err = env.pull_fails(&format!("127.0.0.1:{port}/library/busybox:latest"));
    assert!(
        err.contains(&format!("cannot reach registry 127.0.0.1:{port}")),
        "{err}"
    );
    for bad in ["Busybox", "busybox:", "a//b", "busybox@sha256:123"] {
        let err = env.pull_fails(bad);
        assert!(err.contains("invalid reference format"), "{bad}: {err}");
    }
    let missing = format!("{}/library/nothing:here", env.proxy().addr());
    let err = env.pull_fails(&missing);
    assert!(err.contains("not found"), "{err}");
    assert_store_empty(env.daemon());
}

#[test]
fn kill_9_mid_pull_then_restart_repairs_and_pull_succeeds() {
    let mut env = env();
    let img = fixtures::multi_layer();
    let reference = env.push(&img, "app/multi:1");
    // Layer 0 completes, layer 2 hangs mid-blob: the store then holds committed but
    // unreferenced pieces, an ingest file and a half-extracted snapshot.
    env.proxy().stall(&img.layer_digests()[2]);
    let mut child = env
        .daemon()
        .command(&["pull", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferry pull");
    let ingest = env.daemon().data_root().join("content/ingest");
    assert!(
        wait_until(Duration::from_secs(20), || !entries(&ingest).is_empty()),
        "pull never started"
    );
    std::thread::sleep(Duration::from_millis(300));
    env.daemon_mut().kill9();
    let _ = child.wait();
    env.proxy().clear_faults();
    env.daemon_mut().restart();
    assert_store_empty(env.daemon());
    env.daemon().ferry_ok(&["pull", &reference]);
    assert!(env
        .daemon()
        .ferry_ok(&["images", "-q"])
        .stdout
        .contains(&img.id()["sha256:".len()..][..12]));
}

#[test]
fn ctrl_c_cancels_the_pull_and_rolls_it_back() {
    let env = env();
    let img = fixtures::multi_layer();
    let reference = env.push(&img, "app/multi:1");
    env.proxy().stall(&img.layer_digests()[2]);
    let mut child = env
        .daemon()
        .command(&["pull", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ferry pull");
    let ingest = env.daemon().data_root().join("content/ingest");
    assert!(
        wait_until(Duration::from_secs(20), || !entries(&ingest).is_empty()),
        "pull never started"
    );
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait ferry");
    assert_eq!(status.code(), Some(130));
    assert!(
        wait_until(Duration::from_secs(10), || entries(&ingest).is_empty()
            && snapshot_dirs(env.daemon()).is_empty()),
        "cancelled pull left files: {:?}",
        snapshot_dirs(env.daemon())
    );
    assert_store_empty(env.daemon());
}

#[test]
fn two_daemons_with_their_own_roots_run_side_by_side() {
    let env = env();
    let other = Daemon::start(DaemonOpts::default());
    let reference = env.push(&fixtures::busybox(), "library/busybox:latest");
    env.daemon().ferry_ok(&["pull", &reference]);
    other.ferry_ok(&["pull", &reference]);
    assert_eq!(
        other.ferry_ok(&["images", "-q"]).stdout,
        env.daemon().ferry_ok(&["images", "-q"]).stdout
    );
    assert_ne!(other.data_root(), env.daemon().data_root());
}

#[test]
fn docker_hub_names_resolve_through_a_registry_mirror() {
    let env = Env::builder()
        .mirror()
        .push(fixtures::busybox(), BUSYBOX)
        .build();
    let daemon = env.daemon();
    let out = daemon.ferry_ok(&["pull", "busybox"]);
    assert!(
        out.stdout
            .starts_with("Using default tag: latest\nlatest: Pulling from library/busybox\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Status: Downloaded newer image for busybox:latest"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("docker.io/library/busybox:latest\n"),
        "{}",
        out.stdout
    );
    let images = daemon.ferry_ok(&["images"]).stdout;
    let row = images.lines().nth(1).expect("one image");
    assert!(
        row.starts_with("busybox ") && row.contains("latest"),
        "{images}"
    );
    let again = daemon
        .ferry_ok(&["pull", "docker.io/library/busybox:latest"])
        .stdout;
    assert!(
        again.contains("Status: Image is up to date for busybox:latest"),
        "{again}"
    );
}

/// Kubernetes' names go to their registry's mirror (`--registry-mirror registry.k8s.io=URL`),
/// as an air-gapped cluster needs, and keep their own name.
#[test]
fn registry_k8s_io_names_are_pulled_through_their_mirror_and_keep_their_name() {
    let env = Env::builder()
        .mirror_for("registry.k8s.io")
        .push(fixtures::busybox(), "pause:3.9")
        .build();
    let image = env.image("pause:3.9");
    let out = env.ok(&["pull", "registry.k8s.io/pause:3.9"]);
    assert!(
        out.contains(&format!("Digest: {}", image.manifest_digest))
            && out.ends_with("registry.k8s.io/pause:3.9\n"),
        "{out}"
    );
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(
        images,
        format!("registry.k8s.io/pause:3.9 {}\n", &image.id()[7..19])
    );
    let info = env.ok(&["info"]);
    let want = format!(
        "\n Registry Mirrors:\n  registry.k8s.io=http://{}\n",
        env.registry().addr()
    );
    assert!(info.contains(&want), "{info}");
}

#[test]
fn a_bad_registry_mirror_flag_is_refused_naming_it() {
    let out = std::process::Command::new(ferry_integration_tests::daemon::bin_dir().join("ferryd"))
        .args(["--registry-mirror", "registry.k8s.io=ftp://m.lan"])
        .output()
        .expect("run ferryd");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--registry-mirror")
            && stderr.contains(
                "invalid registry mirror \"registry.k8s.io=ftp://m.lan\": unsupported scheme \"ftp\""
            ),
        "{stderr}"
    );
}

#[test]
fn a_layer_over_the_decompressed_size_cap_is_refused() {
    // busybox-static alone decompresses to ~1 MB: a 64 KiB cap stands in for a gzip bomb.
    let env = Env::builder()
        .push(fixtures::multi_layer(), "app/multi:1")
        .daemon_arg("--max-layer-size")
        .daemon_arg("65536")
        .build();
    let reference = env.reference("app/multi:1");
    let out = env.ferry(&["pull", &reference]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("exceeds 65536 bytes"), "{}", out.stderr);
    assert_store_empty(env.daemon());
}

/// A decompression bomb: a few KiB that inflate a thousandfold. The ratio bound stops it and
/// the error names the layer, its size and the flag.
#[test]
fn a_layer_that_inflates_past_its_ratio_is_refused_and_commits_nothing() {
    let bomb = fixtures::ImageBuilder::new(fixtures::ManifestFormat::Oci)
        .layer(
            fixtures::LayerBuilder::new()
                .file("zeros", &vec![0u8; 4 << 20], 0o644)
                .finish(fixtures::Compression::Gzip),
        )
        .build();
    let digest = bomb.layer_digests()[0].clone();
    let env = Env::builder()
        .push(bomb, "bomb/zeros:1")
        .daemon_arg("--layer-ratio-allowance")
        .daemon_arg("1048576")
        .build();
    let out = env.ferry(&["pull", &env.reference("bomb/zeros:1")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    for part in [
        digest.as_str(),
        "bytes compressed",
        "--max-layer-ratio",
        "exceeds 1048576 bytes",
    ] {
        assert!(out.stderr.contains(part), "{part}: {}", out.stderr);
    }
    assert_store_empty(env.daemon());
}

#[test]
fn a_full_disk_is_a_clear_error_and_commits_nothing() {
    let env = env();
    let reference = env.push(&fixtures::multi_layer(), "app/multi:1");
    // The data root on a 1 MiB tmpfs: the busybox layer alone does not fit. No free-space
    // reserve, so the write itself meets ENOSPC (the reserve has its own test).
    let mut daemon = Daemon::start(DaemonOpts {
        args: vec!["--min-free-space".into(), "0".into()],
        ..DaemonOpts::default()
    });
    daemon.stop();
    let root = daemon.data_root();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&root)
        .status()
        .expect("mount tmpfs");
    assert!(status.success());
    daemon.restart();
    let out = daemon.ferry(&["pull", &reference]);
    let left = entries(&root.join("content/ingest")).len() + entries(&root.join("snapshots")).len();
    daemon.kill9();
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&root)
        .status();
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("no space left on"), "{}", out.stderr);
    assert_eq!(left, 0, "a failed pull left files behind");
}

/// A pull stops before the data root's free space falls under the reserve, naming the flag,
/// and commits nothing.
#[test]
fn a_pull_that_would_eat_the_free_space_reserve_is_stopped() {
    let env = Env::builder()
        .push(fixtures::multi_layer(), "app/multi:1")
        .daemon_arg("--min-free-space")
        .daemon_arg("1152921504606846976")
        .build();
    let out = env.ferry(&["pull", &env.reference("app/multi:1")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("--min-free-space"), "{}", out.stderr);
    assert!(out.stderr.contains("bytes free"), "{}", out.stderr);
    assert_store_empty(env.daemon());
}

/// OCI layers stored as plain tar (`…layer.v1.tar`) pull like compressed ones: the blob digest
/// and the diff_id are the same bytes, and the unpacked tree is the image's.
#[test]
fn uncompressed_layers_pull_and_unpack() {
    let env = env();
    let img = fixtures::uncompressed();
    let reference = env.push(&img, "plain/tar:1");
    env.daemon().ferry_ok(&["pull", &reference]);
    let images = env.daemon().ferry_ok(&["images", "--no-trunc"]).stdout;
    assert!(images.contains(img.id()), "{images}");
    let dirs = snapshot_dirs(env.daemon());
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(dirs[0].join("fs/bin/busybox").is_file());
}

/// A Docker manifest list (not an OCI index) resolves to the host's platform too.
#[test]
fn docker_manifest_list_pulls_the_host_platform() {
    let env = env();
    let list = fixtures::two_platform_docker();
    let reference = env.push_index(&list, "multi/docker:1");
    let out = env.daemon().ferry_ok(&["pull", &reference]);
    assert!(
        out.stdout
            .contains(&format!("Digest: {}", list.manifest_digest)),
        "{}",
        out.stdout
    );
    let host = list.image_for(fixtures::host_arch()).expect("host image");
    let images = env.daemon().ferry_ok(&["images", "--no-trunc"]).stdout;
    assert!(images.contains(host.id()), "{images}");
}
