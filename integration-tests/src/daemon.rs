//! The real `ferryd` daemon in a private data root, and the real `ferry` CLI
//! pointed at it.
//!
//! Binaries come from `$FERRY_BIN_DIR`, else the profile directory the test binary
//! itself was built in (`target/debug` for `cargo test`). Temporary directories
//! live under `/var/tmp` (a disk filesystem: overlayfs and xattrs behave as in
//! production, unlike tmpfs).

use std::fs::{self, File, OpenOptions};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::{teardown, var_tmpdir, wait_until};

/// How long `ferryd` gets to accept on its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long `stop()` waits after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Options for [`Daemon::start`].
#[derive(Debug, Clone, Default)]
pub struct DaemonOpts {
    /// Extra `ferryd` arguments, e.g. `["--insecure-registry", "127.0.0.1:5000"]`.
    pub args: Vec<String>,
    /// Extra environment variables for `ferryd`.
    pub env: Vec<(String, String)>,
}

impl DaemonOpts {
    /// Adds `--insecure-registry <addr>`.
    pub fn insecure_registry(mut self, addr: &str) -> Self {
        self.args.push("--insecure-registry".to_owned());
        self.args.push(addr.to_owned());
        self
    }

    /// Adds a raw argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// The outcome of one `ferry` invocation.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Captured stdout (lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8).
    pub stderr: String,
}

impl CmdOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A running (or stopped) `ferryd` with its own data and exec roots.
#[derive(Debug)]
pub struct Daemon {
    opts: DaemonOpts,
    dir: tempfile::TempDir,
    bin_dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts `ferryd` and waits until its socket accepts connections.
    pub fn start(opts: DaemonOpts) -> Daemon {
        let dir = var_tmpdir("ferry-it-");
        let mut daemon = Daemon {
            opts,
            dir,
            bin_dir: bin_dir(),
            child: None,
        };
        daemon.spawn();
        daemon
    }

    fn spawn(&mut self) {
        let ferryd = self.bin_dir.join("ferryd");
        let log = self.open_log();
        let child = Command::new(&ferryd)
            .arg("-H")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            // Tests run many daemons at once: only those that ask get a default bridge.
            .args(
                (!self.opts.args.iter().any(|a| a == "--bridge"))
                    .then_some(["--bridge", "none"])
                    .into_iter()
                    .flatten(),
            )
            // Pods join a CNI configuration only when a test gives one: the host's is not ours.
            .args(
                (!self.opts.args.iter().any(|a| a == "--cni-conf-dir"))
                    .then(|| ["--cni-conf-dir".into(), self.dir.path().join("cni-net.d")])
                    .into_iter()
                    .flatten(),
            )
            .args(&self.opts.args)
            .envs(self.opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone ferryd.log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", ferryd.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    fn open_log(&self) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open ferryd.log")
    }

    fn wait_ready(&mut self) {
        let socket = self.socket();
        let ready = wait_until(START_TIMEOUT, || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("ferryd exited early with {status}; log:\n{}", self.log());
            }
            UnixStream::connect(&socket).is_ok()
        });
        assert!(
            ready,
            "ferryd socket {} not accepting after {START_TIMEOUT:?}; log:\n{}",
            socket.display(),
            self.log()
        );
    }

    /// `unix://<tmp>/ferryd.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Path of the daemon socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("ferryd.sock")
    }

    /// `--data-root` of the daemon.
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `--exec-root` of the daemon.
    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("ferryd.log")
    }

    /// Everything `ferryd` wrote to stdout/stderr, across restarts.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// PID of the running daemon, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the daemon (no cleanup) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to [`STOP_TIMEOUT`]; panics (after SIGKILL) if
    /// the daemon ignores it. Returns the exit status (`None` if not running).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        send_sigterm(&child);
        let mut status = None;
        let exited = wait_until(STOP_TIMEOUT, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ferryd ignored SIGTERM for {STOP_TIMEOUT:?}; log:\n{}",
                self.log()
            );
        }
        status
    }

    /// Stops the daemon (if running) and starts it again on the same roots.
    pub fn restart(&mut self) {
        let _ = self.stop();
        self.spawn();
    }

    /// Runs `ferry -H unix://… <args>` and captures its output.
    pub fn ferry(&self, args: &[&str]) -> CmdOutput {
        self.ferry_with_env(args, &[])
    }

    /// Like [`Daemon::ferry`], with extra environment variables for the CLI.
    pub fn ferry_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> CmdOutput {
        let out = self
            .command(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin_dir.join("ferry").display()));
        CmdOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `ferry -H unix://… <args>`, not yet started: for tests that need its stdin, stdout or
    /// process (a pipe, a file, a signal) rather than its captured output.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("ferry"));
        cmd.arg("-H").arg(self.host()).args(args);
        cmd
    }

    /// Like [`Daemon::ferry`] but panics (with outputs and daemon log) unless it exits 0.
    pub fn ferry_ok(&self, args: &[&str]) -> CmdOutput {
        let out = self.ferry(args);
        assert!(
            out.success(),
            "ferry {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}\nferryd log:\n{}",
            out.code,
            out.stdout,
            out.stderr,
            self.log()
        );
        out
    }
}

/// Tears down everything the daemon made, whether the test passed, failed or panicked; see
/// [`crate::teardown`].
impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_containers();
        }
        self.kill9();
        teardown::kill_strays(self.dir.path(), &self.exec_root());
        teardown::unmount_below(self.dir.path());
        teardown::delete_bridges(&self.data_root());
    }
}

impl Daemon {
    /// `ferry rm -f` of every container, through the daemon: it alone undoes their networking.
    fn remove_containers(&self) {
        let Some(out) = teardown::run_bounded(self.command(&["ps", "-aq"])) else {
            return;
        };
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        let ids: Vec<&str> = listed.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = teardown::run_bounded(self.command(&args));
        }
    }
}

fn send_sigterm(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own
    // unreaped child, so it cannot have been recycled for another process.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(
        rc,
        0,
        "kill(SIGTERM) ferryd: {}",
        std::io::Error::last_os_error()
    );
}

/// Directory holding `ferryd` and `ferry`.
pub fn bin_dir() -> PathBuf {
    // Default: the binaries built with this test, in the same profile directory
    // (target/<profile>/deps/<test> → target/<profile>), never a stale build of another profile.
    let dir = match std::env::var_os("FERRY_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug")),
    };
    for bin in ["ferryd", "ferry"] {
        assert!(
            dir.join(bin).is_file(),
            "{bin} not found in {} — build it (cargo build --workspace --bins) \
             or set FERRY_BIN_DIR",
            dir.display()
        );
    }
    dir
}
