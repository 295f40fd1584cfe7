//! `ferry version` and `ferry info` against a real ferryd: both sections, the counts after a
//! create, Docker's `--format` fields, and the Client section alone when no daemon answers.

use ferry_integration_tests::Env;

/// The value of `Key: value` in `ferry info`'s text (the first such line).
fn info_value(text: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        .trim()
        .to_string()
}

#[test]
fn version_shows_the_client_and_the_daemon() {
    let env = Env::builder().no_registry().build();
    let out = env.ok(&["version"]);
    let (client, server) = out
        .split_once("\nServer: Ferry Engine\n")
        .unwrap_or_else(|| panic!("no Server section:\n{out}"));
    let version = env!("CARGO_PKG_VERSION");
    assert!(client.starts_with("Client:\n"), "{out}");
    assert!(
        client.contains(&format!(" Version:           {version}\n")),
        "{out}"
    );
    assert!(server.starts_with(" Engine:\n"), "{out}");
    assert!(
        server.contains(&format!("  Version:          {version}\n")),
        "{out}"
    );
    assert!(server.contains("  Default runtime:  crun\n"), "{out}");
    assert!(server.contains("\n crun:\n  Version:"), "{out}");
    assert!(server.contains("\n runc:\n  Version:"), "{out}");
    assert_eq!(
        env.ok_trim(&["version", "--format", "{{.Server.Version}}"]),
        version
    );
    let json = env.ok(&["version", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["Client"]["Version"], version);
    assert_eq!(v["Server"]["Components"][0]["Name"], "Engine");
}

#[test]
fn info_counts_what_the_daemon_holds() {
    let env = Env::builder().with_busybox().build();
    let before = env.ok(&["info"]);
    assert_eq!(info_value(&before, "Containers"), "0", "{before}");
    env.ok(&["create", "--name", "counted", &env.busybox(), "true"]);
    let out = env.ok(&["info"]);
    assert!(out.starts_with("Client:\n"), "{out}");
    assert!(out.contains("\nServer:\n Containers: 1\n"), "{out}");
    assert_eq!(info_value(&out, "Stopped"), "1", "{out}");
    assert_eq!(info_value(&out, "Running"), "0", "{out}");
    assert_eq!(info_value(&out, "Images"), "1", "{out}");
    assert_eq!(info_value(&out, "Storage Driver"), "overlayfs");
    assert_eq!(info_value(&out, "Default Runtime"), "crun");
    assert_eq!(info_value(&out, "Live Restore Enabled"), "true");
    let root = env.daemon().data_root().display().to_string();
    assert_eq!(info_value(&out, "Ferry Root Dir"), root);
    let id = info_value(&out, "ID");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(env.ok_trim(&["info", "--format", "{{.Containers}}"]), "1");
    assert_eq!(env.ok_trim(&["info", "--format", "{{.Images}}"]), "1");
    assert_eq!(
        env.ok_trim(&["info", "--format", "{{.ID}}"]),
        id,
        "the ID is stable"
    );
    env.ok(&["rm", "counted"]);
    assert_eq!(env.ok_trim(&["info", "--format", "{{.Containers}}"]), "0");
}

#[test]
fn without_a_daemon_version_prints_the_client_and_fails() {
    let mut env = Env::builder().no_registry().build();
    env.daemon_mut().stop();
    let out = env.fails(&["version"]);
    assert!(out.stdout.starts_with("Client:\n Version:"), "{out:?}");
    assert!(!out.stdout.contains("Server"), "{out:?}");
    assert!(
        out.stderr.contains("Cannot connect to the Ferry daemon"),
        "{out:?}"
    );
    let out = env.fails(&["info"]);
    assert!(out.stdout.starts_with("Client:\n"), "{out:?}");
    assert!(out.stderr.starts_with("ERROR: Cannot connect"), "{out:?}");
}
