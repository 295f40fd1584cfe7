//! The OCI bundle of a container: flags → `RunConfig` → `config.json` (see `spec`).

use crate::volumes::Volumes;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::record::{ContainerConfig, ContainerRecord};
use super::rootfs::Paths;
use super::spec::{self, ImageRuntimeConfig, MountKind, MountSpec, NetworkMode, RunConfig};
use crate::error::{Error, Result};

/// A static init for `--init` (Debian's tini package), when installed.
const INIT_CANDIDATES: &[&str] = &["/usr/bin/tini-static", "/usr/bin/docker-init"];

pub(crate) fn run_config(
    c: &ContainerConfig,
    id: &str,
    extra_files: &[(PathBuf, String)],
    netns: &Path,
) -> Result<RunConfig> {
    let network = match c.network.as_str() {
        "" | "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        // Bridge and user networks: the namespace ferryd creates at start (network module).
        _ => NetworkMode::Namespace(netns.to_path_buf()),
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(RunConfig {
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        env: c.env.clone(),
        workdir: some(&c.workdir),
        user: some(&c.user),
        hostname: some(&c.hostname),
        tty: c.tty,
        stdin: c.open_stdin,
        read_only: c.read_only,
        privileged: c.privileged,
        cap_add: c.cap_add.clone(),
        cap_drop: c.cap_drop.clone(),
        no_new_privileges: c.no_new_privileges,
        memory: (c.memory > 0).then_some(c.memory),
        cpus: (c.cpus > 0.0).then_some(c.cpus),
        pids_limit: (c.pids_limit != 0).then_some(c.pids_limit),
        network,
        mounts: Vec::new(),
        init: c.init,
        init_path: c
            .init
            .then(|| {
                INIT_CANDIDATES
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.exists())
            })
            .flatten(),
        cgroups_path: Some(format!("/ferry/{id}")),
        labels: c.labels.clone(),
        extra_files: extra_files.to_vec(),
    })
}

/// Bind sources must exist (`--mount` refuses a missing one; `-v` creates it, as Docker's
/// does, a directory); named volumes are created on first use and seeded from the image.
fn mounts(c: &ContainerConfig, volumes: &Volumes, rootfs: &Path) -> Result<Vec<MountSpec>> {
    c.mounts
        .iter()
        .map(|m| {
            let kind = match m.kind.as_str() {
                "bind" => MountKind::Bind,
                "volume" => MountKind::Volume,
                "tmpfs" => MountKind::Tmpfs,
                other => return Err(Error::InvalidArgument(format!("invalid mount type {other:?}"))),
            };
            let source = match kind {
                MountKind::Bind => {
                    let p = PathBuf::from(&m.source);
                    if p.is_absolute() && !p.exists() && m.create_source {
                        std::fs::create_dir_all(&p).map_err(|e| Error::io("create", &p, e))?;
                    }
                    if !p.is_absolute() || !p.exists() {
                        return Err(Error::InvalidArgument(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            m.source
                        )));
                    }
                    p
                }
                MountKind::Volume => volume_dir(volumes, &m.source, rootfs, &m.destination)?,
                MountKind::Tmpfs => PathBuf::new(),
            };
            Ok(MountSpec { source, destination: m.destination.clone(), read_only: m.read_only, kind })
        })
        .collect()
}

/// The volume's data directory; a volume made now gets the image's content at `destination`.
fn volume_dir(volumes: &Volumes, name: &str, rootfs: &Path, destination: &str) -> Result<PathBuf> {
    let (rec, new) = volumes.ensure(name)?;
    let dir = volumes.data_dir(&rec.name);
    if new {
        if let Err(e) = super::volumes::seed(rootfs, destination, &dir) {
            // A half-seeded volume would count as seeded next time: it goes with the failure.
            let _ = volumes.remove(&rec.name);
            return Err(e);
        }
    }
    Ok(dir)
}

/// Writes `config.json` into the bundle. The root must be mounted (users are resolved from the
/// image's own /etc/passwd, and the working directory is created inside it).
pub(crate) fn write_bundle(
    rec: &ContainerRecord,
    image: &ImageRuntimeConfig,
    paths: &Paths,
    volumes: &Volumes,
) -> Result<()> {
    let hostname = if rec.config.hostname.is_empty() {
        rec.id[..12].to_string()
    } else {
        rec.config.hostname.clone()
    };
    let pod = rec.config.pod.as_ref();
    let extra = match pod {
        Some(p) => p.etc_files.clone(),
        None => paths.write_etc_files(&hostname)?,
    };
    let mut run = run_config(&rec.config, &rec.id, &extra, &paths.netns)?;
    run.mounts = mounts(&rec.config, volumes, &paths.rootfs())?;
    let workdir = spec::resolve_workdir(image, &run)?;
    mkdir_in_root(&paths.rootfs(), &workdir)?;
    let mut spec = spec::build_spec(image, &run, &paths.rootfs(), &rec.id)?;
    if let Some(p) = pod {
        spec::pod::apply(&mut spec, &p.spec, rec.config.privileged)?;
    }
    let path = paths.bundle.join("config.json");
    let json =
        serde_json::to_vec_pretty(&spec).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    std::fs::write(&path, json).map_err(|e| Error::io("write", &path, e))
}

/// `mkdir -p` confined to `root`: each component is resolved with RESOLVE_IN_ROOT, so an image
/// whose /app is a symlink to /etc cannot make ferryd create directories on the host.
fn mkdir_in_root(root: &Path, path: &str) -> Result<()> {
    let err = |e: rustix::io::Errno| {
        Error::io(
            "create workdir",
            root.join(path.trim_start_matches('/')),
            e.into(),
        )
    };
    let open = |p: &str| -> Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let base = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        rustix::fs::openat2(&base, p, flags, Mode::empty(), resolve).map_err(err)
    };
    let mut done = String::from(".");
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let parent = open(&done)?;
        match rustix::fs::mkdirat(&parent, comp, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(err(e)),
        }
        done = format!("{done}/{comp}");
    }
    open(&done).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_creation_stays_inside_the_root() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("app")).unwrap();
        // The symlink resolves inside the root, where its target does not exist: refused, and
        // nothing is created outside.
        assert!(mkdir_in_root(&root, "/app/data/x").is_err());
        assert!(
            !outside.join("data").exists(),
            "followed a symlink out of the root"
        );
        mkdir_in_root(&root, "/srv/www").unwrap();
        assert!(root.join("srv/www").is_dir());
    }

    #[test]
    fn missing_bind_source_is_refused_and_networks_join_their_namespace() {
        let c = ContainerConfig {
            mounts: vec![super::super::record::MountConfig {
                kind: "bind".into(),
                source: "/nonexistent/ferry".into(),
                destination: "/x".into(),
                read_only: false,
                create_source: false,
            }],
            ..Default::default()
        };
        let vols = Volumes::new(Path::new("/var/tmp/ferry-no-such-root"));
        let err = mounts(&c, &vols, Path::new("/var/tmp"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bind source path does not exist: /nonexistent/ferry"),
            "{err}"
        );
        let ns = Path::new("/run/ferry/netns/x");
        let on = |network: &str| {
            let c = ContainerConfig {
                network: network.into(),
                ..Default::default()
            };
            run_config(&c, "x", &[], ns).unwrap().network
        };
        assert_eq!(on("mynet"), NetworkMode::Namespace(ns.to_path_buf()));
        assert_eq!(on("none"), NetworkMode::None);
        assert_eq!(on("host"), NetworkMode::Host);
    }
}
