//! Test harness: a busybox OCI bundle built in code, a real `ferry-shim` launched the way
//! ferryd will launch it (`--ready-fd`), and a gRPC client over its unix socket.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry_proto::shim::v1 as pb;
use ferry_proto::shim::v1::shim_client::ShimClient;
use hyper_util::rt::TokioIo;
use oci_spec::runtime::Spec;
use tonic::transport::{Channel, Endpoint, Uri};

pub use pb::Status;

/// A container bundle, state dirs and a running shim, all under one temp dir in /var/tmp.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub runtime: &'static str,
    pub bundle: PathBuf,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub shim_pid: i32,
    pub extra_args: Vec<&'static str>,
}

/// Build `<dir>/bundle` running `args`.
pub fn bundle(dir: &Path, args: &[&str], terminal: bool) -> PathBuf {
    let b = dir.join("bundle");
    let bin = b.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(b.join("rootfs").join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for tool in ["sh", "echo", "sleep", "cat", "true", "stty"] {
        std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap();
    }
    let mut spec = Spec::default();
    // Default rlimits: NOFILE 1024:1024, within this host's hard limit; no oom_score_adj.
    let mut p = spec.process().clone().unwrap();
    p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
    p.set_env(Some(vec!["PATH=/bin".into(), "TERM=xterm".into()]));
    p.set_terminal(Some(terminal));
    spec.set_process(Some(p));
    spec.save(b.join("config.json")).unwrap();
    b
}

fn unique_id(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 100_000
}

impl Fixture {
    /// Bundle running `args` and a started shim for `runtime`.
    pub fn new(name: &str, runtime: &'static str, args: &[&str], terminal: bool) -> Self {
        Self::with_flags(name, runtime, args, terminal, &[])
    }

    /// Like `new`, with extra ferry-shim flags.
    pub fn with_flags(
        name: &str,
        runtime: &'static str,
        args: &[&str],
        terminal: bool,
        flags: &[&'static str],
    ) -> Self {
        std::fs::create_dir_all("/var/tmp/ferry-shim-tests").unwrap();
        let dir = tempfile::Builder::new()
            .prefix(name)
            .tempdir_in("/var/tmp/ferry-shim-tests")
            .unwrap();
        let bundle = bundle(dir.path(), args, terminal);
        let exec_root = dir.path().join("exec");
        let mut f = Self {
            id: unique_id(name),
            runtime,
            bundle,
            socket: exec_root.join("shim.sock"),
            state_dir: dir.path().join("state"),
            runtime_root: exec_root.join("runtime"),
            dir,
            shim_pid: 0,
            extra_args: flags.to_vec(),
        };
        f.shim_pid = f.launch();
        f
    }

    /// Start ferry-shim as ferryd would; returns the daemon's pid from the ready line.
    pub fn launch(&self) -> i32 {
        let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let wfd = w.as_raw_fd();
        // FERRY_SHIM_BIN runs another build (e.g. release) under the same tests.
        let bin = std::env::var_os("FERRY_SHIM_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_ferry-shim").into());
        let mut cmd = Command::new(bin);
        cmd.arg("--id").arg(&self.id);
        cmd.arg("--bundle").arg(&self.bundle);
        cmd.arg("--socket").arg(&self.socket);
        cmd.arg("--state-dir").arg(&self.state_dir);
        cmd.arg("--runtime-root").arg(&self.runtime_root);
        cmd.arg("--runtime").arg(self.runtime);
        cmd.arg("--ready-fd").arg(wfd.to_string());
        cmd.arg("--debug");
        cmd.args(&self.extra_args);
        // SAFETY: fcntl is async-signal-safe; it only clears CLOEXEC on the pipe's write end.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        drop(w);
        let status = child.wait().unwrap();
        assert!(status.success(), "ferry-shim exited {status}");
        let mut line = String::new();
        std::fs::File::from(r).read_to_string(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        assert!(v.get("error").is_none(), "shim failed: {line}");
        assert_eq!(v["socket"].as_str().unwrap(), self.socket.to_str().unwrap());
        v["pid"].as_i64().unwrap() as i32
    }

    pub async fn client(&self) -> ShimClient<Channel> {
        let path = self.socket.clone();
        let ch = Endpoint::try_from("http://shim.invalid")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let p = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?))
                }
            }))
            .await
            .unwrap();
        ShimClient::new(ch)
    }

    pub fn create_request(&self, terminal: bool, stdin: bool) -> pb::CreateRequest {
        pb::CreateRequest {
            id: self.id.clone(),
            bundle: self.bundle.display().to_string(),
            terminal,
            stdin,
            runtime: self.runtime.into(),
            log_max_size: 0,
            log_max_file: 0,
            cri_log_path: String::new(),
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.state_dir.join(format!("{}-json.log", self.id))
    }

    /// Parsed json-file log entries.
    pub fn log_entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn shim_alive(&self) -> bool {
        // Zombie or gone both count as dead.
        std::fs::read_to_string(format!("/proc/{}/stat", self.shim_pid))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    /// Wait up to `secs` for the shim process to go away.
    pub fn wait_shim_gone(&self, secs: u64) -> bool {
        for _ in 0..secs * 20 {
            if !self.shim_alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Delete and shut the shim down, asserting both work.
    pub async fn teardown(&self, c: &mut ShimClient<Channel>) {
        c.delete(pb::DeleteRequest {
            id: self.id.clone(),
            exec_id: String::new(),
            force: true,
        })
        .await
        .unwrap();
        c.shutdown(pb::ShutdownRequest {
            id: self.id.clone(),
            now: false,
        })
        .await
        .unwrap();
        assert!(self.wait_shim_gone(10), "shim did not exit after Shutdown");
        assert!(!self.socket.exists(), "socket left behind");
    }

    pub fn shim_log(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("shim.log")).unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.shim_alive() {
            // Best effort: remove the container inside the shim's mount namespace, then the shim.
            for rt in ["crun", "runc"] {
                let root = self.runtime_root.join(rt);
                let _ = Command::new("nsenter")
                    .args(["-t", &self.shim_pid.to_string(), "-m", rt, "--root"])
                    .arg(&root)
                    .args(["delete", "-f", &self.id])
                    .output();
            }
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.shim_pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if std::thread::panicking() {
            eprintln!("--- shim.log ---\n{}", self.shim_log());
        }
    }
}

/// Wait for the init (or an exec) and return its exit code.
pub async fn wait(c: &mut ShimClient<Channel>, id: &str, exec_id: &str) -> i32 {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        c.wait(pb::WaitRequest {
            id: id.into(),
            exec_id: exec_id.into(),
        }),
    )
    .await
    .expect("wait timed out")
    .unwrap()
    .into_inner();
    assert!(r.exited_at.is_some());
    r.exit_code
}

pub async fn state(c: &mut ShimClient<Channel>, id: &str) -> pb::StateResponse {
    c.state(pb::StateRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

/// PSS and RSS of a process in KiB, from /proc/PID/smaps_rollup.
pub fn pss_rss_kib(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Rss:"))
}
