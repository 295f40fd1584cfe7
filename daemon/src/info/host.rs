//! Facts about the host `ferry info` and `ferry version` report: kernel, machine, host name
//! (uname), the OS's pretty name, CPUs, memory and the cgroup layout.
//!
//! Every fact is best-effort, as dockerd's are: a missing `/proc/meminfo` or `/etc/os-release`
//! (a minimal chroot) reports 0 or `<unknown>` rather than failing the whole `info`. The parsers
//! are pure, so tests feed them text; [`Host::read`] is the one place that touches the system.

use std::path::Path;

/// The cgroup filesystem's magic number (`statfs` of a unified v2 mount).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// What `/etc/os-release` lacks a name for, as dockerd says it.
const UNKNOWN: &str = "<unknown>";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub kernel_version: String,
    /// uname's machine: `x86_64`, `aarch64`.
    pub architecture: String,
    pub hostname: String,
    pub operating_system: String,
    pub ncpu: u32,
    /// Bytes (`MemTotal` in `/proc/meminfo`).
    pub mem_total: u64,
    pub cgroup_version: CgroupVersion,
}

/// Which cgroup hierarchy runtimes see at `/sys/fs/cgroup`. A v1 "hybrid" host (a v2 mount at
/// `unified/` beside the v1 controllers) is v1: that is where the controllers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    /// Docker's `CgroupVersion` field: "1" or "2".
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        }
    }

    /// As runc's `IsCgroup2UnifiedMode`: v2 when the directory itself is a cgroup2 mount.
    // `f_type`'s width differs by architecture: a no-op `from` on some, a widening on others.
    #[allow(clippy::useless_conversion)]
    pub fn of_mount(dir: &Path) -> CgroupVersion {
        match rustix::fs::statfs(dir) {
            Ok(st) if i64::from(st.f_type) == CGROUP2_SUPER_MAGIC => CgroupVersion::V2,
            _ => CgroupVersion::V1,
        }
    }
}

impl Host {
    /// Reads the running system. Cheap (a few small files), but blocking.
    pub fn read() -> Host {
        let uts = rustix::system::uname();
        let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let os_release = match std::fs::read_to_string("/etc/os-release") {
            Ok(s) => s,
            Err(_) => text("/usr/lib/os-release"),
        };
        Host {
            kernel_version: uts.release().to_string_lossy().into_owned(),
            architecture: uts.machine().to_string_lossy().into_owned(),
            hostname: uts.nodename().to_string_lossy().into_owned(),
            operating_system: pretty_name(&os_release).unwrap_or_else(|| UNKNOWN.to_string()),
            ncpu: cpus(),
            mem_total: mem_total(&text("/proc/meminfo")).unwrap_or(0),
            cgroup_version: CgroupVersion::of_mount(Path::new("/sys/fs/cgroup")),
        }
    }
}

/// `PRETTY_NAME` from os-release text, unquoted; `None` if it is absent or empty.
pub fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release
        .lines()
        .find_map(|l| l.trim().strip_prefix("PRETTY_NAME="))?;
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    (!unquoted.is_empty()).then(|| unquoted.replace("\\\"", "\""))
}

/// `MemTotal` from `/proc/meminfo` text ("MemTotal:  24610000 kB"), in bytes.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// CPUs this process may run on, as Go's `runtime.NumCPU` (the affinity mask) counts them.
fn cpus() -> u32 {
    let from_mask = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .ok()
        .map(|set| {
            (0..nix::sched::CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count()
        })
        .filter(|&n| n > 0);
    let n = from_mask
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pretty_name_is_unquoted() {
        let debian = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(
            pretty_name(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            pretty_name("PRETTY_NAME='Alpine Linux v3.20'").as_deref(),
            Some("Alpine Linux v3.20")
        );
        assert_eq!(pretty_name("PRETTY_NAME=Plain").as_deref(), Some("Plain"));
        assert_eq!(pretty_name("PRETTY_NAME=\"\"\nNAME=x"), None);
        assert_eq!(pretty_name("NAME=x"), None);
    }

    #[test]
    fn mem_total_is_in_bytes() {
        let meminfo = "MemTotal:       24610304 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_610_304 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total("MemTotal: 5 MB\n"), None);
    }

    #[test]
    fn a_plain_directory_is_not_a_cgroup2_mount() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(CgroupVersion::of_mount(dir.path()), CgroupVersion::V1);
        assert_eq!(CgroupVersion::V2.as_str(), "2");
    }

    #[test]
    fn the_running_host_is_read() {
        let host = Host::read();
        assert!(!host.kernel_version.is_empty());
        assert_eq!(host.architecture, std::env::consts::ARCH);
        assert!(host.ncpu >= 1);
        assert!(host.mem_total > 0, "this host has a /proc/meminfo");
        // The fact the hybrid layout hinges on: v2 only when the root itself is cgroup2.
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let want = if unified {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        };
        assert_eq!(host.cgroup_version, want);
    }
}
