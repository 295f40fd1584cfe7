//! Local image management end to end: `images` (flags, filters, formats), `tag`, `image inspect`,
//! `history`, `rmi` (Docker's messages and conflicts), dangling images, `image prune`, `system df`,
//! GC of shared layers and a kill -9 right after `rmi`. A real docker-registry, a real ferryd,
//! the real CLI; images built in code.

use std::path::Path;

use serde_json::{json, Value};

use ferry_integration_tests::checks::entries;
use ferry_integration_tests::fixtures::{self, Compression, Image, ImageBuilder, ManifestFormat};
use ferry_integration_tests::{Daemon, Env};

fn id12(image: &Image) -> String {
    image.id()["sha256:".len()..][..12].to_string()
}

/// busybox's layer with a config of its own (labels): another image ID, the same snapshot.
fn labelled(labels: Value) -> Image {
    ImageBuilder::new(ManifestFormat::Docker)
        .layer(fixtures::busybox_layer(Compression::Gzip))
        .config_field("Labels", labels)
        .build()
}

fn snapshot_count(d: &Daemon) -> usize {
    entries(&d.data_root().join("snapshots")).len()
}

fn blob_count(d: &Daemon) -> usize {
    entries(&d.data_root().join("content/blobs/sha256")).len()
}

fn assert_store_empty(env: &Env) {
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert_eq!(snapshot_count(env.daemon()), 0, "snapshots left");
    assert_eq!(blob_count(env.daemon()), 0, "blobs left");
}

#[test]
fn images_lists_with_flags_filters_and_formats() {
    let env = Env::start();
    let bb = fixtures::busybox();
    let app = labelled(json!({"team": "ferry"}));
    let r1 = env.pull(&bb, "library/busybox:latest");
    let r2 = env.pull(&app, "app/web:1");
    let addr = env.registry().addr();

    let rows = env.lines(&["images"]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[0].starts_with("REPOSITORY")
            && rows[0].contains("TAG")
            && rows[0].contains("IMAGE ID")
            && rows[0].contains("CREATED")
            && rows[0].ends_with("SIZE")
    );
    assert!(rows
        .iter()
        .any(|r| r.starts_with(&format!("{addr}/library/busybox "))
            && r.contains(&id12(&bb))
            && r.contains(" ago ")));

    let mut q = env.lines(&["images", "-q"]);
    q.sort();
    let mut want = vec![id12(&bb), id12(&app)];
    want.sort();
    assert_eq!(q, want);
    let full = env.ok(&["images", "-q", "--no-trunc"]);
    assert!(full.contains(bb.id()) && full.contains(app.id()), "{full}");
    assert_eq!(env.lines(&["image", "ls", "-a", "-q"]).len(), 2);

    let mut named = env.lines(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    named.sort();
    let mut want = vec![r1.clone(), r2.clone()];
    want.sort();
    assert_eq!(named, want);

    let digests = env.ok(&["images", "--digests"]);
    assert!(
        digests.lines().next().is_some_and(|h| h.contains("DIGEST")),
        "{digests}"
    );
    assert!(digests.contains(&bb.manifest_digest), "{digests}");

    for line in env.lines(&["images", "--format", "json"]) {
        let v: Value = serde_json::from_str(&line).expect("json line");
        for k in ["ID", "Repository", "Tag", "Digest", "CreatedSince", "Size"] {
            assert!(v.get(k).is_some(), "{k} in {line}");
        }
    }
    let table = env.lines(&["images", "--format", "table {{.ID}}\t{{.Tag}}"]);
    assert!(
        table[0].starts_with("IMAGE ID") && table[0].ends_with("TAG"),
        "{table:?}"
    );

    let by_label = env.lines(&["images", "-q", "--filter", "label=team=ferry"]);
    assert_eq!(by_label, [id12(&app)]);
    assert_eq!(
        env.lines(&["images", "-q", "-f", "label=team"]),
        [id12(&app)]
    );
    let by_ref = env.lines(&["images", "-q", "--filter", "reference=*/app/*"]);
    assert_eq!(by_ref, [id12(&app)]);
    // A positional pattern is the same filter (`docker images 'bus*'`).
    assert_eq!(env.lines(&["images", "-q", "*/app/*"]), [id12(&app)]);
    assert_eq!(
        env.lines(&["images", "-q", "--filter", "dangling=true"])
            .len(),
        0
    );
    assert_eq!(
        env.lines(&["images", "-q", "--filter", "dangling=false"])
            .len(),
        2
    );
    assert_eq!(
        env.lines(&["images", "-q", &format!("{addr}/app/web")]),
        [id12(&app)]
    );
    assert_eq!(
        env.lines(&["images", "-q", &format!("{addr}/app/web:2")])
            .len(),
        0
    );

    let bad = env.fails(&["images", "--filter", "color=red"]);
    assert_eq!(
        bad.stderr.trim(),
        "Error response from daemon: invalid filter 'color'"
    );
    let bad = env.fails(&["images", "--filter", "dangling=maybe"]);
    assert!(
        bad.stderr.contains("invalid filter 'dangling=maybe'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn tag_inspect_and_history_name_images_every_way() {
    let env = Env::start();
    let bb = fixtures::busybox();
    let r1 = env.pull(&bb, "library/busybox:latest");
    let addr = env.registry().addr();
    let out = env.daemon().ferry_ok(&["tag", &r1, "mine:1"]);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    env.ok(&["image", "tag", &id12(&bb), "other/name"]);
    let rows = env.ok(&["images"]);
    assert!(
        rows.lines()
            .any(|l| l.starts_with("mine ") && l.contains(" 1 ") && l.contains(&id12(&bb))),
        "{rows}"
    );
    assert!(
        rows.lines()
            .any(|l| l.starts_with("other/name ") && l.contains("latest")),
        "{rows}"
    );

    let by_digest = format!("{addr}/library/busybox@{}", bb.manifest_digest);
    for name in ["mine:1", &id12(&bb), &bb.id()[..20], bb.id(), &by_digest] {
        let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", name])).expect("json");
        let img = &v[0];
        assert_eq!(img["Id"], json!(bb.id()), "{name}");
        let tags = img["RepoTags"].as_array().expect("RepoTags");
        assert!(
            tags.contains(&json!("mine:1"))
                && tags.contains(&json!(r1))
                && tags.contains(&json!("other/name:latest")),
            "{tags:?}"
        );
        assert!(img["RepoDigests"]
            .as_array()
            .expect("RepoDigests")
            .contains(&json!(by_digest)));
        assert_eq!(img["Config"]["Cmd"], json!(["sh"]));
        assert!(img["Config"]["Env"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("PATH=")));
        assert_eq!(img["Config"]["Entrypoint"], Value::Null);
        assert_eq!(img["Config"]["WorkingDir"], json!(""));
        assert_eq!(
            img["RootFS"],
            json!({"Type": "layers", "Layers": bb.diff_ids()})
        );
        assert_eq!(img["Os"], json!("linux"));
        assert_eq!(img["Architecture"], json!(fixtures::host_arch()));
        assert!(img["Size"].as_u64().is_some_and(|s| s > 100_000));
        assert!(img["Created"].as_str().is_some_and(|c| !c.is_empty()));
    }
    let fmt = env.ok(&["image", "inspect", "-f", "{{.Id}} {{.Os}}", "mine:1"]);
    assert_eq!(fmt, format!("{} linux\n", bb.id()));
    // Top-level inspect falls back to images; an unknown name is no object.
    let v: Value = serde_json::from_str(&env.ok(&["inspect", "mine:1"])).expect("json");
    assert_eq!(v[0]["Id"], json!(bb.id()));
    let out = env.fails(&["inspect", "nosuch"]);
    assert_eq!(out.stderr.trim(), "Error: No such object: nosuch");
    assert_eq!(out.stdout.trim(), "[]");
    let out = env.fails(&["image", "inspect", "mine:1", "nosuch"]);
    assert_eq!(out.stderr.trim(), "Error: No such image: nosuch");
    assert!(out.stdout.contains(bb.id()));

    let hist = env.lines(&["history", "mine:1"]);
    assert!(
        hist[0].starts_with("IMAGE")
            && hist[0].contains("CREATED BY")
            && hist[0].contains("SIZE")
            && hist[0].ends_with("COMMENT"),
        "{hist:?}"
    );
    assert_eq!(hist.len(), 1 + bb.layers.len());
    assert!(
        hist[1].starts_with(&id12(&bb))
            && hist[1].contains("ferry-integration-tests layer 0")
            && hist[1].contains("MB"),
        "{hist:?}"
    );
    assert_eq!(
        env.lines(&["image", "history", "-q", "--no-trunc", "mine:1"]),
        [bb.id()]
    );

    let out = env.fails(&["tag", "nosuch", "x:1"]);
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: No such image: nosuch:latest"
    );
    let out = env.fails(&["history", "nosuch"]);
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: No such image: nosuch:latest"
    );
    let out = env.fails(&["tag", "mine:1", "Bad:Name"]);
    assert!(
        out.stderr.contains("invalid reference format"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_ambiguous_short_id_is_an_error_naming_the_candidates() {
    let env = Env::start();
    // Two configs whose IDs share their first hex digit (17 tries always find one).
    let mut by_first: std::collections::HashMap<char, Image> = Default::default();
    let (a, b) = (0..17)
        .find_map(|i| {
            let img = labelled(json!({"n": i.to_string()}));
            let first = img.id()["sha256:".len()..].chars().next().expect("hex");
            match by_first.remove(&first) {
                Some(prev) => Some((prev, img)),
                None => {
                    by_first.insert(first, img);
                    None
                }
            }
        })
        .expect("pigeonhole");
    env.pull(&a, "amb/a:1");
    env.pull(&b, "amb/b:1");
    let prefix = &a.id()["sha256:".len()..][..1];
    for args in [
        &["image", "inspect", prefix][..],
        &["rmi", prefix],
        &["tag", prefix, "x:1"],
    ] {
        let out = env.fails(args);
        assert!(
            out.stderr.contains("ambiguous")
                && out.stderr.contains(a.id())
                && out.stderr.contains(b.id()),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(env.lines(&["images", "-q"]).len(), 2, "nothing removed");
}

#[test]
fn rmi_untags_deletes_and_refuses_as_docker() {
    let env = Env::start();
    let bb = fixtures::busybox();
    let r1 = env.pull(&bb, "library/busybox:latest");
    let addr = env.registry().addr();
    env.ok(&["tag", &r1, "mine:1"]);

    let out = env.fails(&["rmi", &id12(&bb)]);
    assert_eq!(
        out.stderr.trim(),
        format!("Error response from daemon: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", id12(&bb))
    );
    assert_eq!(env.ok(&["rmi", "mine:1"]), "Untagged: mine:1\n");
    let out = env.fails(&["rmi", "nosuch"]);
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: No such image: nosuch:latest"
    );

    // Several arguments: each is tried; exit 1 because one failed.
    let out = env.fails(&["rmi", "nosuch", &r1]);
    let chain = &bb.chain_ids()[0];
    assert_eq!(
        out.stdout,
        format!(
            "Untagged: {r1}\nUntagged: {addr}/library/busybox@{}\nDeleted: {}\nDeleted: {chain}\n",
            bb.manifest_digest,
            bb.id()
        )
    );
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: No such image: nosuch:latest"
    );
    assert_store_empty(&env);

    // -f on an image with several names removes them all; `rmi -f $(images -q)` empties the store.
    let r1 = env.pull(&bb, "library/busybox:latest");
    env.ok(&["tag", &r1, "a:1"]);
    env.ok(&["tag", &r1, "b:2"]);
    let derived = fixtures::sharing_base();
    env.pull(&derived, "app/derived:1");
    let out = env.ok(&["rmi", "-f", &id12(&bb)]);
    assert!(
        out.contains("Untagged: a:1\nUntagged: b:2\n")
            && out.contains(&format!("Deleted: {}", bb.id())),
        "{out}"
    );
    let ids = env.lines(&["images", "-q"]);
    let mut args = vec!["rmi", "-f"];
    args.extend(ids.iter().map(String::as_str));
    args.push("nosuch");
    env.ok(&args);
    assert_store_empty(&env);
}

#[test]
fn removal_collects_layers_no_other_image_uses() {
    let env = Env::start();
    let base = fixtures::busybox();
    let derived = fixtures::sharing_base();
    let r1 = env.pull(&base, "library/busybox:latest");
    let r2 = env.pull(&derived, "app/derived:latest");
    assert_eq!(snapshot_count(env.daemon()), 2);
    let out = env.ok(&["rmi", &r1]);
    assert!(out.contains(&format!("Deleted: {}\n", base.id())), "{out}");
    assert!(
        !out.contains(&base.chain_ids()[0]),
        "shared base layer kept: {out}"
    );
    assert_eq!(snapshot_count(env.daemon()), 2);
    let mount = env.ok(&["image", "mount", &r2]).trim().to_string();
    assert!(Path::new(&mount).join("bin/busybox").exists());
    assert!(Path::new(&mount).join("srv/www/index.html").exists());
    env.ok(&["image", "unmount", &mount]);

    let out = env.ok(&["rmi", &r2]);
    let chains = derived.chain_ids();
    assert!(
        out.ends_with(&format!(
            "Deleted: {}\nDeleted: {}\nDeleted: {}\n",
            derived.id(),
            chains[1],
            chains[0]
        )),
        "{out}"
    );
    assert_store_empty(&env);
}

#[test]
fn a_repull_keeps_the_old_image_dangling_until_pruned() {
    let env = Env::start();
    let old = fixtures::busybox();
    let new = labelled(json!({"v": "2"}));
    let reference = env.pull(&old, "app/x:1");
    let reference2 = env.pull(&new, "app/x:1");
    assert_eq!(reference, reference2);
    let rows = env.ok(&["images"]);
    assert!(
        rows.lines()
            .any(|l| l.starts_with("<none>") && l.contains(&id12(&old))),
        "{rows}"
    );
    assert_eq!(
        env.lines(&["images", "-q", "-f", "dangling=true"]),
        [id12(&old)]
    );
    let fmt = env.lines(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        fmt.contains(&format!("<none>:<none> {}", id12(&old))),
        "{fmt:?}"
    );
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", &id12(&old)])).expect("json");
    assert_eq!(v[0]["RepoTags"], json!([]));

    // No confirmation (stdin is empty): nothing happens.
    let out = env.ok(&["image", "prune"]);
    assert!(out.starts_with("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "), "{out}");
    assert_eq!(env.lines(&["images", "-q"]).len(), 2);

    let out = env.ok(&["image", "prune", "-f"]);
    assert_eq!(
        out,
        format!(
            "Deleted Images:\ndeleted: {}\n\nTotal reclaimed space: 0B\n",
            old.id()
        )
    );
    assert_eq!(env.lines(&["images", "-q"]), [id12(&new)]);
    assert_eq!(
        env.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );

    let df = env.lines(&["system", "df"]);
    assert_eq!(
        df[0].split_whitespace().collect::<Vec<_>>(),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    assert!(
        df[1].starts_with("Images") && df[1].contains("(100%)"),
        "{df:?}"
    );
    assert_eq!(df[1].split_whitespace().nth(1), Some("1"));
    assert!(
        df[2].starts_with("Containers      0         0         0B        0B"),
        "{df:?}"
    );
    assert!(df[3].starts_with("Local Volumes") && df[4].starts_with("Build Cache"));
    assert!(env
        .ok(&["system", "df", "-v"])
        .contains("Images space usage:"));

    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.starts_with(&format!("Deleted Images:\nuntagged: {reference}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "deleted: {}\ndeleted: {}\n",
            new.id(),
            new.chain_ids()[0]
        )),
        "{out}"
    );
    assert!(
        out.contains("Total reclaimed space: ") && !out.contains("space: 0B"),
        "{out}"
    );
    assert_store_empty(&env);
}

#[test]
fn containers_hold_their_images() {
    let env = Env::start();
    let bb = fixtures::busybox();
    let reference = env.pull(&bb, "library/busybox:latest");
    let cid = env
        .ok(&["create", "--name", "c1", &reference, "sleep", "1000"])
        .trim()
        .to_string();
    let c12 = &cid[..12];

    let out = env.fails(&["rmi", &reference]);
    assert_eq!(
        out.stderr.trim(),
        format!("Error response from daemon: conflict: unable to remove repository reference \"{reference}\" (must force) - container {c12} is using its referenced image {}", id12(&bb))
    );
    let out = env.fails(&["rmi", &id12(&bb)]);
    assert_eq!(
        out.stderr.trim(),
        format!("Error response from daemon: conflict: unable to delete {} (must be forced) - image is being used by stopped container {c12}", id12(&bb))
    );
    // -f untags; the image stays, untagged, for its container.
    let out = env.ok(&["rmi", "-f", &reference]);
    assert!(
        out.starts_with(&format!("Untagged: {reference}\n")) && !out.contains("Deleted"),
        "{out}"
    );
    assert_eq!(
        env.lines(&["images", "-q", "-f", "dangling=true"]),
        [id12(&bb)]
    );
    assert_eq!(snapshot_count(env.daemon()), 1);
    assert_eq!(
        env.ok(&["image", "prune", "-a", "-f"]),
        "Total reclaimed space: 0B\n"
    );

    let rid = env
        .ok(&["run", "-d", "--name", "r1", &id12(&bb), "sleep", "1000"])
        .trim()
        .to_string();
    let out = env.fails(&["rmi", "-f", &id12(&bb)]);
    assert_eq!(
        out.stderr.trim(),
        format!("Error response from daemon: conflict: unable to delete {} (cannot be forced) - image is being used by running container {}", id12(&bb), &rid[..12])
    );
    let df = env.lines(&["system", "df"]);
    assert!(df[1].starts_with("Images          1         1 "), "{df:?}");
    assert!(df[2].starts_with("Containers      2         1 "), "{df:?}");

    env.ok(&["rm", "-f", "r1", "c1"]);
    let out = env.ok(&["rmi", &id12(&bb)]);
    assert_eq!(
        out,
        format!("Deleted: {}\nDeleted: {}\n", bb.id(), bb.chain_ids()[0])
    );
    assert_store_empty(&env);
}

#[test]
fn kill_9_right_after_rmi_leaves_no_image_with_missing_layers() {
    let mut env = Env::start();
    let base = fixtures::busybox();
    let derived = fixtures::sharing_base();
    let r1 = env.pull(&base, "library/busybox:latest");
    let r2 = env.pull(&derived, "app/derived:latest");
    env.ok(&["rmi", &r2]);
    env.daemon_mut().kill9();
    env.daemon_mut().restart();
    assert_eq!(env.lines(&["images", "-q"]), [id12(&base)]);
    let mount = env.ok(&["image", "mount", &r1]).trim().to_string();
    assert!(Path::new(&mount).join("bin/busybox").exists());
    env.ok(&["image", "unmount", &mount]);
    assert_eq!(snapshot_count(env.daemon()), 1);
    assert_eq!(
        blob_count(env.daemon()),
        3,
        "manifest, config and layer of busybox"
    );
    env.fails(&["image", "inspect", &r2]);
    env.ok(&["rmi", &r1]);
    assert_store_empty(&env);
}
