//! The CRI v1 end to end, driven as the kubelet drives it, with a client from the same
//! bindings: a pod of two containers sharing the pod's network, IPC and UTS namespaces;
//! ExecSync (with a deadline), logs, stats, the image service; a ferryd restart in between;
//! idempotent stop and remove; nothing left after removal.

use std::collections::HashMap;
use std::path::Path;

use ferry_integration_tests::cri::CriClient;
use ferry_integration_tests::Env;
use k8s_cri::v1 as cri;

fn env() -> Env {
    Env::builder()
        .with_busybox()
        .bridge(&format!("fyc{:08x}", ferry_integration_tests::rand_u32()))
        .build()
}

fn client(env: &Env) -> CriClient {
    CriClient::connect(&env.daemon().exec_root().join("cri.sock"))
}

fn pod_config(log_dir: &Path) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "web".into(),
            uid: "uid-1234".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "cri-pod".into(),
        log_directory: log_dir.display().to_string(),
        dns_config: Some(cri::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["default.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
        labels: HashMap::from([("app".into(), "web".into())]),
        ..Default::default()
    }
}

fn container_config(image: &str, name: &str, script: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into()],
        args: vec![script.into()],
        log_path: format!("{name}.log"),
        labels: HashMap::from([("role".into(), name.into())]),
        ..Default::default()
    }
}

fn exec(c: &mut CriClient, id: &str, cmd: &[&str]) -> cri::ExecSyncResponse {
    let req = cri::ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout: 10,
    };
    let mut rt = c.runtime.clone();
    c.call(rt.exec_sync(req))
        .unwrap_or_else(|e| panic!("exec {cmd:?}: {e}"))
        .into_inner()
}

fn out(r: &cri::ExecSyncResponse) -> String {
    String::from_utf8_lossy(&r.stdout).trim().to_string()
}

fn status(c: &CriClient, id: &str) -> cri::ContainerStatus {
    let mut rt = c.runtime.clone();
    let req = cri::ContainerStatusRequest {
        container_id: id.into(),
        verbose: false,
    };
    c.call(rt.container_status(req))
        .expect("status")
        .into_inner()
        .status
        .expect("a status")
}

/// RunPodSandbox; the pod's ID.
fn run_pod(c: &CriClient, config: &cri::PodSandboxConfig) -> String {
    let mut rt = c.runtime.clone();
    let req = cri::RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: String::new(),
    };
    c.call(rt.run_pod_sandbox(req))
        .expect("run pod")
        .into_inner()
        .pod_sandbox_id
}

fn create_and_start(
    c: &CriClient,
    pod: &str,
    cfg: cri::ContainerConfig,
    sb: &cri::PodSandboxConfig,
) -> String {
    let mut rt = c.runtime.clone();
    let req = cri::CreateContainerRequest {
        pod_sandbox_id: pod.into(),
        config: Some(cfg),
        sandbox_config: Some(sb.clone()),
    };
    let id = c
        .call(rt.create_container(req))
        .expect("create")
        .into_inner()
        .container_id;
    let req = cri::StartContainerRequest {
        container_id: id.clone(),
    };
    c.call(rt.start_container(req)).expect("start");
    id
}

#[test]
fn a_pod_of_two_containers_shares_its_namespaces_survives_a_restart_and_leaves_nothing() {
    let mut env = env();
    let mut c = client(&env);
    let mut rt = c.runtime.clone();
    let v = c
        .call(rt.version(cri::VersionRequest::default()))
        .expect("version")
        .into_inner();
    assert_eq!(
        (v.runtime_name.as_str(), v.runtime_api_version.as_str()),
        ("ferry", "v1")
    );
    let st = c
        .call(rt.status(cri::StatusRequest::default()))
        .expect("status")
        .into_inner();
    let conds = st.status.expect("conditions").conditions;
    assert!(conds.iter().all(|x| x.status), "{conds:?}");

    let logs = tempfile::tempdir_in("/var/tmp").expect("log dir");
    let sb = pod_config(logs.path());
    let pod = run_pod(&c, &sb);

    let image = env.busybox();
    let a = create_and_start(
        &c,
        &pod,
        container_config(&image, "a", "echo hello; echo oops >&2; exec sleep 300"),
        &sb,
    );
    let b = create_and_start(
        &c,
        &pod,
        container_config(&image, "b", "exec sleep 300"),
        &sb,
    );
    assert_eq!(
        status(&c, &a).state,
        cri::ContainerState::ContainerRunning as i32
    );

    // One pod: the same network, IPC and UTS namespaces, the pod's hostname and DNS.
    for ns in ["net", "ipc", "uts", "pid"] {
        let link = format!("/proc/self/ns/{ns}");
        assert_eq!(
            out(&exec(&mut c, &a, &["readlink", &link])),
            out(&exec(&mut c, &b, &["readlink", &link])),
            "{ns}"
        );
    }
    assert_eq!(out(&exec(&mut c, &b, &["hostname"])), "cri-pod");
    let resolv = out(&exec(&mut c, &a, &["cat", "/etc/resolv.conf"]));
    assert!(
        resolv.contains("nameserver 10.96.0.10") && resolv.contains("ndots:5"),
        "{resolv}"
    );
    let failed = exec(&mut c, &a, &["sh", "-c", "echo to-err >&2; exit 3"]);
    assert_eq!(
        (
            failed.exit_code,
            String::from_utf8_lossy(&failed.stderr).trim()
        ),
        (3, "to-err")
    );
    let late = cri::ExecSyncRequest {
        container_id: a.clone(),
        cmd: vec!["sleep".into(), "30".into()],
        timeout: 1,
    };
    let err = c.call(rt.exec_sync(late)).expect_err("the deadline passes");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err}");

    // The CRI log: timestamp, stream, tag, line; and a reopen starts a new file.
    let log = logs.path().join("a.log");
    let text = std::fs::read_to_string(&log).expect("a's CRI log");
    let tail: Vec<String> = text
        .lines()
        .map(|l| l.split_once(' ').map_or("", |x| x.1).to_string())
        .collect();
    assert!(
        tail.contains(&"stdout F hello".to_string()) && tail.contains(&"stderr F oops".to_string()),
        "{text}"
    );
    assert_eq!(status(&c, &a).log_path, log.display().to_string());
    std::fs::rename(&log, logs.path().join("a.log.1")).expect("rotate");
    let reopen = cri::ReopenContainerLogRequest {
        container_id: a.clone(),
    };
    c.call(rt.reopen_container_log(reopen)).expect("reopen");
    assert!(log.exists(), "the reopen made a new file");

    // Listing with the CRI's filters; the CLI sees the same containers, labelled.
    let by_label = cri::ListContainersRequest {
        filter: Some(cri::ContainerFilter {
            pod_sandbox_id: pod.clone(),
            label_selector: HashMap::from([("role".into(), "b".into())]),
            ..Default::default()
        }),
    };
    let listed = c
        .call(rt.list_containers(by_label))
        .expect("list")
        .into_inner()
        .containers;
    assert_eq!(
        listed.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        [b.as_str()]
    );
    let ps = env.ok(&[
        "ps",
        "--format",
        "{{.Names}} {{.Label \"io.kubernetes.pod.name\"}}",
    ]);
    assert!(ps.contains("k8s_a_web_default_uid-1234_0 web"), "{ps}");
    let stats = cri::ContainerStatsRequest {
        container_id: a.clone(),
    };
    let stats = c
        .call(rt.container_stats(stats))
        .expect("stats")
        .into_inner()
        .stats
        .expect("stats");
    assert!(stats
        .memory
        .and_then(|m| m.working_set_bytes)
        .is_some_and(|m| m.value > 0));

    // A restart keeps the pod and its running containers.
    env.daemon_mut().restart();
    let mut c = client(&env);
    let mut rt = c.runtime.clone();
    let pods = c
        .call(rt.list_pod_sandbox(cri::ListPodSandboxRequest::default()))
        .expect("pods")
        .into_inner()
        .items;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].state, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(out(&exec(&mut c, &b, &["hostname"])), "cri-pod");

    let stop = cri::StopContainerRequest {
        container_id: a.clone(),
        timeout: 0,
    };
    c.call(rt.stop_container(stop.clone())).expect("stop");
    c.call(rt.stop_container(stop))
        .expect("stopping a stopped container succeeds");
    // In the pod's shared PID namespace the process is not PID 1: SIGTERM ends it (143).
    let s = status(&c, &a);
    assert_eq!(
        (s.state, s.exit_code, s.reason.as_str()),
        (cri::ContainerState::ContainerExited as i32, 143, "Error")
    );
    assert!(s.finished_at >= s.started_at && s.started_at > 0);

    let pod_req = || cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    };
    c.call(rt.stop_pod_sandbox(pod_req())).expect("stop pod");
    c.call(rt.stop_pod_sandbox(pod_req()))
        .expect("stop pod again");
    let rm = || cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    };
    c.call(rt.remove_pod_sandbox(rm())).expect("remove pod");
    c.call(rt.remove_pod_sandbox(rm()))
        .expect("removing a removed pod succeeds");
    let gone = cri::RemoveContainerRequest {
        container_id: b.clone(),
    };
    c.call(rt.remove_container(gone))
        .expect("removing a removed container succeeds");
    assert!(env.ok_trim(&["ps", "-aq"]).is_empty());
    let exec_root = env.daemon().exec_root();
    assert!(
        !exec_root.join("netns").join(&pod).exists(),
        "the pod's netns is left"
    );
    assert!(
        !exec_root.join("pods").join(&pod).exists(),
        "the pod's pinned namespaces are left"
    );
}

#[test]
fn the_image_service_shares_the_cli_store_and_answers_for_missing_images() {
    let env = env();
    let c = client(&env);
    let mut img = c.images.clone();
    let image = env.busybox();
    let spec = |i: &str| {
        Some(cri::ImageSpec {
            image: i.into(),
            ..Default::default()
        })
    };
    let listed = c
        .call(img.list_images(cri::ListImagesRequest::default()))
        .expect("list")
        .into_inner()
        .images;
    assert!(
        listed
            .iter()
            .any(|i| i.repo_tags.iter().any(|t| t == &image)),
        "{listed:?}"
    );
    let st = c.call(img.image_status(cri::ImageStatusRequest {
        image: spec("nosuch/image:1"),
        verbose: false,
    }));
    assert!(st
        .expect("a missing image is not an error")
        .into_inner()
        .image
        .is_none());
    c.call(img.remove_image(cri::RemoveImageRequest {
        image: spec(&image),
    }))
    .expect("remove");
    assert!(
        !env.ok(&["images"]).contains("busybox"),
        "the CLI sees the removal"
    );
    c.call(img.remove_image(cri::RemoveImageRequest {
        image: spec(&image),
    }))
    .expect("removing again succeeds");
    let pulled = c.call(img.pull_image(cri::PullImageRequest {
        image: spec(&image),
        ..Default::default()
    }));
    let id = pulled.expect("pull").into_inner().image_ref;
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(env.ok(&["images", "--no-trunc"]).contains(&id));
    let fs = c
        .call(img.image_fs_info(cri::ImageFsInfoRequest {}))
        .expect("fs info")
        .into_inner();
    assert!(fs.image_filesystems[0]
        .used_bytes
        .as_ref()
        .is_some_and(|u| u.value > 0));
}

#[test]
fn an_oom_kill_is_reported_as_oomkilled_with_137() {
    let env = env();
    let c = client(&env);
    let mut rt = c.runtime.clone();
    let logs = tempfile::tempdir_in("/var/tmp").expect("log dir");
    let sb = pod_config(logs.path());
    let pod = run_pod(&c, &sb);
    let mut cfg = container_config(&env.busybox(), "hog", "tail /dev/zero");
    cfg.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 15 << 20,
            ..Default::default()
        }),
        security_context: None,
    });
    let id = create_and_start(&c, &pod, cfg, &sb);
    let exited = ferry_integration_tests::wait_until(std::time::Duration::from_secs(30), || {
        status(&c, &id).state == cri::ContainerState::ContainerExited as i32
    });
    assert!(exited, "the hog was not killed");
    let s = status(&c, &id);
    assert_eq!((s.exit_code, s.reason.as_str()), (137, "OOMKilled"));
    assert_eq!(
        env.inspect(&id)["State"]["OOMKilled"],
        true,
        "Docker's inspect says so too"
    );
    c.call(rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    }))
    .expect("remove pod");
}

/// Deletes a bridge interface when dropped (the CNI bridge plugin creates it on first ADD).
struct BridgeGuard(String);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .status();
    }
}

#[test]
fn pods_join_the_first_cni_configuration_of_the_conf_dir() {
    let n = ferry_integration_tests::rand_u32();
    let conf = tempfile::tempdir_in("/var/tmp").expect("conf dir");
    let bridge = BridgeGuard(format!("fyk{:08x}", n));
    let subnet = format!("10.231.{}.0/24", n % 250);
    let ipam = conf.path().join("ipam");
    let list = serde_json::json!({
        "cniVersion": "1.0.0", "name": "k8s-pod-network",
        "plugins": [
            {"type": "bridge", "bridge": bridge.0, "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": ipam}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    std::fs::write(conf.path().join("10-k8s.conflist"), list.to_string()).expect("conflist");
    let env = Env::builder()
        .with_busybox()
        .daemon_arg("--cni-conf-dir")
        .daemon_arg(&conf.path().display().to_string())
        .build();
    let c = client(&env);
    let mut rt = c.runtime.clone();
    let logs = tempfile::tempdir_in("/var/tmp").expect("log dir");
    let pod = run_pod(&c, &pod_config(logs.path()));
    let req = cri::PodSandboxStatusRequest {
        pod_sandbox_id: pod.clone(),
        verbose: false,
    };
    let st = c
        .call(rt.pod_sandbox_status(req))
        .expect("status")
        .into_inner()
        .status
        .expect("status");
    let ip = st.network.expect("network").ip;
    let prefix = subnet.trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "{ip} is not in {subnet}");
    let lease = ipam.join("k8s-pod-network").join(&ip);
    assert!(lease.exists(), "host-local holds {ip} for the pod");
    c.call(rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    }))
    .expect("stop");
    assert!(!lease.exists(), "the DEL released {ip}");
    c.call(rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    }))
    .expect("remove");
}

/// Unmounts (lazily, innermost first) what a test mounted on the host, when dropped.
struct Unmount(Vec<std::path::PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(p)
                .status();
        }
    }
}

#[test]
fn a_bidirectional_mount_propagates_back_to_the_host_and_a_private_one_does_not() {
    let env = env();
    let c = client(&env);
    let mut rt = c.runtime.clone();
    let host = tempfile::tempdir_in("/var/tmp").expect("host dir");
    let (shared, private) = (host.path().join("shared"), host.path().join("private"));
    let mut guard = Unmount(Vec::new());
    for (dir, how) in [(&shared, "--make-rshared"), (&private, "--make-rprivate")] {
        std::fs::create_dir_all(dir.join("inner")).expect("mkdir");
        let ok = |args: &[&std::ffi::OsStr]| {
            std::process::Command::new("mount")
                .args(args)
                .status()
                .expect("mount")
                .success()
        };
        assert!(ok(&[dir.as_os_str(), dir.as_os_str(), "--bind".as_ref()]));
        guard.0.push(dir.clone());
        assert!(ok(&[how.as_ref(), dir.as_os_str()]));
    }
    let logs = tempfile::tempdir_in("/var/tmp").expect("log dir");
    let mut sb = pod_config(logs.path());
    sb.linux = Some(cri::LinuxPodSandboxConfig {
        security_context: Some(cri::LinuxSandboxSecurityContext {
            privileged: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    let pod = run_pod(&c, &sb);
    let mut cfg = container_config(&env.busybox(), "m", "exec sleep 300");
    let mount = |h: &Path, ctr: &str, p: cri::MountPropagation| cri::Mount {
        host_path: h.display().to_string(),
        container_path: ctr.into(),
        propagation: p as i32,
        ..Default::default()
    };
    cfg.mounts = vec![
        mount(
            &shared,
            "/shared",
            cri::MountPropagation::PropagationBidirectional,
        ),
        mount(
            &private,
            "/private",
            cri::MountPropagation::PropagationPrivate,
        ),
    ];
    cfg.linux = Some(cri::LinuxContainerConfig {
        resources: None,
        security_context: Some(cri::LinuxContainerSecurityContext {
            privileged: true,
            ..Default::default()
        }),
    });
    let id = create_and_start(&c, &pod, cfg, &sb);
    guard.0.push(shared.join("inner"));
    let mut c = c;
    for dir in ["/shared/inner", "/private/inner"] {
        let r = exec(&mut c, &id, &["mount", "--bind", "/etc", dir]);
        assert_eq!(r.exit_code, 0, "{}", String::from_utf8_lossy(&r.stderr));
    }
    assert!(
        shared.join("inner/passwd").exists(),
        "the bidirectional mount did not reach the host"
    );
    assert!(
        !private.join("inner/passwd").exists(),
        "the private mount leaked to the host"
    );
    c.call(rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    }))
    .expect("remove pod");
}

#[test]
fn a_pod_whose_init_died_is_not_ready_after_a_restart_and_still_removes_cleanly() {
    let mut env = env();
    let c = client(&env);
    let mut rt = c.runtime.clone();
    let logs = tempfile::tempdir_in("/var/tmp").expect("log dir");
    let pod = run_pod(&c, &pod_config(logs.path()));
    let req = cri::PodSandboxStatusRequest {
        pod_sandbox_id: pod.clone(),
        verbose: true,
    };
    let info = c
        .call(rt.pod_sandbox_status(req))
        .expect("status")
        .into_inner()
        .info;
    let v: serde_json::Value = serde_json::from_str(&info["info"]).expect("verbose info");
    let pid_ns = v["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n[0] == "pid")
        .expect("a pid namespace")[1]
        .as_str()
        .expect("path")
        .to_string();
    let init: i32 = pid_ns
        .trim_start_matches("/proc/")
        .trim_end_matches("/ns/pid")
        .parse()
        .expect("init pid");
    // SAFETY: a plain kill(2) of the pod's init, which this test made.
    assert_eq!(unsafe { libc::kill(init, libc::SIGKILL) }, 0);
    assert!(ferry_integration_tests::wait_until(
        std::time::Duration::from_secs(5),
        || !Path::new(&pid_ns).exists()
    ));
    drop(c);
    env.daemon_mut().restart();
    let c = client(&env);
    let mut rt = c.runtime.clone();
    let pods = c
        .call(rt.list_pod_sandbox(cri::ListPodSandboxRequest::default()))
        .expect("pods")
        .into_inner()
        .items;
    assert_eq!(pods[0].state, cri::PodSandboxState::SandboxNotready as i32);
    assert!(
        !env.daemon().exec_root().join("netns").join(&pod).exists(),
        "the dead pod's netns is torn down"
    );
    c.call(rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    }))
    .expect("remove");
}
