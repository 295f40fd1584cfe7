//! What a Docker user's careless commands do: a command that cannot run, a `--rm` container that
//! never started, `kill` followed at once by `rm`, `exec -d`. Docker 28's exit codes and messages.

use ferry_integration_tests::Env;

#[test]
fn a_directory_as_command_is_126_in_the_cli_and_in_inspect() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let out = env.ferry(&["run", "--name", "dir", &image, "/"]);
    assert_eq!(out.code, Some(126), "{out:?}");
    assert!(
        out.stderr.contains("exec: \"/\": is a directory"),
        "{}",
        out.stderr
    );
    // One number everywhere: what the CLI exits with is what the container records.
    assert_eq!(env.inspect_format("dir", "{{.State.ExitCode}}"), "126");
    assert_eq!(env.state("dir"), "created");
}

#[test]
fn a_rm_container_that_cannot_start_is_removed() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let out = env.ferry(&["run", "--rm", "--name", "gone", &image, "nosuchcmd"]);
    assert_eq!(out.code, Some(127), "{out:?}");
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.lines().any(|n| n == "gone"), "left behind: {ps}");
}

#[test]
fn kill_returns_once_the_container_is_dead_so_rm_follows() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&["run", "-d", "--name", "victim", &image, "sleep", "300"]);
    env.ok(&["kill", "victim"]);
    assert_eq!(env.state("victim"), "exited");
    env.ok(&["rm", "victim"]);
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!ps.lines().any(|n| n == "victim"), "{ps}");
}

#[test]
fn exec_detached_returns_while_its_process_runs() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&["run", "-d", "--name", "host", &image, "sleep", "300"]);
    // Were `exec -d` to wait for its process, it would return only after the sleep ended, and
    // `top` would no longer list it.
    env.ok(&["exec", "-d", "host", "sleep", "567"]);
    let top = env.ok(&["top", "host"]);
    assert!(top.contains("sleep 567"), "{top}");
}

#[test]
fn a_missing_host_path_is_created_for_v_as_docker_does() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let dir = ferry_integration_tests::var_tmpdir("ferry-bind-");
    let host = dir.path().join("made/by/run");
    let spec = format!("{}:/data", host.display());
    env.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        &image,
        "sh",
        "-c",
        "echo hi > /data/f",
    ]);
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "hi\n");
}
