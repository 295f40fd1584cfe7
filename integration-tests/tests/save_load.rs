//! `ferry save` and `ferry load` end to end: round trips through Docker 25's archive format,
//! several images in one archive, a tag moved by a load, interop with skopeo in both
//! directions, and hostile archives that must fail with the right error and commit nothing.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use ferry_integration_tests::checks::assert_store_empty;
use ferry_integration_tests::fixtures::{self, Image};
use ferry_integration_tests::Env;

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tar entry written with its raw name, as a hostile archive would (`tar` refuses `..`).
fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_cksum();
    b.append(&h, data).expect("append");
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", &digest["sha256:".len()..])
}

/// A plain OCI layout archive of `image` named `name`; `edit` may change its entries.
fn oci_archive(
    image: &Image,
    name: Option<&str>,
    edit: impl Fn(&mut Vec<(String, Vec<u8>)>),
) -> Vec<u8> {
    let annotations = match name {
        Some(n) => json!({"org.opencontainers.image.ref.name": n}),
        None => json!({}),
    };
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": image.manifest_media_type,
            "digest": image.manifest_digest,
            "size": image.manifest.len(),
            "annotations": annotations,
        }],
    });
    let mut entries = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".to_string(),
            serde_json::to_vec(&index).expect("json"),
        ),
        (blob_path(&image.manifest_digest), image.manifest.clone()),
    ];
    for (d, bytes) in image.blobs() {
        entries.push((blob_path(d), bytes.to_vec()));
    }
    edit(&mut entries);
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in &entries {
        append(&mut b, p, data);
    }
    b.into_inner().expect("tar")
}

fn tar_entries(path: &str) -> Vec<String> {
    let f = std::fs::File::open(path).expect("open archive");
    let mut a = tar::Archive::new(f);
    a.entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect()
}

fn read_entry(path: &str, name: &str) -> Value {
    let f = std::fs::File::open(path).expect("open archive");
    let mut a = tar::Archive::new(f);
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").display().to_string() == name {
            return serde_json::from_reader(&mut e).expect("json entry");
        }
    }
    panic!("{name} not in {path}");
}

#[test]
fn save_rmi_load_round_trip_keeps_the_image_id_and_runs() {
    let env = Env::start();
    let image = fixtures::busybox();
    let reference = env.pull(&image, "saved/busybox:latest");
    let archive = env.scratch_path("busybox.tar");
    env.ok(&["save", "-o", &archive, &reference]);

    let names = tar_entries(&archive);
    for want in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    assert!(
        names.contains(&blob_path(&image.layers[0].digest)),
        "original layer blob kept"
    );
    let manifest = read_entry(&archive, "manifest.json");
    assert_eq!(manifest[0]["RepoTags"], json!([reference]));
    assert_eq!(manifest[0]["Config"], blob_path(image.id()));
    let index = read_entry(&archive, "index.json");
    assert_eq!(index["manifests"][0]["digest"], image.manifest_digest);
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        reference
    );

    // Without -o the archive goes to stdout (a file here, not a terminal): the same bytes.
    let piped = env.scratch_path("piped.tar");
    let status = env
        .daemon()
        .command(&["save", &reference])
        .stdout(std::fs::File::create(&piped).expect("create"))
        .status()
        .expect("run ferry");
    assert!(status.success());
    assert_eq!(std::fs::read(&piped).ok(), std::fs::read(&archive).ok());

    env.ok(&["rmi", &reference]);
    assert_store_empty(env.daemon());
    // From stdin first, then again from a file: the second load changes nothing.
    let out = env
        .daemon()
        .command(&["load", "-q"])
        .stdin(std::fs::File::open(&piped).expect("open"))
        .output()
        .expect("run ferry");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Loaded image: {reference}\n")
    );
    let loaded = env.ok(&["load", "-i", &archive]);
    assert_eq!(loaded, format!("Loaded image: {reference}\n"));
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &reference]);
    assert_eq!(id.trim(), image.id());
    assert!(env
        .ok(&["images"])
        .contains(&format!("{}/saved/busybox", env.registry().addr())));
    assert_eq!(env.ok(&["run", "--rm", &reference, "echo", "hi"]), "hi\n");
}

#[test]
fn save_refuses_a_terminal_and_unknown_images() {
    let env = Env::start();
    // `script` gives the CLI a pseudo-terminal as stdout.
    let ferry = ferry_integration_tests::daemon::bin_dir().join("ferry");
    let cmd = format!(
        "{} -H {} save busybox; echo status=$?",
        ferry.display(),
        env.daemon().host()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{out}"
    );
    assert!(out.contains("status=1"), "{out}");
    let out = env.fails(&["save", "-o", &env.scratch_path("x.tar"), "nosuch:image"]);
    assert!(
        out.stderr.contains("No such image") || out.stderr.contains("no such image"),
        "{out:?}"
    );
    assert!(!Path::new(&env.scratch_path("x.tar")).exists());
}

#[test]
fn two_images_in_one_archive_load_together_and_a_load_moves_a_tag() {
    let env = Env::start();
    let one = fixtures::busybox();
    let two = fixtures::multi_layer();
    let r1 = env.pull(&one, "pair/one:1");
    let r2 = env.pull(&two, "pair/two:2");
    let archive = env.scratch_path("pair.tar");
    env.ok(&["save", "-o", &archive, &r1, &r2]);
    env.ok(&["rmi", &r1, &r2]);
    assert_store_empty(env.daemon());
    let loaded = env.ok(&["load", "-i", &archive]);
    assert_eq!(loaded, format!("Loaded image: {r1}\nLoaded image: {r2}\n"));
    for (r, img) in [(&r1, &one), (&r2, &two)] {
        let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", r]);
        assert_eq!(id.trim(), img.id());
    }

    // r1 now names the other image; loading the archive moves it back, Docker's way.
    env.ok(&["tag", &r2, &r1]);
    let out = env.ok(&["load", "-i", &archive]);
    assert!(
        out.contains(&format!(
            "The image {r1} already exists, renaming the old one with ID {} to empty string",
            two.id()
        )),
        "{out}"
    );
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &r1]);
    assert_eq!(id.trim(), one.id());
}

#[test]
fn skopeo_reads_what_ferry_saves() {
    let env = Env::start();
    let image = fixtures::busybox();
    let reference = env.pull(&image, "tosk/busybox:latest");
    let archive = env.scratch_path("for-skopeo.tar");
    env.ok(&["save", "-o", &archive, &reference]);
    let docker: Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("docker-archive:{archive}")]))
            .expect("skopeo json");
    // The docker-archive transport names layers by their diff IDs: it reads manifest.json and
    // the config, decompressing layers, and writes a manifest of its own (so its Digest differs).
    assert_eq!(docker["Layers"], json!(image.diff_ids()), "{docker}");
    let oci: Value = serde_json::from_str(&skopeo(&["inspect", &format!("oci-archive:{archive}")]))
        .expect("skopeo json");
    assert_eq!(oci["Digest"], image.manifest_digest, "{oci}");
    // Copying reads (and verifies) every blob through both transports.
    for transport in ["docker-archive", "oci-archive"] {
        let dir = env.scratch_path(&format!("copied-{transport}"));
        skopeo(&[
            "copy",
            &format!("{transport}:{archive}"),
            &format!("dir:{dir}"),
        ]);
    }
}

#[test]
fn ferry_loads_what_skopeo_copies() {
    let env = Env::start();
    let image = fixtures::multi_layer();
    image.push(&env.registry().addr(), "fromsk/multi:v1");
    let src = format!("docker://{}/fromsk/multi:v1", env.registry().addr());
    let docker = env.scratch_path("skopeo-docker.tar");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("docker-archive:{docker}:fromsk/multi:v1"),
    ]);
    let out = env.ok(&["load", "-i", &docker]);
    assert_eq!(out, "Loaded image: fromsk/multi:v1\n");
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", "fromsk/multi:v1"]);
    assert_eq!(id.trim(), image.id());
    assert_eq!(
        env.ok(&["run", "--rm", "fromsk/multi:v1", "echo", "hi"]),
        "hi\n"
    );

    let oci = env.scratch_path("skopeo-oci.tar");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{oci}:fromsk/oci:v2"),
    ]);
    let out = env.ok(&["load", "-i", &oci]);
    assert_eq!(out, "Loaded image: fromsk/oci:v2\n");
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", "fromsk/oci:v2"]);
    assert_eq!(id.trim(), image.id());
}

#[test]
fn an_unnamed_image_loads_untagged() {
    let env = Env::start();
    let image = fixtures::busybox();
    let archive = env.scratch_write("unnamed.tar", &oci_archive(&image, None, |_| {}));
    let out = env.ok(&["load", "-i", &archive]);
    assert_eq!(out, format!("Loaded image ID: {}\n", image.id()));
    assert!(env.ok(&["images"]).contains("<none>"));
}

/// Loads `bytes`, expects failure with `needle` in the message, and an untouched store.
fn assert_rejected(env: &Env, name: &str, bytes: &[u8], needle: &str) {
    let archive = env.scratch_write(name, bytes);
    let out = env.fails(&["load", "-i", &archive]);
    assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
    assert_store_empty(env.daemon());
}

#[test]
fn hostile_archives_fail_and_commit_nothing() {
    let env = Env::start();
    let image = fixtures::busybox();
    let layer = blob_path(&image.layers[0].digest);
    let traversal = oci_archive(&image, Some("bad/one:1"), |e| {
        e.push(("../../escape".into(), b"x".to_vec()))
    });
    assert_rejected(&env, "traversal.tar", &traversal, "escapes the archive");
    let lying_blob = oci_archive(&image, Some("bad/two:1"), |e| {
        let l = e
            .iter_mut()
            .find(|(p, _)| *p == layer)
            .expect("layer entry");
        l.1[100] ^= 0xff;
    });
    assert_rejected(&env, "lying-blob.tar", &lying_blob, "digest mismatch");
    let missing = oci_archive(&image, Some("bad/three:1"), |e| {
        e.retain(|(p, _)| *p != layer)
    });
    assert_rejected(&env, "missing.tar", &missing, "lacks blob");
    let lying_diff = oci_archive(&fixtures::lying_diff_id(), Some("bad/four:1"), |_| {});
    assert_rejected(&env, "lying-diff.tar", &lying_diff, "diff_id");
    let link = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "index.json", "/etc/passwd")
            .expect("link");
        b.into_inner().expect("tar")
    };
    assert_rejected(&env, "link.tar", &link, "points outside the archive");
    let huge = {
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, "manifest.json", &vec![b' '; (4 << 20) + 1]);
        b.into_inner().expect("tar")
    };
    assert_rejected(&env, "huge.tar", &huge, "manifest.json exceeds");
    assert_rejected(&env, "garbage.tar", b"not a tar at all", "invalid archive");
    // A transfer cut short (a client that died mid-upload looks the same to ferryd).
    let whole = oci_archive(&image, Some("bad/five:1"), |_| {});
    let cut = &whole[..whole.len() * 3 / 5];
    assert_rejected(&env, "truncated.tar", cut, "invalid archive");
}
