//! Docker-parity details of the CLI that need a real daemon: what `run -it` does without a
//! terminal, the order `ps -a` lists containers made in one second, and how `save` ends on a
//! closed pipe.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use ferry_integration_tests::Env;

#[test]
fn run_it_without_a_terminal_fails_before_creating_anything() {
    let env = Env::builder().with_busybox().build();
    // `Env::ferry` gives the CLI /dev/null as stdin.
    let out = env.ferry(&["run", "-it", &env.busybox(), "true"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr, "the input device is not a TTY\n");
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "nothing was created");
    // -t alone does not read stdin, so it runs.
    let out = env.ferry(&["run", "--rm", "-t", &env.busybox(), "true"]);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn ps_lists_containers_of_one_second_newest_first() {
    let env = Env::builder().with_busybox().build();
    let names = ["p1", "p2", "p3", "p4"];
    for n in names {
        env.ok(&["create", "--name", n, &env.busybox(), "true"]);
    }
    let listed = env.lines(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(listed, ["p4", "p3", "p2", "p1"]);
    for n in names {
        env.ok(&["rm", n]);
    }
}

#[test]
fn save_to_a_closed_pipe_ends_quietly_by_sigpipe() {
    let env = Env::builder().with_busybox().build();
    let mut child = env
        .daemon()
        .command(&["save", &env.busybox()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry save");
    // `| head -c 0`: the reader is gone before the first byte.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ferry save");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "prints nothing");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
