//! The few facts about the host that shape a spec, read once so the rest
//! of the builder stays a pure function of its inputs (tests pass their own).
//!
//! * `nofile_hard`: the container's `RLIMIT_NOFILE` is Docker-like 1024, but
//!   never above our own hard limit. Raising a hard limit needs
//!   `CAP_SYS_RESOURCE`, which this host's daemon lacks, and the runtime's
//!   `setrlimit` failure would fail the whole container start.
//! * `bounding`: what "all capabilities" can mean (see `caps`).
//! * `swap_limit`: whether the memory cgroup can limit swap; Docker drops
//!   `--memory-swap` with a warning when it cannot, and so do we.

use std::path::Path;

/// Inputs the builder takes from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// This process's hard `RLIMIT_NOFILE`.
    pub nofile_hard: u64,
    /// This process's capability bounding set (bit n = capability n).
    pub bounding: u64,
    /// Whether the memory cgroup accounts swap.
    pub swap_limit: bool,
}

impl HostFacts {
    /// Reads the facts for the current process; unreadable ones fall back to
    /// the permissive value the runtime would then reject loudly.
    pub fn current() -> Self {
        Self {
            nofile_hard: nofile_hard().unwrap_or(u64::MAX),
            bounding: bounding_set().unwrap_or(u64::MAX),
            swap_limit: swap_limit_supported(),
        }
    }
}

fn nofile_hard() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit.rlim_max)
}

fn bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_bnd(&status)
}

/// The `CapBnd:` hex mask of a `/proc/<pid>/status` text.
pub(super) fn parse_cap_bnd(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

fn swap_limit_supported() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
    v1.exists() || v2.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cap_bnd() {
        let status = "Name:\tx\nCapPrm:\t0\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n";
        assert_eq!(parse_cap_bnd(status), Some(0x0000_01ff_feff_ffff));
        assert_eq!(parse_cap_bnd("Name: x\n"), None);
    }

    #[test]
    fn current_reads_real_limits() {
        let facts = HostFacts::current();
        assert!(facts.nofile_hard > 0 && facts.nofile_hard != u64::MAX);
        assert_ne!(facts.bounding, 0);
    }
}
