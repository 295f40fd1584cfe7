//! Builds a container's OCI runtime spec (`config.json`) from the image's
//! config and the `docker run` flags, the way moby does (`daemon/oci_linux.go`
//! over `oci/defaults.go`).
//!
//! Pure apart from two reads: the rootfs's `/etc/passwd` and `/etc/group`
//! (confined to the rootfs, see [`resolve_user`]) and a few facts about this
//! process ([`HostFacts`]); [`build_spec_with`] takes the latter as an input
//! so tests need no host. Nothing is created on disk: the caller writes the
//! spec, creates the working directory, and prepares the files in
//! [`RunConfig::extra_files`].
//!
//! Where this host forces a difference from Docker:
//! * `RLIMIT_NOFILE` is 1024, capped at our own hard limit, and no other
//!   rlimit is set: raising a limit needs `CAP_SYS_RESOURCE`, which ferryd
//!   lacks here, and the runtime would fail the start.
//! * `oomScoreAdj` is never set: a negative one fails for the same reason.
//! * "all capabilities" is this process's bounding set (as moby computes it),
//!   which here lacks `CAP_SYS_RESOURCE`.
//! * The device allowlist omits moby's explicit fuse deny, which cgroup v1
//!   cannot express after runc's `c *:* m` rule (see `linux`).
//!
//! `RunConfig::stdin` and `labels` do not shape the spec (stdio is the
//! shim's business; Docker keeps labels out of the spec).
//!
//! Not done (Docker does them): AppArmor/SELinux labels, `--group-add`,
//! `--sysctl`, `--ulimit`, `--shm-size` (fixed 64 MiB), `--device`, adding the
//! host's device nodes to a privileged container (it may use any device but
//! its `/dev` holds only the defaults), and a check of `--cpus` against the
//! host's CPU count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Linux, LinuxCapabilities, PosixRlimitBuilder, PosixRlimitType, Process, RootBuilder, Spec,
    UserBuilder,
};
use serde::{Deserialize, Deserializer, Serialize};

mod args;
mod caps;
mod error;
mod host;
mod linux;
mod mounts;
pub mod pod;
mod seccomp;
mod user;

#[cfg(test)]
mod runc_tests;

pub use args::{merge_env, resolve_args, resolve_workdir, DEFAULT_PATH};
pub use caps::{default_capabilities, tweak_capabilities};
pub use error::SpecError;
pub use host::HostFacts;
pub use mounts::INIT_PATH;
pub use seccomp::{default_seccomp, seccomp_for_caps};
pub use user::{resolve_user, ResolvedUser, MAX_DB_BYTES};

/// OCI runtime-spec version written into every spec.
pub const OCI_VERSION: &str = "1.0.2";

/// Docker's default `RLIMIT_NOFILE` for containers (containerd's default spec).
pub const DEFAULT_NOFILE: u64 = 1024;

/// The runtime part of an image config (`config` in the OCI image config
/// JSON). Every field is optional; a `null` `Env` reads as empty.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageRuntimeConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

/// The container's network namespace (the network itself is set up elsewhere).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A new namespace with only loopback (`--network none`).
    #[default]
    None,
    /// The host's namespace (`--network host`).
    Host,
    /// Join a namespace bind-mounted at this path.
    Namespace(PathBuf),
}

/// What a [`MountSpec`] mounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountKind {
    /// A host path (`-v /host:/ctr`, `--mount type=bind`).
    #[default]
    Bind,
    /// A volume's host directory, bound like [`MountKind::Bind`].
    Volume,
    /// A fresh tmpfs (`--tmpfs`); `source` is ignored.
    Tmpfs,
}

/// One `-v`/`--mount`/`--tmpfs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
    pub kind: MountKind,
}

/// The `docker run`/`create` flags that shape the spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// Args after the image name; empty means the image's Cmd.
    pub cmd: Vec<String>,
    /// `--entrypoint`; `Some("")` clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// `-e`/`--env-file` entries, `K=V`; bare `K` entries pass through as given.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Defaults to the first 12 characters of the container id.
    pub hostname: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    pub read_only: bool,
    pub privileged: bool,
    /// `NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`, any case.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// Bytes.
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub network: NetworkMode,
    pub mounts: Vec<MountSpec>,
    /// `--init`: run [`RunConfig::init_path`], mounted at [`INIT_PATH`], as pid 1.
    pub init: bool,
    pub init_path: Option<PathBuf>,
    /// e.g. `/ferry/<id>`; unset lets the runtime choose.
    pub cgroups_path: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Host files bound in (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`):
    /// (host path, container path). Read-write unless the rootfs is read-only.
    pub extra_files: Vec<(PathBuf, String)>,
}

/// The spec for container `id` with its root filesystem at `rootfs`.
pub fn build_spec(
    image: &ImageRuntimeConfig,
    run: &RunConfig,
    rootfs: &Path,
    id: &str,
) -> Result<Spec, SpecError> {
    build_spec_with(image, run, rootfs, id, &HostFacts::current())
}

/// [`build_spec`] with the host facts given rather than read.
pub fn build_spec_with(
    image: &ImageRuntimeConfig,
    run: &RunConfig,
    rootfs: &Path,
    id: &str,
    host: &HostFacts,
) -> Result<Spec, SpecError> {
    let hostname = run
        .hostname
        .clone()
        .unwrap_or_else(|| id.chars().take(12).collect());
    let available = caps::caps_in_mask(host.bounding);
    let caps = tweak_capabilities(&run.cap_add, &run.cap_drop, run.privileged, &available)?;
    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_owned());
    spec.set_process(Some(build_process(
        image, run, rootfs, &hostname, &caps, host,
    )?));
    spec.set_root(Some(
        RootBuilder::default()
            .path(rootfs)
            .readonly(run.read_only)
            .build()?,
    ));
    spec.set_hostname(Some(hostname));
    spec.set_mounts(Some(mounts::build_mounts(run)?));
    spec.set_annotations(None);
    spec.set_linux(Some(build_linux(run, &caps, host)?));
    Ok(spec)
}

/// The `process` section: argv, env, cwd, user, caps, rlimits.
fn build_process(
    image: &ImageRuntimeConfig,
    run: &RunConfig,
    rootfs: &Path,
    hostname: &str,
    caps: &[String],
    host: &HostFacts,
) -> Result<Process, SpecError> {
    let mut args = resolve_args(image, run)?;
    if run.init {
        args.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
    }
    let user_flag = run.user.as_deref().filter(|u| !u.is_empty());
    let user = resolve_user(rootfs, user_flag.or(image.user.as_deref()))?;
    let mut env = merge_env(&image.env, &run.env, hostname, run.tty);
    // runc/crun would add HOME from the rootfs's passwd at exec; doing it
    // here makes the spec say what the process gets.
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let nofile = DEFAULT_NOFILE.min(host.nofile_hard);
    let rlimit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(nofile)
        .hard(nofile)
        .build()?;
    let mut process = Process::default();
    process.set_terminal(Some(run.tty));
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(resolve_workdir(image, run)?.into());
    process.set_user(process_user(&user)?);
    process.set_capabilities(Some(capability_sets(caps)?));
    process.set_rlimits(Some(vec![rlimit]));
    process.set_no_new_privileges(Some(run.no_new_privileges));
    process.set_oom_score_adj(None);
    Ok(process)
}

fn process_user(user: &ResolvedUser) -> Result<oci_spec::runtime::User, SpecError> {
    let mut builder = UserBuilder::default().uid(user.uid).gid(user.gid);
    if !user.additional_gids.is_empty() {
        builder = builder.additional_gids(user.additional_gids.clone());
    }
    Ok(builder.build()?)
}

/// Bounding, effective and permitted get `caps`; inheritable and ambient
/// stay empty, as in Docker 23+ (CVE-2022-24769).
fn capability_sets(caps: &[String]) -> Result<LinuxCapabilities, SpecError> {
    let set = caps::to_oci(caps)?;
    let mut sets = LinuxCapabilities::default();
    sets.set_bounding(Some(set.clone()));
    sets.set_effective(Some(set.clone()));
    sets.set_permitted(Some(set));
    sets.set_inheritable(None);
    sets.set_ambient(None);
    Ok(sets)
}

/// The `linux` section; privileged containers lose the masks and seccomp.
fn build_linux(run: &RunConfig, caps: &[String], host: &HostFacts) -> Result<Linux, SpecError> {
    let owned = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    let mut linux = Linux::default();
    linux.set_namespaces(Some(linux::namespaces(&run.network)?));
    linux.set_resources(Some(linux::resources(run, host)?));
    linux.set_cgroups_path(run.cgroups_path.as_ref().map(PathBuf::from));
    if run.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        linux.set_seccomp(None);
    } else {
        linux.set_masked_paths(Some(owned(linux::MASKED_PATHS)));
        linux.set_readonly_paths(Some(owned(linux::READONLY_PATHS)));
        linux.set_seccomp(Some(seccomp_for_caps(caps)));
    }
    Ok(linux)
}

/// Reads JSON `null` as the type's default (image configs write `"Env": null`).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests;

/// Every capability this process may grant (for `exec --privileged`).
pub fn all_capability_sets() -> Result<LinuxCapabilities, SpecError> {
    capability_sets(&caps::caps_in_mask(HostFacts::current().bounding))
}
