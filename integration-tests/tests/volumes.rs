//! Named and anonymous volumes end to end, as Docker 28 behaves: create, ls, inspect, use from
//! containers, seeding from the image, refusal while in use, `rm -v`, prune.

use ferry_integration_tests::Env;

#[test]
fn named_volumes_keep_data_between_containers_and_refuse_removal_while_used() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    assert_eq!(
        env.ok_trim(&["volume", "create", "--label", "tier=db", "data"]),
        "data"
    );
    let ls = env.ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER    VOLUME NAME\n"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", "data"]),
        "{ls}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", "data"])).expect("inspect json");
    assert_eq!(v[0]["Name"], "data");
    assert_eq!(v[0]["Labels"]["tier"], "db");
    let mountpoint = v[0]["Mountpoint"].as_str().expect("mountpoint").to_string();
    assert!(mountpoint.ends_with("/volumes/data/_data"), "{mountpoint}");

    env.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let read = env.ok(&["run", "--rm", "-v", "data:/data", &image, "cat", "/data/f"]);
    assert_eq!(read, "kept\n");
    let c = env.inspect("writer");
    assert_eq!(c["Mounts"][0]["Name"], "data");
    assert_eq!(c["Mounts"][0]["Source"], mountpoint.as_str());

    let busy = env.fails(&["volume", "rm", "data"]);
    assert!(busy.stderr.contains("volume is in use"), "{}", busy.stderr);
    assert_eq!(
        env.ok_trim(&["volume", "ls", "-q", "--filter", "dangling=false"]),
        "data"
    );
    env.ok(&["rm", "writer"]);
    assert_eq!(env.ok_trim(&["volume", "rm", "data"]), "data");
    assert!(env.ok_trim(&["volume", "ls", "-q"]).is_empty());
    // -f ignores a volume that is not there.
    env.ok(&["volume", "rm", "-f", "data"]);
}

#[test]
fn a_new_volume_is_seeded_from_the_image() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    // Mounted over /bin: the container can run only if the volume got the image's /bin.
    let out = env.ok(&["run", "--rm", "-v", "tools:/bin", &image, "/bin/ls", "/bin"]);
    assert!(out.lines().any(|l| l == "sh"), "{out}");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_prune_keeps_named_ones_unless_all() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/scratch",
        &image,
        "touch",
        "/scratch/x",
    ]);
    let names = env.lines(&["volume", "ls", "-q"]);
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(names[0].len(), 64, "{names:?}");
    env.ok(&["rm", "-v", "anon"]);
    assert!(env.lines(&["volume", "ls", "-q"]).is_empty());

    env.ok(&["volume", "create", "keep"]);
    let pruned = env.ok(&["volume", "prune", "-f"]);
    assert_eq!(pruned, "Total reclaimed space: 0B\n");
    let all = env.ok(&["volume", "prune", "-a", "-f"]);
    assert!(all.starts_with("Deleted Volumes:\nkeep\n"), "{all}");
    assert!(env.lines(&["volume", "ls", "-q"]).is_empty());
}

#[test]
fn system_prune_takes_stopped_containers_unused_networks_and_anonymous_volumes() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&["run", "--name", "done", "-v", "/scratch", &image, "true"]);
    let id = env.ok_trim(&["inspect", "--format", "{{.Id}}", "done"]);
    env.ok(&["run", "-d", "--name", "alive", &image, "sleep", "300"]);
    let net = format!("prune{}", ferry_integration_tests::rand_u32());
    env.ok(&["network", "create", &net]);
    env.ok(&["volume", "create", "named"]);
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.starts_with(&format!(
            "Deleted Containers:\n{id}\n\nDeleted Networks:\n{net}\n\nDeleted Volumes:\n"
        )),
        "{out}"
    );
    assert!(
        out.ends_with("Total reclaimed space: 0B\n") || out.contains("Total reclaimed space:"),
        "{out}"
    );
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(ps, "alive\n");
    // Named volumes stay: only anonymous ones go with --volumes.
    assert_eq!(env.ok_trim(&["volume", "ls", "-q"]), "named");
    env.ok(&["rm", "-f", "alive"]);
}

#[test]
fn inspect_finds_any_object_and_type_narrows_it() {
    let env = Env::builder().with_busybox().build();
    env.ok(&["volume", "create", "thing"]);
    assert_eq!(
        env.ok_trim(&["inspect", "--format", "{{.Name}}", "thing"]),
        "thing"
    );
    assert_eq!(
        env.ok_trim(&[
            "inspect",
            "--type",
            "volume",
            "--format",
            "{{.Driver}}",
            "thing"
        ]),
        "local"
    );
    let wrong = env.fails(&["inspect", "--type", "container", "thing"]);
    assert_eq!(wrong.stderr.trim(), "Error: No such container: thing");
    let none = env.fails(&["inspect", "nosuchthing"]);
    assert_eq!(none.stderr.trim(), "Error: No such object: nosuchthing");
    let image = env.busybox();
    let id = env.ok_trim(&["inspect", "--type", "image", "--format", "{{.Id}}", &image]);
    assert!(id.starts_with("sha256:"), "{id}");
}
