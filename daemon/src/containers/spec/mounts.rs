//! The mount table, in the order the runtime mounts it.
//!
//! Docker's defaults (moby `oci/defaults.go`) come first, minus any a user
//! mount replaces (a user `/dev` replaces every `/dev/...` default too, moby
//! `WithMounts`). Then user mounts, `--init`, and the caller's `/etc/hosts`
//! etc. together, sorted by destination depth so a parent is mounted before
//! its children (moby `sortMounts`; stable here, so equal depths keep their
//! order). Privileged containers get `/sys` and the cgroup mount read-write.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder};

use super::args::clean_path;
use super::{MountKind, MountSpec, RunConfig, SpecError};

/// Where `--init`'s binary appears inside the container.
pub const INIT_PATH: &str = "/sbin/ferry-init";

/// Docker's default filesystem mounts.
pub(super) fn default_mounts(privileged: bool) -> Result<Vec<Mount>, SpecError> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    #[rustfmt::skip]
    let table: [(&str, &str, &str, &[&str]); 7] = [
        ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        ("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ("/dev/pts", "devpts", "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        ("/sys", "sysfs", "sysfs", &[sys_mode, "nosuid", "noexec", "nodev"]),
        ("/sys/fs/cgroup", "cgroup", "cgroup", &[sys_mode, "nosuid", "noexec", "nodev", "relatime"]),
        ("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        ("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ];
    table
        .iter()
        .map(|(dest, typ, source, options)| mount(dest, typ, Path::new(source), options))
        .collect()
}

/// The whole mount list for `run` (see module docs for the order).
pub(super) fn build_mounts(run: &RunConfig) -> Result<Vec<Mount>, SpecError> {
    let mut extra = user_mounts(&run.mounts)?;
    if let Some(init) = init_mount(run)? {
        extra.push(init);
    }
    let taken: Vec<PathBuf> = extra.iter().map(|m| m.destination().clone()).collect();
    let file_mode = if run.read_only { "ro" } else { "rw" };
    for (host, dest) in &run.extra_files {
        let dest = clean_path(dest);
        if !taken.iter().any(|t| t == Path::new(&dest)) {
            extra.push(mount(
                &dest,
                "bind",
                host,
                &["rbind", "rprivate", file_mode],
            )?);
        }
    }
    extra.sort_by_key(|m| m.destination().components().count());
    let user_dev = taken.iter().any(|t| t == Path::new("/dev"));
    let mut mounts: Vec<Mount> = default_mounts(run.privileged)?
        .into_iter()
        .filter(|m| !taken.contains(m.destination()))
        .filter(|m| !(user_dev && m.destination().starts_with("/dev")))
        .collect();
    mounts.extend(extra);
    Ok(mounts)
}

/// `-v`, `--mount` and `--tmpfs`: validated, destinations cleaned.
fn user_mounts(specs: &[MountSpec]) -> Result<Vec<Mount>, SpecError> {
    let mut seen: Vec<String> = Vec::new();
    specs
        .iter()
        .map(|spec| {
            let dest = validate_destination(&spec.destination, &seen)?;
            seen.push(dest.clone());
            let mode = if spec.read_only { "ro" } else { "rw" };
            match spec.kind {
                MountKind::Bind | MountKind::Volume => {
                    mount(&dest, "bind", &spec.source, &["rbind", "rprivate", mode])
                }
                MountKind::Tmpfs => mount(
                    &dest,
                    "tmpfs",
                    Path::new("tmpfs"),
                    &[mode, "nosuid", "nodev", "noexec"],
                ),
            }
        })
        .collect()
}

fn validate_destination(destination: &str, seen: &[String]) -> Result<String, SpecError> {
    let invalid = |reason: &str| SpecError::InvalidMount {
        destination: destination.to_owned(),
        reason: reason.to_owned(),
    };
    if !destination.starts_with('/') {
        return Err(invalid("destination must be an absolute path"));
    }
    let dest = clean_path(destination);
    if dest == "/" {
        return Err(invalid("destination can't be '/'"));
    }
    if seen.contains(&dest) {
        return Err(invalid("duplicate mount point"));
    }
    Ok(dest)
}

/// `--init`: the caller's init binary, read-only at [`INIT_PATH`].
fn init_mount(run: &RunConfig) -> Result<Option<Mount>, SpecError> {
    if !run.init {
        return Ok(None);
    }
    let source = run.init_path.as_ref().ok_or(SpecError::InitNotConfigured)?;
    mount(INIT_PATH, "bind", source, &["bind", "ro"]).map(Some)
}

fn mount(dest: &str, typ: &str, source: &Path, options: &[&str]) -> Result<Mount, SpecError> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dests(mounts: &[Mount]) -> Vec<String> {
        mounts
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect()
    }

    fn bind(dest: &str, read_only: bool) -> MountSpec {
        MountSpec {
            source: PathBuf::from("/host").join(dest.trim_start_matches('/')),
            destination: dest.into(),
            read_only,
            kind: MountKind::Bind,
        }
    }

    #[test]
    fn defaults_then_user_mounts_by_depth() {
        let run = RunConfig {
            mounts: vec![bind("/data/sub/x", false), bind("/data", true)],
            extra_files: vec![(PathBuf::from("/run/h/hosts"), "/etc/hosts".into())],
            ..Default::default()
        };
        let mounts = build_mounts(&run).unwrap();
        assert_eq!(
            dests(&mounts),
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/data",
                "/etc/hosts",
                "/data/sub/x",
            ]
        );
        let data = &mounts[7];
        assert_eq!(data.typ().as_deref(), Some("bind"));
        assert_eq!(
            data.options().as_ref().unwrap(),
            &["rbind", "rprivate", "ro"]
        );
        assert_eq!(
            mounts[8].options().as_ref().unwrap(),
            &["rbind", "rprivate", "rw"]
        );
    }

    #[test]
    fn user_mount_replaces_default_and_dev_replaces_children() {
        let run = RunConfig {
            mounts: vec![
                MountSpec {
                    kind: MountKind::Tmpfs,
                    ..bind("/dev/shm", false)
                },
                bind("/dev", false),
            ],
            ..Default::default()
        };
        let got = dests(&build_mounts(&run).unwrap());
        assert_eq!(got, ["/proc", "/sys", "/sys/fs/cgroup", "/dev", "/dev/shm"]);
    }

    #[test]
    fn privileged_sys_is_rw() {
        let mounts = default_mounts(true).unwrap();
        let sys = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert_eq!(sys.options().as_ref().unwrap()[0], "rw");
        let sys = default_mounts(false).unwrap();
        assert_eq!(sys[3].options().as_ref().unwrap()[0], "ro");
    }

    #[test]
    fn bad_destinations_are_rejected() {
        for (dest, reason) in [
            ("rel/path", "absolute"),
            ("/", "can't be '/'"),
            ("/a/..", "can't be '/'"),
        ] {
            let run = RunConfig {
                mounts: vec![bind(dest, false)],
                ..Default::default()
            };
            let err = build_mounts(&run).unwrap_err();
            assert!(err.to_string().contains(reason), "{dest}: {err}");
        }
        let run = RunConfig {
            mounts: vec![bind("/x", false), bind("/x/", true)],
            ..Default::default()
        };
        assert!(build_mounts(&run)
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
    }

    #[test]
    fn init_needs_a_binary() {
        let mut run = RunConfig {
            init: true,
            ..Default::default()
        };
        assert!(matches!(
            build_mounts(&run),
            Err(SpecError::InitNotConfigured)
        ));
        run.init_path = Some("/usr/libexec/ferry-init".into());
        let mounts = build_mounts(&run).unwrap();
        let init = mounts.last().unwrap();
        assert_eq!(init.destination(), Path::new(INIT_PATH));
        assert_eq!(init.options().as_ref().unwrap(), &["bind", "ro"]);
    }
}
