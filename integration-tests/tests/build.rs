//! `ferry build` end to end: a Dockerfile FROM the busybox fixture with RUN, COPY (and
//! .dockerignore), ADD of a local tar, ENV, WORKDIR, USER and CMD, built by a real ferryd through real ferry-shims;
//! the result runs, pushes and saves; a rebuild is all CACHED with the same image ID; a changed file re-runs its
//! COPY and what follows; a failing RUN names the step and commits nothing; multi-stage with
//! COPY --from and --target; the cache across a ferryd restart; builder prune leaves nothing; a bad Dockerfile is refused before anything runs.

use std::path::PathBuf;

use ferry_integration_tests::checks::assert_store_empty;
use ferry_integration_tests::{CmdOutput, Env};

/// A build context in the scratch directory: `files` as (path, contents).
fn context(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = PathBuf::from(env.scratch_path(name));
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::write(&p, body).expect("write context file");
    }
    dir
}

/// A plain tar of `(path, contents)` files, owned by root, mtime 0.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, path, *body).expect("append");
    }
    b.into_inner().expect("finish")
}

fn build(env: &Env, dir: &std::path::Path, extra: &[&str]) -> CmdOutput {
    let d = dir.display().to_string();
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(&d);
    env.ferry(&args)
}

fn built_ok(env: &Env, dir: &std::path::Path, extra: &[&str]) -> CmdOutput {
    let out = build(env, dir, extra);
    assert_eq!(
        out.code,
        Some(0),
        "build failed: {out:?}\n{}",
        env.daemon().log()
    );
    out
}

fn image_id(env: &Env, name: &str) -> String {
    env.ok_trim(&["image", "inspect", "--format", "{{.Id}}", name])
}

#[test]
fn a_dockerfile_builds_runs_and_rebuilds_from_the_cache() {
    let env = Env::builder().with_busybox().build();
    let dockerfile = format!(
        "FROM {}\nENV GREETING=hello\nWORKDIR /app\nCOPY . ./\nADD files.tar /opt/\nRUN echo \"built $GREETING\" > built.txt && rm /etc/issue\nUSER 1000\nARG WHO=nobody\nLABEL who=$WHO\nEXPOSE 8080\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s CMD true\nCMD [\"sh\", \"-c\", \"cat msg.txt built.txt; id -u; ls secret.txt /etc/issue 2>&1 | wc -l\"]\n",
        env.busybox()
    );
    let files = [
        ("Dockerfile", dockerfile.as_str()),
        ("msg.txt", "from the context\n"),
        ("secret.txt", "must not be sent\n"),
        (".dockerignore", "secret.txt\n"),
    ];
    let dir = context(&env, "ctx", &files);
    std::fs::write(
        dir.join("files.tar"),
        tar_of(&[("inner/f", b"extracted\n")]),
    )
    .expect("write");
    let flags = ["--build-arg", "WHO=ferry", "--label", "team=core"];
    let first = built_ok(
        &env,
        &dir,
        &[&["-t", "built:v1", "-t", "built:also"][..], &flags].concat(),
    );
    assert!(first.stderr.contains("#1 [1/4] FROM "), "{}", first.stderr);
    assert!(
        first.stderr.contains("[4/4] RUN echo \"built $GREETING\""),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains("naming to docker.io/library/built:v1 done"),
        "{}",
        first.stderr
    );
    assert!(!first.stderr.contains("CACHED"), "{}", first.stderr);

    let run = env.ok(&["run", "--rm", "built:v1"]);
    assert_eq!(
        run, "from the context\nbuilt hello\n1000\n2\n",
        "the ignored file and the deleted file are both absent"
    );
    let added = env.ok(&["run", "--rm", "built:v1", "cat", "/opt/inner/f"]);
    assert_eq!(added, "extracted\n", "ADD extracts a local tar");
    let id = image_id(&env, "built:v1");
    let config: serde_json::Value = serde_json::from_str(&env.ok_trim(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        "built:v1",
    ]))
    .expect("config JSON");
    assert_eq!(
        config["Labels"],
        serde_json::json!({"who": "ferry", "team": "core"})
    );
    assert_eq!(config["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(config["StopSignal"], "SIGINT");
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["User"], "1000");
    assert_eq!(id, image_id(&env, "built:also"));

    // A touched file is the same file: the cache looks at content and metadata, not mtimes.
    let msg = std::fs::File::options()
        .write(true)
        .open(dir.join("msg.txt"))
        .expect("open");
    msg.set_modified(std::time::SystemTime::UNIX_EPOCH)
        .expect("touch");
    // It pushes and saves like a pulled image.
    let remote = env.reference("built/app:v1");
    env.ok(&["tag", "built:v1", &remote]);
    env.ok(&["push", "-q", &remote]);
    let saved = env.scratch_path("built.tar");
    env.ok(&["save", "-o", &saved, "built:v1"]);
    assert!(std::fs::metadata(&saved).expect("saved").len() > 0);
    env.ok(&["rmi", &remote]);

    let again = built_ok(&env, &dir, &[&["-t", "built:v1"][..], &flags].concat());
    assert_eq!(
        again.stderr.matches("CACHED").count(),
        3,
        "{}",
        again.stderr
    );
    assert_eq!(
        image_id(&env, "built:v1"),
        id,
        "a no-op rebuild gives the same image"
    );

    std::fs::write(dir.join("msg.txt"), "changed\n").expect("write");
    let changed = built_ok(&env, &dir, &["-q", "-t", "built:v2"]);
    assert!(changed.stdout.trim().starts_with("sha256:"), "{changed:?}");
    assert_ne!(changed.stdout.trim(), id);
    assert!(env
        .ok(&["run", "--rm", "built:v2"])
        .starts_with("changed\n"));

    let history = env.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "built:v1",
    ]);
    assert!(history.contains("RUN /bin/sh -c echo"), "{history}");
    assert!(history.contains("ENV GREETING=hello"), "{history}");
}

#[test]
fn a_failing_run_names_the_step_and_commits_nothing() {
    let env = Env::builder().with_busybox().build();
    let dockerfile = format!(
        "FROM {}\nRUN echo before\nRUN echo oops >&2; exit 3\n",
        env.busybox()
    );
    let dir = context(&env, "bad", &[("Dockerfile", &dockerfile)]);
    let out = build(&env, &dir, &["-t", "broken"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("oops"),
        "the step's output is shown: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("did not complete successfully: exit code: 3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("ERROR: failed to solve:"),
        "{}",
        out.stderr
    );
    assert!(!env.ok(&["images"]).contains("broken"));
    assert_eq!(
        env.ok(&["ps", "-aq"]),
        "",
        "a build's containers are not left behind"
    );
}

#[test]
fn multi_stage_copy_from_and_target() {
    let mut env = Env::builder().with_busybox().build();
    let dockerfile = format!(
        "ARG BASE={}\nFROM $BASE AS builder\nRUN mkdir -p /out && echo compiled > /out/app\nFROM scratch\nCOPY --from=builder --chmod=755 /out/app /app\nCOPY --from=builder /bin/busybox /bin/cat\nCMD [\"/bin/cat\", \"/app\"]\n",
        env.busybox()
    );
    let dir = context(&env, "multi", &[("Dockerfile", &dockerfile)]);
    let out = built_ok(&env, &dir, &["-t", "small"]);
    assert!(
        out.stderr.contains("[builder 2/2] RUN mkdir"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[stage-1 2/3] COPY --from=builder"),
        "{}",
        out.stderr
    );
    assert_eq!(env.ok(&["run", "--rm", "small"]), "compiled\n");
    built_ok(&env, &dir, &["-t", "just-builder", "--target", "builder"]);
    let files = env.ok(&["run", "--rm", "just-builder", "cat", "/out/app"]);
    assert_eq!(files, "compiled\n");

    // The cache is in the metadata database: it survives a restart of ferryd.
    env.daemon_mut().restart();
    let again = built_ok(&env, &dir, &["-t", "small"]);
    assert_eq!(
        again.stderr.matches("CACHED").count(),
        3,
        "{}",
        again.stderr
    );

    // The cache holds the layers after every image is gone; builder prune lets them go.
    env.ok(&["rmi", "small", "just-builder", &env.busybox()]);
    let pruned = env.ok(&["builder", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted build cache objects:\n"),
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space: "), "{pruned}");
    assert_store_empty(env.daemon());
}

#[test]
fn a_bad_dockerfile_is_refused_with_its_line_before_anything_runs() {
    let env = Env::builder().no_registry().build();
    let dir = context(
        &env,
        "syntax",
        &[("Dockerfile", "FROM scratch\nRUN true\nCOPY --bogus a b\n")],
    );
    let out = build(&env, &dir, &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("Dockerfile:3: unknown flag: bogus"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("#1"), "nothing ran: {}", out.stderr);
}

#[test]
fn a_copy_only_build_is_reproducible_with_source_date_epoch() {
    let env = Env::builder().no_registry().build();
    let files = [
        (
            "Dockerfile",
            "FROM scratch\nWORKDIR /srv/site\nCOPY site/ ./\nLABEL v=1\n",
        ),
        ("site/index.html", "<h1>hi</h1>\n"),
        ("site/css/a.css", "body{}\n"),
    ];
    let dir = context(&env, "repro", &files);
    let d = dir.display().to_string();
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let ids: Vec<String> = ["one", "two"]
        .iter()
        .map(|tag| {
            let args = ["build", "--no-cache", "-q", "-t", tag, d.as_str()];
            let out = env.daemon().ferry_with_env(&args, &epoch);
            assert_eq!(out.code, Some(0), "{out:?}");
            // Later files and directories get the same clamped times the second time.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            out.stdout.trim().to_string()
        })
        .collect();
    assert_eq!(
        ids[0], ids[1],
        "the same inputs give the same image, byte for byte"
    );
    let created = env.ok_trim(&["image", "inspect", "--format", "{{.Created}}", "one"]);
    assert!(created.starts_with("2023-11-14T22:13:20"), "{created}");
}

#[test]
fn onbuild_triggers_run_in_the_child_build_only() {
    let env = Env::builder().with_busybox().build();
    let base = format!(
        "FROM {}\nONBUILD RUN echo triggered > /t\nONBUILD ENV FROM_TRIGGER=yes\n",
        env.busybox()
    );
    let dir = context(&env, "onbase", &[("Dockerfile", &base)]);
    built_ok(&env, &dir, &["-t", "onbase"]);
    // The child also writes a file from a heredoc, expanded with the trigger's ENV.
    let child = "FROM onbase\nCOPY <<MSG /msg\nhello ${FROM_TRIGGER}\nMSG\nCMD [\"sh\", \"-c\", \"cat /t; echo $FROM_TRIGGER; cat /msg\"]\n";
    let dir = context(&env, "child", &[("Dockerfile", child)]);
    let out = built_ok(&env, &dir, &["-t", "child"]);
    assert!(
        out.stderr.contains("[onbuild] RUN echo triggered > /t"),
        "{}",
        out.stderr
    );
    assert_eq!(
        env.ok(&["run", "--rm", "child"]),
        "triggered\nyes\nhello yes\n"
    );
    let on = |image: &str| {
        env.ok_trim(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.OnBuild}}",
            image,
        ])
    };
    assert!(
        on("onbase").contains("RUN echo triggered"),
        "{}",
        on("onbase")
    );
    assert!(!on("child").contains("RUN"), "{}", on("child"));
}

#[test]
fn run_mounts_cache_bind_tmpfs_and_network_none() {
    let env = Env::builder().with_busybox().build();
    let dockerfile = format!(
        "FROM {}\nRUN --mount=type=cache,target=/cache --mount=type=bind,source=data,target=/data --mount=type=tmpfs,target=/scratch --network=none \\\n    cat /data/x >> /cache/seen && cp /cache/seen /seen && ls /sys/class/net > /nets && touch /scratch/gone\n",
        env.busybox()
    );
    let dir = context(
        &env,
        "mounts",
        &[("Dockerfile", &dockerfile), ("data/x", "one\n")],
    );
    built_ok(&env, &dir, &["-t", "m1"]);
    assert_eq!(
        env.ok(&["run", "--rm", "m1", "cat", "/seen", "/nets"]),
        "one\nlo\n"
    );
    let scratch = env.ferry(&["run", "--rm", "m1", "ls", "/scratch/gone"]);
    assert_ne!(scratch.code, Some(0), "a tmpfs leaves nothing in the layer");

    // A changed bind source re-runs the step; the cache mount kept what the first run wrote.
    std::fs::write(dir.join("data/x"), "two\n").expect("write");
    let out = built_ok(&env, &dir, &["-t", "m2"]);
    assert!(!out.stderr.contains("CACHED"), "{}", out.stderr);
    assert_eq!(env.ok(&["run", "--rm", "m2", "cat", "/seen"]), "one\ntwo\n");
}

#[test]
fn a_dockerfile_or_a_context_tar_on_stdin() {
    let env = Env::builder().with_busybox().build();
    let dockerfile = format!("FROM {}\nRUN echo piped > /p\n", env.busybox());
    let (code, _, stderr) = env.ferry_stdin(&["build", "-t", "piped", "-"], dockerfile.as_bytes());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(env.ok(&["run", "--rm", "piped", "cat", "/p"]), "piped\n");

    let with_copy = format!("FROM {}\nCOPY hello /hello\n", env.busybox());
    let tar = tar_of(&[
        ("Dockerfile", with_copy.as_bytes()),
        ("hello", b"from a tar\n"),
    ]);
    let (code, _, stderr) = env.ferry_stdin(&["build", "-t", "tarred", "-"], &tar);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        env.ok(&["run", "--rm", "tarred", "cat", "/hello"]),
        "from a tar\n"
    );
}
