//! Runs a built spec with the real `runc` over a busybox rootfs: the proof
//! that the defaults (mounts, seccomp, caps, rlimits, devices) are accepted
//! by a runtime on this host. Needs root and `runc` (a missing one fails the test). The
//! bundle lives under /var/tmp because /tmp may be a tmpfs mounted noexec.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

const BUSYBOX: &str = "/bin/busybox";
const CGROUP_PARENT: &str = "ferry-spec-test";

/// The project's machines have all three (scripts/setup.sh installs them, CI runs as root): a
/// missing one fails the test rather than letting it pass without running.
fn require_runc() {
    let root = rustix::process::geteuid().is_root();
    let runc = Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        root && runc && Path::new(BUSYBOX).exists(),
        "the runc spec tests need root, runc and {BUSYBOX} (bash scripts/setup.sh)"
    );
}

fn unique_id(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("ferry-spec-{tag}-{}-{nanos:x}", std::process::id())
}

/// A bundle whose rootfs holds only busybox and its applet links.
fn bundle() -> tempfile::TempDir {
    let bundle = tempfile::Builder::new()
        .prefix("ferry-spec-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let bin = bundle.path().join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    for applet in ["sh", "echo", "true"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    bundle
}

/// `runc run` of `cmd` in a fresh bundle; the container is deleted on exit.
fn run_in_runc(cmd: &[&str]) -> Output {
    let bundle = bundle();
    let state = tempfile::tempdir().unwrap();
    let id = unique_id(cmd[0]);
    let image = ImageRuntimeConfig {
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    };
    let run = RunConfig {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        network: NetworkMode::None,
        cgroups_path: Some(format!("/{CGROUP_PARENT}/{id}")),
        pids_limit: Some(64),
        memory: Some(64 << 20),
        cpus: Some(0.5),
        ..Default::default()
    };
    let rootfs = bundle.path().join("rootfs");
    let spec = build_spec(&image, &run, &rootfs, &id).unwrap();
    spec.save(bundle.path().join("config.json")).unwrap();
    let output = Command::new("runc")
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    remove_cgroup_parents();
    output
}

/// runc removes the container's cgroups but not our parent directories;
/// best effort, as a concurrent test may still be using them.
fn remove_cgroup_parents() {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for hierarchy in hierarchies.flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join(CGROUP_PARENT));
    }
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "runc failed: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn runc_runs_true() {
    require_runc();
    let output = run_in_runc(&["true"]);
    assert_success(&output);
}

#[test]
fn runc_runs_echo() {
    require_runc();
    let output = run_in_runc(&["echo", "hi"]);
    assert_success(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hi\n");
}

#[test]
fn runc_applies_nofile_limit() {
    require_runc();
    let output = run_in_runc(&["sh", "-c", "ulimit -n"]);
    assert_success(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1024\n");
}
