//! Containers end to end: the real CLI, a real ferryd, real ferry-shims driving crun and runc,
//! busybox images built in code and served by a real docker-registry.

use std::time::Duration;

use ferry_integration_tests::fixtures;
use ferry_integration_tests::{wait_until, Env, BUSYBOX};

#[test]
fn run_prints_output_and_returns_the_exit_code_with_crun_and_runc() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    for runtime in ["crun", "runc"] {
        let out = env.ferry(&["run", "--rm", "--runtime", runtime, &image, "echo", "hello"]);
        assert_eq!(
            out.code,
            Some(0),
            "{runtime}: {out:?}\n{}",
            env.daemon().log()
        );
        assert_eq!(out.stdout, "hello\n", "{runtime}");
        let out = env.ferry(&[
            "run",
            "--runtime",
            runtime,
            "--name",
            &format!("fail-{runtime}"),
            &image,
            "sh",
            "-c",
            "echo oops >&2; exit 3",
        ]);
        assert_eq!(out.code, Some(3), "{runtime}: {out:?}");
        assert_eq!(out.stderr, "oops\n", "{runtime}");
        let status = env.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name=fail-{runtime}"),
            "--format",
            "{{.Status}}",
        ]);
        assert!(status.starts_with("Exited (3)"), "{runtime}: {status}");
        assert_eq!(
            env.inspect(&format!("fail-{runtime}"))["RuntimeUsed"],
            runtime
        );
    }
    let ps = env.ok(&["ps", "-aq"]);
    assert_eq!(ps.lines().count(), 2, "--rm containers are gone: {ps}");
}

#[test]
fn run_pulls_a_missing_image_first() {
    let env = Env::builder().push(fixtures::busybox(), BUSYBOX).build();
    let image = format!("{}/library/busybox", env.registry().addr());
    let out = env.ferry(&["run", "--rm", &image, "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("Unable to find image '{image}:latest' locally")),
        "{out:?}"
    );
    assert!(env.ok(&["images", "-q"]).lines().count() == 1);
}

#[test]
fn detached_container_lifecycle_ps_logs_exec_top_pause_stop_rm() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        &image,
        "sh",
        "-c",
        "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id}");
    let ps = env.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    let row = ps.lines().find(|l| l.ends_with("web")).expect("web listed");
    assert!(row.starts_with(&id[..12]) && row.contains("Up "), "{row}");
    assert!(wait_until(Duration::from_secs(5), || env
        .ok(&["logs", "web"])
        == "started\n"));

    let out = env.ferry(&["exec", "web", "sh", "-c", "echo from-exec; exit 7"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(7), "from-exec\n"),
        "{out:?}"
    );
    let top = env.ok(&["top", "web"]);
    assert!(
        top.lines().next().is_some_and(|h| h.contains("PID")) && top.contains("sh -c"),
        "{top}"
    );

    env.ok(&["pause", "web"]);
    assert_eq!(env.state("web"), "paused");
    assert!(env
        .ok(&["ps", "--format", "{{.Status}}"])
        .contains("(Paused)"));
    env.ok(&["unpause", "web"]);
    assert_eq!(env.state("web"), "running");

    let rm = env.ferry(&["rm", "web"]);
    assert_eq!(rm.code, Some(1));
    assert!(
        rm.stderr.contains("You cannot remove a running container"),
        "{}",
        rm.stderr
    );
    env.ok(&["stop", "-t", "5", "web"]);
    let st = env.inspect("web");
    assert_eq!(st["State"]["Status"], "exited");
    assert_eq!(st["State"]["ExitCode"], 0, "the TERM trap ran");
    let exec = env.ferry(&["exec", "web", "true"]);
    assert_ne!(exec.code, Some(0));
    assert!(exec.stderr.contains("is not running"), "{}", exec.stderr);
    env.ok(&["rm", "web"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    let gone = env.ferry(&["logs", "web"]);
    assert!(
        gone.stderr.contains("No such container: web"),
        "{}",
        gone.stderr
    );
}

#[test]
fn names_conflict_and_bad_input_change_nothing() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&["create", "--name", "one", &image, "true"]);
    let dup = env.ferry(&["run", "--name", "one", &image, "true"]);
    assert_eq!(dup.code, Some(125), "{dup:?}");
    assert!(dup.stderr.contains("is already in use"), "{}", dup.stderr);
    // `--mount` refuses a missing host path (`-v` creates it, see start_failures.rs).
    let bad_mount = env.ferry(&[
        "run",
        "--mount",
        "type=bind,src=/nonexistent/ferry-src,dst=/data",
        &image,
        "true",
    ]);
    assert_eq!(bad_mount.code, Some(125));
    assert!(
        bad_mount.stderr.contains("bind source path does not exist"),
        "{}",
        bad_mount.stderr
    );
    let bad_flag = env.ferry(&["run", "--memory", "lots", &image, "true"]);
    assert_eq!(bad_flag.code, Some(125), "{bad_flag:?}");
    let not_found = env.ferry(&["run", &image, "nosuchcommand"]);
    assert_eq!(not_found.code, Some(127), "{not_found:?}");
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(ps.lines().any(|n| n == "one"), "{ps}");
    assert_eq!(
        ps.lines().count(),
        2,
        "only `one` and the container whose command was not found: {ps}"
    );
}

#[test]
fn bind_mounts_env_workdir_user_and_read_only_root() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let dir = ferry_integration_tests::var_tmpdir("ferry-bind-");
    std::fs::write(dir.path().join("in.txt"), "from host\n").expect("write");
    let vol = format!("{}:/data", dir.path().display());
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "-e",
        "GREETING=hi",
        "-w",
        "/data",
        "-u",
        "app",
        &image,
        "sh",
        "-c",
        "cat in.txt; echo $GREETING; pwd; id -u; echo out > /tmp/x && echo tmp-ok",
    ]);
    assert_eq!(out, "from host\nhi\n/data\n1000\ntmp-ok\n");
    let ro = env.ferry(&[
        "run",
        "--rm",
        "--read-only",
        &image,
        "sh",
        "-c",
        "echo x > /x",
    ]);
    assert_ne!(ro.code, Some(0), "read-only root refuses writes: {ro:?}");
}

#[test]
fn restart_policy_on_failure_restarts_then_gives_up() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        &image,
        "sh",
        "-c",
        "exit 1",
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let i = env.inspect("flaky");
            i["State"]["Status"] == "exited" && i["RestartCount"] == 2
        }),
        "{}",
        env.inspect("flaky")
    );
    assert_eq!(env.inspect("flaky")["State"]["ExitCode"], 1);
}

#[test]
fn containers_survive_a_ferryd_crash_and_are_readopted() {
    let mut env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let n = 20;
    for i in 0..n {
        env.ok(&[
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            &image,
            "sh",
            "-c",
            "echo up; while true; do sleep 0.2; done",
        ]);
    }
    env.ok(&[
        "run",
        "-d",
        "--name",
        "short",
        &image,
        "sh",
        "-c",
        "echo bye; sleep 1; exit 5",
    ]);
    env.daemon_mut().kill9();
    std::thread::sleep(Duration::from_secs(2)); // `short` exits while ferryd is down
    env.daemon_mut().restart();
    let running = env.ok(&["ps", "-q"]);
    assert_eq!(
        running.lines().count(),
        n,
        "{running}\n{}",
        env.daemon().log()
    );
    let short = env.inspect("short");
    assert_eq!(short["State"]["Status"], "exited");
    assert_eq!(
        short["State"]["ExitCode"], 5,
        "the real exit code, learnt after the restart"
    );
    assert_eq!(env.ok(&["logs", "short"]), "bye\n");
    assert_eq!(
        env.ok(&["exec", "c7", "echo", "still-here"]),
        "still-here\n"
    );
    assert_eq!(env.ok(&["logs", "c3"]), "up\n");
    env.ok(&["stop", "-t", "1", "c0"]);
    assert_eq!(env.state("c0"), "exited");
    let all: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(all.iter().map(String::as_str));
    env.ok(&args);
}

#[test]
fn wait_returns_the_exit_code() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "waiter",
        &image,
        "sh",
        "-c",
        "sleep 0.5; exit 4",
    ]);
    assert_eq!(env.ok(&["wait", "waiter"]), "4\n");
}

/// Pids of the ferry-shim serving `id` (its command line names the container).
fn shim_pids(id: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("ferry-shim") && cmdline.contains(id) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_shim_that_dies_leaves_its_container_exited_or_dead_never_running() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let id = env.ok(&["run", "-d", "--name", "orphan", &image, "sleep", "1000"]);
    let pids = shim_pids(id.trim());
    assert_eq!(pids.len(), 1, "one shim per container");
    // SAFETY: signalling a process we found by pid.
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    assert!(
        wait_until(Duration::from_secs(10), || env.state("orphan") != "running"),
        "still running: {}",
        env.inspect("orphan")
    );
    let st = env.inspect("orphan");
    let status = st["State"]["Status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(status == "dead" || status == "exited", "{st}");
    if status == "dead" {
        assert!(
            st["State"]["Error"]
                .as_str()
                .is_some_and(|e| e.contains("shim")),
            "{st}"
        );
    }
    let pid = st["State"]["Pid"].as_i64().unwrap_or(0);
    let cgroup = format!("/ferry/{}", id.trim());
    let orphan_alive = || {
        std::fs::read_dir("/proc")
            .expect("proc")
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(&cgroup))
            })
    };
    assert!(
        wait_until(Duration::from_secs(10), || !orphan_alive()),
        "the container's processes outlived its shim (pid {pid})"
    );
    env.ok(&["rm", "-f", "orphan"]);
}

#[test]
fn json_file_logs_rotate_with_log_opts() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=2",
        &image,
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    let log_path = env.inspect("chatty")["LogPath"]
        .as_str()
        .expect("LogPath")
        .to_string();
    let size = std::fs::metadata(&log_path).expect("log").len();
    assert!(size <= 2048, "current log file {size} bytes");
    assert!(
        std::path::Path::new(&format!("{log_path}.1")).exists(),
        "rotated once at least"
    );
    assert!(
        !std::path::Path::new(&format!("{log_path}.2")).exists(),
        "max-file=2 keeps two files"
    );
    let logs = env.ok(&["logs", "chatty"]);
    assert!(logs.ends_with("line-199\n"), "{logs}");
    assert!(
        !logs.contains("line-0\n"),
        "the oldest lines were rotated away"
    );
    let tail = env.ok(&["logs", "--tail", "2", "chatty"]);
    assert_eq!(tail, "line-198\nline-199\n");
}

#[test]
fn resources_capabilities_and_init_reach_the_container() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let caps = env.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        &image,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(
        caps.split_whitespace().last(),
        Some("0000000000000000"),
        "{caps}"
    );
    let nnp = env.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        &image,
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(nnp.trim_end().ends_with('1'), "{nnp}");
    let id = env.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        &image,
        "sleep",
        "100",
    ]);
    let cg = |ctl: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{ctl}/ferry/{}/{file}", id.trim()))
            .unwrap_or_default()
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes").trim(),
        (64u64 << 20).to_string()
    );
    assert_eq!(cg("pids", "pids.max").trim(), "50");
    env.ok(&["rm", "-f", id.trim()]);
    if std::path::Path::new("/usr/bin/tini-static").exists() {
        let pid1 = env.ok(&["run", "--rm", "--init", &image, "cat", "/proc/1/cmdline"]);
        assert!(pid1.starts_with("/sbin/ferry-init"), "{pid1:?}");
    }
}

#[test]
fn rename_restart_start_attach_auto_remove_and_prune() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "create",
        "--name",
        "first",
        &image,
        "sh",
        "-c",
        "echo run-$$",
    ]);
    env.ok(&["rename", "first", "second"]);
    assert!(env
        .ferry(&["inspect", "first"])
        .stderr
        .contains("No such object: first"));
    let out = env.ok(&["start", "-a", "second"]);
    assert!(out.starts_with("run-"), "{out}");
    env.ok(&["restart", "second"]);
    assert!(wait_until(Duration::from_secs(5), || env
        .ok(&["logs", "second"])
        .lines()
        .count()
        == 2));
    env.ok(&["run", "-d", "--rm", "--name", "gone", &image, "true"]);
    assert!(
        wait_until(Duration::from_secs(10), || !env
            .ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("gone")),
        "--rm removes a detached container when it exits"
    );
    env.ok(&["run", "-d", "--name", "keeper", &image, "sleep", "100"]);
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:"), "{pruned}");
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names, "keeper\n", "prune removes stopped containers only");
    env.ok(&["rm", "-f", "keeper"]);
}

#[test]
fn env_file_entrypoint_hostname_network_volumes_and_log_options() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let dir = ferry_integration_tests::var_tmpdir("ferry-envfile-");
    let env_file = dir.path().join("app.env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n\nOTHER=2\n").expect("env file");
    let out = env.ok(&[
        "run",
        "--rm",
        "--env-file",
        &env_file.display().to_string(),
        "--hostname",
        "box1",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        "echo $FROM_FILE$OTHER; hostname",
    ]);
    assert_eq!(out, "yes2\nbox1\n");
    let host_net = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        &image,
        "cat",
        "/proc/net/dev",
    ]);
    let host = std::fs::read_to_string("/proc/net/dev").expect("host net");
    assert_eq!(
        host_net.lines().count(),
        host.lines().count(),
        "--network host shares the host's interfaces"
    );
    let none = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(
        none.lines().filter(|l| l.contains(':')).count(),
        1,
        "--network none has only lo: {none}"
    );
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "store:/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        env.ok(&["run", "--rm", "-v", "store:/data", &image, "cat", "/data/f"]),
        "kept\n",
        "a named volume outlives its containers"
    );
    env.ok(&["run", "--name", "stamped", &image, "echo", "stamp"]);
    let stamped = env.ok(&["logs", "-t", "stamped"]);
    assert!(
        stamped.starts_with("20") && stamped.ends_with(" stamp\n"),
        "{stamped}"
    );
    assert_eq!(
        env.ok(&["logs", "--since", "2099-01-01T00:00:00Z", "stamped"]),
        ""
    );
}

#[test]
fn restart_always_comes_back_until_stopped() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        &image,
        "sh",
        "-c",
        "sleep 0.3; exit 0",
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || env.inspect("phoenix")
            ["RestartCount"]
            .as_u64()
            .unwrap_or(0)
            >= 2),
        "{}",
        env.inspect("phoenix")
    );
    env.ok(&["stop", "-t", "1", "phoenix"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        env.state("phoenix"),
        "exited",
        "a stopped container is not restarted"
    );
}
