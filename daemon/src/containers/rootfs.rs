//! A container's files: its overlayfs root (the image's snapshots as lower layers plus a
//! private upper and work directory) and the files Ferry writes for it.
//!
//! ```text
//! <data-root>/containers/<id>/         state dir: logs (<id>-json.log), exit.json, shim.log,
//!                                      hostname, hosts, resolv.conf
//! <data-root>/containers/<id>/upper    the container's writable layer
//! <data-root>/containers/<id>/work     overlayfs work dir
//! <exec-root>/containers/<id>/         0700: config.json, rootfs (mount point)
//! <exec-root>/s/<id[..20]>.sock        0700 directory: the shim's socket (short path)
//! ```

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};
use ferry_image_service::snapshots::mounts_is_mounted;

#[derive(Debug, Clone)]
pub struct Paths {
    pub state: PathBuf,
    pub bundle: PathBuf,
    /// The shim's socket: `<exec-root>/s/<first 20 hex of the ID>.sock`, short because a unix
    /// socket path is limited to 107 bytes; `s/` is 0700.
    socket: PathBuf,
    /// The network namespace while it runs on a bridge network.
    pub netns: PathBuf,
}

impl Paths {
    pub fn new(data_root: &Path, exec_root: &Path, id: &str) -> Self {
        Paths {
            state: data_root.join("containers").join(id),
            bundle: exec_root.join("containers").join(id),
            socket: exec_root
                .join("s")
                .join(format!("{}.sock", &id[..id.len().min(20)])),
            netns: ferry_network::netns_dir(exec_root).join(id),
        }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// The container's writable layer.
    pub fn upper(&self) -> PathBuf {
        self.state.join("upper")
    }

    pub fn socket(&self) -> PathBuf {
        self.socket.clone()
    }

    pub fn log(&self, id: &str) -> PathBuf {
        self.state.join(format!("{id}-json.log"))
    }

    pub fn create_dirs(&self) -> Result<()> {
        for d in [
            self.state.join("upper"),
            self.state.join("work"),
            self.rootfs(),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| Error::io("create", &d, e))?;
        }
        let perm = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(&self.bundle, perm)
            .map_err(|e| Error::io("chmod", &self.bundle, e))
    }

    /// Mounts the root filesystem unless it already is (idempotent across ferryd restarts).
    pub fn mount_rootfs(&self, lowers: &[PathBuf]) -> Result<()> {
        let target = self.rootfs();
        if mounts_is_mounted(&target) {
            return Ok(());
        }
        let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.state.join("upper").display(),
            self.state.join("work").display()
        );
        mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| Error::io("mount overlay", &target, e.into()))
    }

    pub fn unmount_rootfs(&self) -> Result<()> {
        let target = self.rootfs();
        if mounts_is_mounted(&target) {
            umount2(&target, MntFlags::MNT_DETACH)
                .map_err(|e| Error::io("unmount", &target, e.into()))?;
        }
        Ok(())
    }

    /// Removes everything of the container; the root must be unmounted.
    pub fn remove_all(&self) -> Result<()> {
        for d in [&self.bundle, &self.state] {
            match std::fs::remove_dir_all(d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("remove", d, e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// /etc/hostname, /etc/hosts and /etc/resolv.conf for the container, bind-mounted in.
    pub fn write_etc_files(&self, hostname: &str) -> Result<Vec<(PathBuf, String)>> {
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
        );
        let resolv = host_resolv_conf();
        let files = [
            ("hostname", format!("{hostname}\n")),
            ("hosts", hosts),
            ("resolv.conf", resolv),
        ];
        let mut out = Vec::new();
        for (name, content) in files {
            let p = self.state.join(name);
            std::fs::write(&p, content).map_err(|e| Error::io("write", &p, e))?;
            out.push((p, format!("/etc/{name}")));
        }
        Ok(out)
    }
}

/// The host's resolv.conf minus loopback resolvers (they would point into the container).
pub(crate) fn host_resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    host.lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            !(w.next() == Some("nameserver")
                && w.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
