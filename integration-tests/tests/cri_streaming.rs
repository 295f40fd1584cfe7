//! The CRI streaming server end to end: Exec returns a URL, a SPDY client (on ferryd's own
//! codec) upgrades it, and stdout and the exit code come back; a spent token, a bad
//! upgrade and garbage frames are refused without harming the daemon; a client that hangs
//! up mid-exec leaves no process behind.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_integration_tests::cri::CriClient;
use ferry_integration_tests::spdy;
use ferry_integration_tests::Env;
use k8s_cri::v1 as cri;

fn pod_config(log_dir: &Path) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "stream".into(),
            uid: "uid-stream".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: log_dir.display().to_string(),
        labels: HashMap::new(),
        ..Default::default()
    }
}

fn start_container(c: &CriClient, pod: &str, sb: &cri::PodSandboxConfig, image: &str) -> String {
    let mut rt = c.runtime.clone();
    let cfg = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "c".into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["sleep".into(), "300".into()],
        log_path: "c.log".into(),
        ..Default::default()
    };
    let req = cri::CreateContainerRequest {
        pod_sandbox_id: pod.into(),
        config: Some(cfg),
        sandbox_config: Some(sb.clone()),
    };
    let id = c.call(rt.create_container(req)).expect("create");
    let id = id.into_inner().container_id;
    let req = cri::StartContainerRequest {
        container_id: id.clone(),
    };
    c.call(rt.start_container(req)).expect("start");
    id
}

fn exec_url(c: &CriClient, id: &str, script: &str) -> Result<String, tonic::Status> {
    let mut rt = c.runtime.clone();
    let req = cri::ExecRequest {
        container_id: id.into(),
        cmd: vec!["sh".into(), "-c".into(), script.into()],
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    c.call(rt.exec(req)).map(|r| r.into_inner().url)
}

/// Runs an exec over SPDY v4: (stdout, stderr, the error stream's JSON).
fn spdy_exec(url: &str) -> (String, String, serde_json::Value) {
    let mut s = spdy::upgrade(url, "v4.channel.k8s.io").expect("upgrade");
    let (err, out, errout) = (s.open("error"), s.open("stdout"), s.open("stderr"));
    let got = s.collect();
    let text = |id| String::from_utf8_lossy(got.get(&id).map_or(&[][..], |v| v)).to_string();
    let status = serde_json::from_str(&text(err)).expect("a metav1.Status");
    (text(out), text(errout), status)
}

fn pids_of(c: &mut CriClient, id: &str, pattern: &str) -> String {
    let mut rt = c.runtime.clone();
    let req = cri::ExecSyncRequest {
        container_id: id.into(),
        cmd: vec![
            "sh".into(),
            "-c".into(),
            format!("ps -o pid,args | grep '{pattern}' | grep -v grep || true"),
        ],
        timeout: 10,
    };
    let r = c.call(rt.exec_sync(req)).expect("exec_sync").into_inner();
    String::from_utf8_lossy(&r.stdout).trim().to_string()
}

#[test]
fn exec_over_spdy_returns_output_and_exit_code_and_bad_input_is_refused() {
    let env = Env::builder()
        .with_busybox()
        .bridge(&format!("fys{:08x}", ferry_integration_tests::rand_u32()))
        .build();
    let mut c = CriClient::connect(&env.daemon().exec_root().join("cri.sock"));
    let logs = tempfile::tempdir().expect("log dir");
    let sb = pod_config(logs.path());
    let mut rt = c.runtime.clone();
    let req = cri::RunPodSandboxRequest {
        config: Some(sb.clone()),
        runtime_handler: String::new(),
    };
    let pod = c.call(rt.run_pod_sandbox(req)).expect("run pod");
    let pod = pod.into_inner().pod_sandbox_id;
    let id = start_container(&c, &pod, &sb, &env.busybox());

    // Output and the exit code through the v4 error stream.
    let url = exec_url(&c, &id, "echo -n hello; echo -n oops >&2; exit 3").expect("exec");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (out, err, status) = spdy_exec(&url);
    assert_eq!((out.as_str(), err.as_str()), ("hello", "oops"));
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    let (_, _, ok) = spdy_exec(&exec_url(&c, &id, "true").expect("exec"));
    assert_eq!(ok["status"], "Success");

    // A spent token, a made-up one, and a request that is no upgrade.
    let e = spdy::upgrade(&url, "v4.channel.k8s.io").expect_err("token reused");
    assert!(e.contains("404"), "{e}");
    let base = url.rsplit_once('/').expect("a token").0;
    let e = spdy::upgrade(&format!("{base}/nope"), "v4.channel.k8s.io").expect_err("made up");
    assert!(e.contains("404"), "{e}");
    let e =
        spdy::upgrade(&exec_url(&c, &id, "true").unwrap(), "v9.channel.k8s.io").expect_err("v9");
    assert!(e.contains("403"), "{e}");

    // Unknown container: NotFound from the RPC itself.
    let st = exec_url(&c, "no-such-container", "true").expect_err("unknown container");
    assert_eq!(st.code(), tonic::Code::NotFound);

    // Garbage frames end the connection; the daemon serves the next one.
    let mut s = spdy::upgrade(&exec_url(&c, &id, "true").unwrap(), "v4.channel.k8s.io").unwrap();
    s.raw(&[0x80, 3, 0, 1, 0, 0xff, 0xff, 0xff, 1, 2, 3]);
    assert!(
        s.closed_by_server(),
        "an oversized frame closes the connection"
    );
    let (out, _, _) = spdy_exec(&exec_url(&c, &id, "echo -n again").expect("exec"));
    assert_eq!(out, "again");

    // A client that hangs up mid-exec: its process is killed.
    let url = exec_url(&c, &id, "sleep 4242").expect("exec");
    let mut s = spdy::upgrade(&url, "v4.channel.k8s.io").expect("upgrade");
    let _ = (s.open("error"), s.open("stdout"), s.open("stderr"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids_of(&mut c, &id, "sleep 4242").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !pids_of(&mut c, &id, "sleep 4242").is_empty(),
        "the exec runs"
    );
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_of(&mut c, &id, "sleep 4242").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        pids_of(&mut c, &id, "sleep 4242"),
        "",
        "the exec was killed"
    );

    let stop = cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    };
    c.call(rt.stop_pod_sandbox(stop)).expect("stop pod");
    let rm = cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    };
    c.call(rt.remove_pod_sandbox(rm)).expect("remove pod");
}
