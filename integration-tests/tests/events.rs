//! `ferry events`: the history with --since/--until, filters, and live events, as Docker 28.

use std::io::BufRead;
use std::time::Duration;

use ferry_integration_tests::Env;

fn until_soon() -> String {
    (chrono_now() + 2).to_string()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[test]
fn a_containers_life_is_in_the_history_and_filters_pick_from_it() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&["run", "--name", "ev", &image, "true"]);
    let id = env.ok_trim(&["inspect", "--format", "{{.Id}}", "ev"]);
    env.ok(&["rm", "ev"]);
    let all = env.ok(&["events", "--since", "1", "--until", &until_soon()]);
    for action in ["create", "start", "die", "destroy"] {
        let want = format!(" container {action} {id} (");
        assert!(all.lines().any(|l| l.contains(&want)), "{action}: {all}");
    }
    assert!(
        all.contains("exitCode=0") && all.contains("name=ev"),
        "{all}"
    );
    let dies = env.ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &until_soon(),
        "--filter",
        "event=die",
    ]);
    assert_eq!(dies.lines().count(), 1, "{dies}");
    let fmt = env.ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &until_soon(),
        "--filter",
        "container=ev",
        "--filter",
        "event=start",
        "--format",
        "{{.Type}}/{{.Action}}/{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(fmt, "container/start/ev\n");
}

#[test]
fn live_events_stream_until_interrupted() {
    let env = Env::builder().build();
    let mut child = env
        .daemon()
        .command(&["events", "--filter", "type=volume"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferry events");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The subscription may not be in place the moment the process starts: create until seen.
    let mut seen = None;
    for i in 0..20 {
        env.ok(&["volume", "create", &format!("live{i}")]);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            seen = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = seen.expect("no live event arrived");
    assert!(line.contains(" volume create live"), "{line}");
    assert!(line.contains("driver=local"), "{line}");
}
