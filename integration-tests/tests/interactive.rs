//! `-it` through real pseudo-terminals: type, read, detach with Ctrl-P Ctrl-Q, reattach, and
//! several clients attached at once. Ferry does better than Docker here: a Ctrl-P not followed
//! by Ctrl-Q reaches the process (moby#12510).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_integration_tests::fixtures;
use ferry_integration_tests::{daemon::bin_dir, wait_until, Daemon, DaemonOpts, Registry};

/// `ferry` running on the slave side of a new pty, its session's controlling terminal.
struct PtyChild {
    master: File,
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl PtyChild {
    fn spawn(daemon: &Daemon, args: &[&str]) -> PtyChild {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the locals; the other pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: openpty returned these fds and nothing else owns them.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = || Stdio::from(slave.try_clone().expect("dup slave"));
        let mut cmd = Command::new(bin_dir().join("ferry"));
        cmd.arg("-H")
            .arg(daemon.host())
            .args(args)
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio());
        // SAFETY: setsid and ioctl are async-signal-safe; they make the pty the child's
        // controlling terminal, as a terminal emulator would.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn ferry in a pty");
        drop(slave);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().expect("dup master"), Arc::clone(&seen));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        PtyChild {
            master,
            child,
            seen,
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("lock")).into_owned()
    }

    fn expect(&self, what: &str) {
        let ok = wait_until(Duration::from_secs(10), || self.output().contains(what));
        assert!(
            ok,
            "never saw {what:?}; the terminal shows:\n{}",
            self.output()
        );
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let mut code = None;
        let done = wait_until(Duration::from_secs(10), || match self.child.try_wait() {
            Ok(Some(s)) => {
                code = s.code();
                true
            }
            _ => false,
        });
        assert!(done, "ferry did not exit; terminal:\n{}", self.output());
        code
    }
}

impl Drop for PtyChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup() -> (Registry, Daemon, String) {
    let registry = Registry::start();
    fixtures::busybox().push(&registry.addr(), "library/busybox:latest");
    let daemon = Daemon::start(DaemonOpts::default());
    let image = format!("{}/library/busybox:latest", registry.addr());
    daemon.ferry_ok(&["pull", "-q", &image]);
    (registry, daemon, image)
}

#[test]
fn interactive_session_detach_with_ctrl_p_ctrl_q_and_reattach() {
    let (_r, daemon, image) = setup();
    let mut term = PtyChild::spawn(&daemon, &["run", "-it", "--name", "tty1", &image, "sh"]);
    term.expect("# ");
    term.send(b"echo $((6*7))x\r");
    term.expect("42x");
    // Ctrl-P then 'a' is not the detach sequence: both bytes reach the shell's `read`.
    term.send(b"read v; printf '%s' \"$v\" | wc -c\r");
    std::thread::sleep(Duration::from_millis(300));
    term.send(b"\x10a\r");
    term.expect("\n2\r\n");
    term.send(b"stty size\r");
    term.expect("24 80");
    term.send(b"\x10\x11");
    assert_eq!(
        term.wait_exit(),
        Some(0),
        "detaching leaves ferry with status 0"
    );
    term.expect("read escape sequence");
    let state = daemon
        .ferry_ok(&["ps", "--filter", "name=tty1", "--format", "{{.State}}"])
        .stdout;
    assert_eq!(
        state, "running\n",
        "the container keeps running after a detach"
    );

    let mut again = PtyChild::spawn(&daemon, &["attach", "tty1"]);
    std::thread::sleep(Duration::from_millis(500));
    again.send(b"echo back$((1+1))\r");
    again.expect("back2");
    again.send(b"exit 3\r");
    assert_eq!(
        again.wait_exit(),
        Some(3),
        "attach returns the container's exit code"
    );
}

#[test]
fn several_clients_attach_to_one_detached_container() {
    let (_r, daemon, image) = setup();
    daemon.ferry_ok(&["run", "-dit", "--name", "shared", &image, "sh"]);
    let mut a = PtyChild::spawn(&daemon, &["attach", "shared"]);
    let b = PtyChild::spawn(&daemon, &["attach", "shared"]);
    std::thread::sleep(Duration::from_millis(500));
    a.send(b"echo both$((40+2))\r");
    a.expect("both42");
    b.expect("both42");
    a.send(b"\x10\x11");
    assert_eq!(a.wait_exit(), Some(0));
    drop(b);
    daemon.ferry_ok(&["rm", "-f", "shared"]);
}

#[test]
fn pull_on_a_terminal_draws_live_progress_lines() {
    let registry = Registry::start();
    fixtures::multi_layer().push(&registry.addr(), "app/multi:1");
    let daemon = Daemon::start(DaemonOpts::default());
    let image = format!("{}/app/multi:1", registry.addr());
    let mut term = PtyChild::spawn(&daemon, &["pull", &image]);
    assert_eq!(term.wait_exit(), Some(0), "{}", term.output());
    term.expect("Status: Downloaded newer image for");
    let out = term.output();
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains("\u{1b}["),
        "a terminal gets redrawn progress lines: {out:?}"
    );
}
