//! Whole-spec tests: what `build_spec_with` assembles from the parts.

use std::path::Path;

use oci_spec::runtime::{Capability, LinuxNamespaceType, PosixRlimitType, Spec};

use super::*;

const CONTAINER_ID: &str = "0123456789abcdef0123";

fn host() -> HostFacts {
    HostFacts {
        nofile_hard: 1 << 20,
        bounding: 0x0000_01ff_feff_ffff, // everything but CAP_SYS_RESOURCE
        swap_limit: true,
    }
}

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:www:/var/www:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/group"),
        "root:x:0:\nwww:x:33:\nlog:x:4:web\n",
    )
    .unwrap();
    dir
}

fn image() -> ImageRuntimeConfig {
    serde_json::from_str(
        r#"{"Env": ["PATH=/usr/bin:/bin", "LANG=C"], "Cmd": ["nginx", "-g", "daemon off;"],
            "Entrypoint": null, "WorkingDir": "/srv", "User": "web",
            "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"}"#,
    )
    .unwrap()
}

fn build(run: &RunConfig, host: &HostFacts) -> Spec {
    let root = rootfs();
    build_spec_with(&image(), run, root.path(), CONTAINER_ID, host).unwrap()
}

fn caps_of(spec: &Spec) -> &oci_spec::runtime::LinuxCapabilities {
    spec.process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap()
}

#[test]
fn image_config_parses_null_env_and_missing_fields() {
    let config: ImageRuntimeConfig =
        serde_json::from_str(r#"{"Env": null, "Cmd": ["sh"]}"#).unwrap();
    assert!(config.env.is_empty());
    assert_eq!(config.cmd, Some(vec!["sh".to_string()]));
    let empty: ImageRuntimeConfig = serde_json::from_str("{}").unwrap();
    assert!(empty.entrypoint.is_none() && empty.exposed_ports.is_none());
}

#[test]
fn process_section_follows_image_and_flags() {
    let run = RunConfig {
        env: vec!["LANG=en_US.UTF-8".into()],
        tty: true,
        ..Default::default()
    };
    let spec = build(&run, &host());
    let process = spec.process().as_ref().unwrap();
    assert_eq!(
        process.args().as_ref().unwrap(),
        &["nginx", "-g", "daemon off;"]
    );
    assert_eq!(
        process.env().as_ref().unwrap(),
        &[
            "PATH=/usr/bin:/bin",
            "HOSTNAME=0123456789ab",
            "TERM=xterm",
            "LANG=en_US.UTF-8",
            "HOME=/var/www",
        ]
    );
    assert_eq!(process.cwd(), Path::new("/srv"));
    assert_eq!((process.user().uid(), process.user().gid()), (33, 33));
    assert_eq!(process.user().additional_gids().as_ref().unwrap(), &[4]);
    assert_eq!(process.terminal(), Some(true));
    assert_eq!(process.no_new_privileges(), Some(false));
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    assert_eq!(spec.version(), OCI_VERSION);
}

#[test]
fn user_flag_overrides_image_user_and_hostname_flag_wins() {
    let run = RunConfig {
        user: Some("0:0".into()),
        hostname: Some("box".into()),
        ..Default::default()
    };
    let spec = build(&run, &host());
    let process = spec.process().as_ref().unwrap();
    assert_eq!((process.user().uid(), process.user().gid()), (0, 0));
    assert!(process
        .env()
        .as_ref()
        .unwrap()
        .contains(&"HOSTNAME=box".to_string()));
    assert_eq!(spec.hostname().as_deref(), Some("box"));
}

#[test]
fn nofile_is_1024_but_never_above_hard_limit() {
    for (hard, want) in [(1 << 20, 1024), (512, 512), (1024, 1024)] {
        let facts = HostFacts {
            nofile_hard: hard,
            ..host()
        };
        let spec = build(&RunConfig::default(), &facts);
        let rlimits = spec.process().as_ref().unwrap().rlimits().clone().unwrap();
        assert_eq!(rlimits.len(), 1, "only RLIMIT_NOFILE");
        assert_eq!(rlimits[0].typ(), PosixRlimitType::RlimitNofile);
        assert_eq!(
            (rlimits[0].soft(), rlimits[0].hard()),
            (want, want),
            "hard limit {hard}"
        );
    }
    let real = build_spec(&image(), &RunConfig::default(), rootfs().path(), "x").unwrap();
    let rlimit = real.process().as_ref().unwrap().rlimits().clone().unwrap()[0];
    assert!(rlimit.hard() <= HostFacts::current().nofile_hard);
}

#[test]
fn no_oom_score_adj_and_json_round_trips() {
    let spec = build(&RunConfig::default(), &host());
    let json = serde_json::to_string(&spec).unwrap();
    assert!(!json.contains("oomScoreAdj"), "{json}");
    assert!(!json.contains("annotations"));
    let back: Spec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["ociVersion"], "1.0.2");
    assert_eq!(value["root"]["readonly"], false);
}

#[test]
fn default_capabilities_and_no_inheritable_or_ambient() {
    let spec = build(&RunConfig::default(), &host());
    let caps = caps_of(&spec);
    assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
    assert_eq!(caps.effective(), caps.bounding());
    assert_eq!(caps.permitted(), caps.bounding());
    assert!(caps.inheritable().is_none() && caps.ambient().is_none());
}

#[test]
fn drop_all_add_one_and_add_all() {
    let run = RunConfig {
        cap_drop: vec!["ALL".into()],
        cap_add: vec!["net_bind_service".into()],
        ..Default::default()
    };
    let spec = build(&run, &host());
    let bounding = caps_of(&spec).bounding().clone().unwrap();
    assert_eq!(
        bounding.into_iter().collect::<Vec<_>>(),
        [Capability::NetBindService]
    );

    let run = RunConfig {
        cap_add: vec!["ALL".into()],
        ..Default::default()
    };
    let spec = build(&run, &host());
    let bounding = caps_of(&spec).bounding().clone().unwrap();
    assert_eq!(bounding.len(), 40);
    assert!(!bounding.contains(&Capability::SysResource));
    let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
    let allows_mount = seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|s| s.names().contains(&"mount".into()));
    assert!(allows_mount, "CAP_SYS_ADMIN opens mount in seccomp");
}

#[test]
fn privileged_gets_all_caps_no_confinement() {
    let run = RunConfig {
        privileged: true,
        ..Default::default()
    };
    let spec = build(&run, &host());
    assert_eq!(caps_of(&spec).bounding().as_ref().unwrap().len(), 40);
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.seccomp().is_none());
    assert!(linux.masked_paths().is_none() && linux.readonly_paths().is_none());
    let devices = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].allow());
    let sys = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/sys"));
    assert_eq!(sys.unwrap().options().as_ref().unwrap()[0], "rw");
}

#[test]
fn unprivileged_linux_section_is_confined() {
    let run = RunConfig {
        cgroups_path: Some("/ferry/abc".into()),
        network: NetworkMode::Host,
        read_only: true,
        ..Default::default()
    };
    let spec = build(&run, &host());
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.seccomp().is_some());
    assert!(linux
        .masked_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/kcore".into()));
    assert!(linux
        .readonly_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/sys".into()));
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(Path::new("/ferry/abc"))
    );
    let namespaces = linux.namespaces().as_ref().unwrap();
    assert!(!namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Network));
    assert!(!namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
}

#[test]
fn init_wraps_the_command() {
    let run = RunConfig {
        init: true,
        init_path: Some("/usr/libexec/ferry-init".into()),
        cmd: vec!["sleep".into(), "1".into()],
        ..Default::default()
    };
    let spec = build(&run, &host());
    let args = spec.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(args, [INIT_PATH, "--", "sleep", "1"]);
    let init = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new(INIT_PATH));
    assert_eq!(
        init.unwrap().source().as_deref(),
        Some(Path::new("/usr/libexec/ferry-init"))
    );
}

#[test]
fn errors_surface() {
    let root = rootfs();
    let no_cmd = ImageRuntimeConfig::default();
    let err = build_spec_with(&no_cmd, &RunConfig::default(), root.path(), "id", &host());
    assert!(matches!(err, Err(SpecError::NoCommand)));
    let run = RunConfig {
        user: Some("ghost".into()),
        ..Default::default()
    };
    let err = build_spec_with(&image(), &run, root.path(), "id", &host()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
    let run = RunConfig {
        cap_add: vec!["CAP_WINGS".into()],
        ..Default::default()
    };
    let err = build_spec_with(&image(), &run, root.path(), "id", &host());
    assert!(matches!(err, Err(SpecError::InvalidCapability { .. })));
}
