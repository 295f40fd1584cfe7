//! Real containers through a real ferry-shim, with crun and with runc. Run as root.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{state, wait, Fixture, Status};
use ferry_proto::shim::v1 as pb;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

async fn echo_hello(rt: &'static str) {
    let f = Fixture::new("echo", rt, &["echo", "hello"], false);
    let mut c = f.client().await;
    let created = c
        .create(f.create_request(false, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.runtime_used, rt, "warning: {}", created.warning);
    assert!(created.warning.is_empty(), "{}", created.warning);
    assert!(created.pid > 0);
    let s = state(&mut c, &f.id).await;
    assert_eq!(s.status(), Status::Created);
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();
    assert_eq!(wait(&mut c, &f.id, "").await, 0);

    let log = f.log_entries();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["log"], "hello\n");
    assert_eq!(log[0]["stream"], "stdout");
    assert!(log[0]["time"].as_str().unwrap().ends_with('Z'));

    let s = state(&mut c, &f.id).await;
    assert_eq!(s.status(), Status::Stopped);
    assert_eq!(s.exit_code, 0);
    assert_eq!(s.log_path, f.log_path().display().to_string());
    let exit: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.state_dir.join("exit.json")).unwrap()).unwrap();
    assert_eq!(exit["exit_code"], 0);
    assert_eq!(exit["pid"], created.pid);

    // Created without a CRI log: ReopenLog has nothing to reopen.
    let e = c.reopen_log(pb::ReopenLogRequest {}).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert_eq!(e.message(), "container has no CRI log");

    // A second Create is refused; Shutdown before Delete too.
    let e = c.create(f.create_request(false, false)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    let e = c
        .shutdown(pb::ShutdownRequest {
            id: f.id.clone(),
            now: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    f.teardown(&mut c).await;
}

async fn exit_code(rt: &'static str) {
    let f = Fixture::new("exit3", rt, &["sh", "-c", "echo oops >&2; exit 3"], false);
    let mut c = f.client().await;
    c.create(f.create_request(false, false)).await.unwrap();
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();
    assert_eq!(wait(&mut c, &f.id, "").await, 3);
    let log = f.log_entries();
    assert_eq!(log[0]["log"], "oops\n");
    assert_eq!(log[0]["stream"], "stderr");
    let d = c
        .delete(pb::DeleteRequest {
            id: f.id.clone(),
            exec_id: String::new(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.exit_code, 3);
    let e = c
        .state(pb::StateRequest { id: f.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    c.shutdown(pb::ShutdownRequest {
        id: f.id.clone(),
        now: false,
    })
    .await
    .unwrap();
    assert!(f.wait_shim_gone(10));
}

async fn kill_sleep(rt: &'static str) {
    // As pid 1 of its namespace, a process without a handler ignores SIGTERM (the kernel drops
    // it), so the init traps it and exits 143 as a killed process would.
    let script = "trap 'exit 143' TERM; sleep 100 & wait";
    let f = Fixture::new("kill", rt, &["sh", "-c", script], false);
    let mut c = f.client().await;
    c.create(f.create_request(false, false)).await.unwrap();
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();
    assert_eq!(state(&mut c, &f.id).await.status(), Status::Running);
    // Delete of a running container needs force.
    let e = c
        .delete(pb::DeleteRequest {
            id: f.id.clone(),
            exec_id: String::new(),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    c.kill(pb::KillRequest {
        id: f.id.clone(),
        signal: 15,
        all: false,
        exec_id: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(wait(&mut c, &f.id, "").await, 128 + 15);
    let e = c
        .kill(pb::KillRequest {
            id: f.id.clone(),
            signal: 15,
            all: false,
            exec_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    f.teardown(&mut c).await;
}

async fn pause_resume_ps_exec(rt: &'static str) {
    let f = Fixture::new("pause", rt, &["sleep", "100"], false);
    let mut c = f.client().await;
    c.create(f.create_request(false, false)).await.unwrap();
    let pid = c
        .start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .pid;
    c.pause(pb::PauseRequest { id: f.id.clone() })
        .await
        .unwrap();
    assert_eq!(state(&mut c, &f.id).await.status(), Status::Paused);
    c.resume(pb::ResumeRequest { id: f.id.clone() })
        .await
        .unwrap();
    assert_eq!(state(&mut c, &f.id).await.status(), Status::Running);
    let ps = c
        .ps(pb::PsRequest { id: f.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(ps.pids.contains(&pid), "{ps:?} lacks {pid}");

    // Exec: register, attach before start (so no output is missed), start, wait.
    let process = serde_json::json!({"args": ["sh", "-c", "echo hi; echo err >&2; exit 7"],
        "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
    c.exec(pb::ExecRequest {
        id: f.id.clone(),
        exec_id: "e1".into(),
        process_json: serde_json::to_vec(&process).unwrap(),
        terminal: false,
        stdin: false,
    })
    .await
    .unwrap();
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::AttachInput {
        id: f.id.clone(),
        exec_id: "e1".into(),
        input: None,
    })
    .await
    .unwrap();
    let mut out = c
        .attach(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let epid = c
        .start_exec(pb::StartExecRequest {
            id: f.id.clone(),
            exec_id: "e1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .pid;
    assert!(epid > 0);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(m) = tokio::time::timeout(Duration::from_secs(20), out.next())
        .await
        .unwrap()
    {
        let m = m.unwrap();
        match m.stream() {
            pb::attach_output::Stream::Stderr => stderr.extend(m.data),
            _ => stdout.extend(m.data),
        }
    }
    drop(tx);
    assert_eq!(String::from_utf8_lossy(&stdout), "hi\n");
    assert_eq!(String::from_utf8_lossy(&stderr), "err\n");
    assert_eq!(wait(&mut c, &f.id, "e1").await, 7);
    // Exec output is not in the container's log.
    assert!(f.log_entries().is_empty());
    c.delete(pb::DeleteRequest {
        id: f.id.clone(),
        exec_id: "e1".into(),
        force: false,
    })
    .await
    .unwrap();
    assert_eq!(state(&mut c, &f.id).await.status(), Status::Running);
    f.teardown(&mut c).await;
}

async fn attach_delayed_output_and_stdin(rt: &'static str) {
    let f = Fixture::new(
        "attach",
        rt,
        &["sh", "-c", "sleep 1; echo late; read x; echo got-$x"],
        false,
    );
    let mut c = f.client().await;
    c.create(f.create_request(false, true)).await.unwrap();
    // Two clients attach; both see all output.
    let mut outs = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::channel(4);
        tx.send(pb::AttachInput {
            id: f.id.clone(),
            exec_id: String::new(),
            input: None,
        })
        .await
        .unwrap();
        outs.push(
            c.attach(ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner(),
        );
        senders.push(tx);
    }
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), outs[0].next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.data, b"late\n");
    // stdin from the second client.
    let input = pb::attach_input::Input::Stdin(b"ping\n".to_vec());
    senders[1]
        .send(pb::AttachInput {
            id: String::new(),
            exec_id: String::new(),
            input: Some(input),
        })
        .await
        .unwrap();
    for (i, out) in outs.iter_mut().enumerate() {
        let mut all = Vec::new();
        while let Some(m) = tokio::time::timeout(Duration::from_secs(20), out.next())
            .await
            .unwrap()
        {
            all.extend(m.unwrap().data);
        }
        let text = String::from_utf8_lossy(&all).to_string();
        assert!(text.ends_with("got-ping\n"), "client {i}: {text:?}");
    }
    assert_eq!(wait(&mut c, &f.id, "").await, 0);
    let lines: Vec<_> = f
        .log_entries()
        .iter()
        .map(|e| e["log"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lines, ["late\n", "got-ping\n"]);
    f.teardown(&mut c).await;
}

async fn terminal(rt: &'static str) {
    let f = Fixture::new("tty", rt, &["sh", "-c", "stty size; cat"], true);
    let mut c = f.client().await;
    let mut req = f.create_request(true, true);
    let cri_log = f.dir.path().join("cri/0.log");
    req.cri_log_path = cri_log.display().to_string();
    let created = c.create(req).await.unwrap();
    assert!(created.into_inner().pid > 0);
    c.resize_pty(pb::ResizePtyRequest {
        id: f.id.clone(),
        exec_id: String::new(),
        rows: 30,
        cols: 100,
    })
    .await
    .unwrap();
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::AttachInput {
        id: f.id.clone(),
        exec_id: String::new(),
        input: None,
    })
    .await
    .unwrap();
    let mut out = c
        .attach(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut sent = false;
    while let Some(m) = tokio::time::timeout(Duration::from_secs(20), out.next())
        .await
        .unwrap()
    {
        let m = m.unwrap();
        assert_eq!(m.stream(), pb::attach_output::Stream::Stdout);
        all.extend(m.data);
        let text = String::from_utf8_lossy(&all).to_string();
        if !sent && text.contains("30 100") {
            let input = Some(pb::attach_input::Input::Stdin(b"typed\n".to_vec()));
            tx.send(pb::AttachInput {
                id: String::new(),
                exec_id: String::new(),
                input,
            })
            .await
            .unwrap();
            sent = true;
        }
        if text.matches("typed").count() >= 2 {
            // echoed by the tty, then by cat: close stdin (^D) and cat exits.
            let input = Some(pb::attach_input::Input::CloseStdin(true));
            tx.send(pb::AttachInput {
                id: String::new(),
                exec_id: String::new(),
                input,
            })
            .await
            .unwrap();
        }
    }
    let text = String::from_utf8_lossy(&all).to_string();
    assert!(text.contains("30 100\r\n"), "{text:?}");
    assert_eq!(wait(&mut c, &f.id, "").await, 0);
    assert_eq!(f.log_entries()[0]["log"], "30 100\r\n");
    // A terminal has one stream, stdout; only the `\n` ends the line, the tty's `\r` is content.
    assert_eq!(cri_entries(&cri_log)[0], "stdout F 30 100\r");
    f.teardown(&mut c).await;
}

async fn reconnect(rt: &'static str) {
    let f = Fixture::new("reconn", rt, &["sleep", "100"], false);
    {
        let mut c = f.client().await;
        c.create(f.create_request(false, false)).await.unwrap();
        c.start(pb::StartRequest { id: f.id.clone() })
            .await
            .unwrap();
    }
    // The client (ferryd) is gone; the shim and the container are not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(f.shim_alive());
    let mut c = f.client().await;
    let s = state(&mut c, &f.id).await;
    assert_eq!(s.status(), Status::Running);
    assert_eq!(s.runtime_used, rt);
    c.kill(pb::KillRequest {
        id: f.id.clone(),
        signal: 9,
        all: true,
        exec_id: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(wait(&mut c, &f.id, "").await, 128 + 9);
    f.teardown(&mut c).await;
}

macro_rules! both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod crun {
            $(#[tokio::test] async fn $name() { super::$name("crun").await })*
        }
        mod runc {
            $(#[tokio::test] async fn $name() { super::$name("runc").await })*
        }
    };
}

both_runtimes!(
    echo_hello,
    exit_code,
    kill_sleep,
    pause_resume_ps_exec,
    attach_delayed_output_and_stdin,
    terminal,
    reconnect,
);

/// Lines of a CRI log with the time stamp cut off ("stdout F one"), after checking its shape.
fn cri_entries(path: &std::path::Path) -> Vec<String> {
    let text = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
    // Not `lines()`: it would eat a `\r` that is content.
    text.split_terminator('\n')
        .map(|l| {
            let (time, rest) = l.split_once(' ').unwrap();
            chrono::DateTime::parse_from_rfc3339(time).unwrap();
            assert!(time.ends_with('Z') && time.len() == 30, "{l:?}");
            rest.to_string()
        })
        .collect()
}

/// Wait up to 10 s for `path` to hold `n` lines.
async fn wait_lines(path: &std::path::Path, n: usize) {
    for _ in 0..200 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never held {n} lines", path.display());
}

/// The CRI log as kubelet drives it: a file in a directory that does not exist yet, both
/// streams, a last line without a newline, and a rotation (rename, ReopenLog) mid-run; the
/// json-file log keeps everything. The runtime plays no part in logging, so crun alone.
#[tokio::test]
async fn cri_log_and_reopen() {
    let script = "echo one; echo two >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; \
                  echo three; printf tail";
    let f = Fixture::new("cri", "crun", &["sh", "-c", script], false);
    let path = f.dir.path().join("pods/ns_pod_uid/ctr/0.log");
    let mut c = f.client().await;
    let mut req = f.create_request(false, false);
    req.cri_log_path = "relative/0.log".into();
    let e = c.create(req.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    req.cri_log_path = path.display().to_string();
    c.create(req).await.unwrap();
    let e = c.reopen_log(pb::ReopenLogRequest {}).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("container is not running"), "{e:?}");
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();

    wait_lines(&path, 2).await;
    let rotated = path.with_extension("log.20260101-000000");
    std::fs::rename(&path, &rotated).unwrap();
    c.reopen_log(pb::ReopenLogRequest {}).await.unwrap();
    assert!(path.exists(), "reopen did not create a new file");
    std::fs::write(f.bundle.join("rootfs/tmp/go"), b"").unwrap();
    assert_eq!(wait(&mut c, &f.id, "").await, 0);

    // Two pipes, two pumps: stdout and stderr may land in either order.
    let mut old = cri_entries(&rotated);
    old.sort();
    assert_eq!(old, ["stderr F two", "stdout F one"]);
    assert_eq!(cri_entries(&path), ["stdout F three", "stdout P tail"]);
    let json: Vec<_> = f.log_entries().iter().map(|e| e["log"].clone()).collect();
    assert_eq!(json.len(), 4, "{json:?}");
    assert_eq!(json[3], "tail");

    let e = c.reopen_log(pb::ReopenLogRequest {}).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    f.teardown(&mut c).await;
}

/// A peer whose uid is neither 0 nor the shim's is disconnected before any HTTP/2 byte (its write
/// may even hit a closed socket, which counts as refused); root
/// gets the server's SETTINGS frame. The socket is opened up (0666 in 0755 dirs) so only the
/// SO_PEERCRED check stands in the way.
#[tokio::test]
async fn other_uid_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("peer", "crun", &["true"], false);
    for p in [f.dir.path(), f.socket.parent().unwrap()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&f.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let probe = |uid: u32| {
        let script = "import socket,sys\n\
            s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])\n\
            try:\n  s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'); d=s.recv(64)\n\
            except (ConnectionResetError, BrokenPipeError):\n  d=b''\n\
            print(len(d))";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&f.socket)
            .uid(uid)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    use std::os::unix::process::CommandExt;
    assert_eq!(probe(65534), 0, "uid 65534 got data");
    assert!(probe(0) > 0, "root got nothing");
    assert!(f.shim_log().contains("refused peer"));
    let mut c = f.client().await;
    c.shutdown(pb::ShutdownRequest {
        id: f.id.clone(),
        now: false,
    })
    .await
    .unwrap();
    assert!(f.wait_shim_gone(10));
}

/// Without the cgroup mask, crun 1.8 refuses this host's hybrid layout; the shim says so and
/// runs the container with runc. Only a v1-hybrid host has the layout: scripts/test.sh runs this
/// one when the host has it.
#[tokio::test]
#[ignore = "needs a v1-hybrid cgroup host (scripts/test.sh runs it there)"]
async fn crun_falls_back_to_runc_without_the_mask() {
    let hybrid = std::fs::read_to_string(ferry_shim::daemon::HYBRID_CONTROLLERS)
        .is_ok_and(|s| !s.trim().is_empty());
    assert!(
        hybrid,
        "no hybrid cgroup controllers here: this host cannot show the fallback"
    );
    let f = Fixture::with_flags(
        "fallback",
        "crun",
        &["echo", "fell back"],
        false,
        &["--no-cgroup-mask"],
    );
    let mut c = f.client().await;
    let created = c
        .create(f.create_request(false, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.runtime_used, "runc");
    assert!(
        created.warning.contains("fell back to runc"),
        "{}",
        created.warning
    );
    assert!(created.warning.contains("cgroup"), "{}", created.warning);
    let s = state(&mut c, &f.id).await;
    assert_eq!(s.runtime_used, "runc");
    assert_eq!(s.warning, created.warning);
    c.start(pb::StartRequest { id: f.id.clone() })
        .await
        .unwrap();
    assert_eq!(wait(&mut c, &f.id, "").await, 0);
    assert_eq!(f.log_entries()[0]["log"], "fell back\n");
    assert!(f.shim_log().contains("fell back to runc"));
    f.teardown(&mut c).await;
}

/// Memory of idle shims holding a running container, printed (not asserted: debug builds are
/// much bigger). Run on a release build:
/// `FERRY_SHIM_BIN=target/release/ferry-shim cargo test -p ferry-shim --test containers -- --ignored footprint --nocapture`
#[tokio::test]
#[ignore]
async fn footprint() {
    const N: usize = 10;
    let mut fixtures = Vec::new();
    for i in 0..N {
        let rt = if i % 2 == 0 { "crun" } else { "runc" };
        let f = Fixture::new("mem", rt, &["sleep", "100"], false);
        let mut c = f.client().await;
        c.create(f.create_request(false, false)).await.unwrap();
        c.start(pb::StartRequest { id: f.id.clone() })
            .await
            .unwrap();
        fixtures.push(f);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut total_pss = 0;
    for f in &fixtures {
        let (pss, rss) = common::pss_rss_kib(f.shim_pid);
        println!(
            "shim {} ({}): PSS {pss} KiB, RSS {rss} KiB",
            f.shim_pid, f.runtime
        );
        total_pss += pss;
    }
    println!("mean PSS over {N} shims: {} KiB", total_pss / N as u64);
    if let Ok(script) = std::env::var("FOOTPRINT_INSPECT") {
        let out = std::process::Command::new("sh")
            .arg(script)
            .arg(fixtures[0].shim_pid.to_string())
            .output()
            .unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
    }
    for f in &fixtures {
        let mut c = f.client().await;
        f.teardown(&mut c).await;
    }
}
