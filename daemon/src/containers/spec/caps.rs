//! Capability sets, as moby `oci/caps.TweakCapabilities`.
//!
//! Names are normalised to `CAP_X` (so `net_admin`, `NET_ADMIN` and
//! `CAP_NET_ADMIN` are one cap). `ALL` in `--cap-add` grants every cap except
//! the dropped ones; `ALL` in `--cap-drop` keeps only the added ones;
//! otherwise defaults minus drops plus adds. "Every cap" (privileged, or
//! `--cap-add ALL`) means every cap in *this process's* bounding set, as
//! moby does: a runtime cannot grant a cap it lacks, and this host's daemon
//! runs without `CAP_SYS_RESOURCE`, so asking for it would fail the start.

use std::collections::HashSet;

use oci_spec::runtime::{Capabilities, Capability};

use super::SpecError;

/// Every capability Linux defines, indexed by its bit number.
pub(super) const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's 14 default capabilities (moby `oci/caps.DefaultCapabilities`).
pub fn default_capabilities() -> Vec<String> {
    [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The caps named in `bounding` (bit `n` set = cap `n` held), in bit order.
pub(super) fn caps_in_mask(bounding: u64) -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

/// The final cap list. `available` is what "all" means (see module docs).
pub fn tweak_capabilities(
    adds: &[String],
    drops: &[String],
    privileged: bool,
    available: &[String],
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(available.to_vec());
    }
    let adds = normalize(adds)?;
    let drops = normalize(drops)?;
    let all = |list: &[String]| list.iter().any(|c| c == "ALL");
    let caps: Vec<String> = if all(&adds) {
        available
            .iter()
            .filter(|c| !drops.contains(c))
            .cloned()
            .collect()
    } else if all(&drops) {
        adds
    } else {
        let kept = default_capabilities()
            .into_iter()
            .filter(|c| !drops.contains(c));
        kept.chain(adds).collect()
    };
    let mut seen = HashSet::new();
    Ok(caps
        .into_iter()
        .filter(|c| seen.insert(c.clone()))
        .collect())
}

/// Upper-cases, adds the `CAP_` prefix, and rejects unknown names.
fn normalize(caps: &[String]) -> Result<Vec<String>, SpecError> {
    caps.iter()
        .map(|cap| {
            let upper = cap.trim().to_ascii_uppercase();
            if upper == "ALL" {
                return Ok(upper);
            }
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            if ALL_CAPS.contains(&full.as_str()) {
                Ok(full)
            } else {
                Err(SpecError::InvalidCapability { cap: full })
            }
        })
        .collect()
}

/// Converts `CAP_X` names to oci-spec's enum (all of [`ALL_CAPS`] are known).
pub(super) fn to_oci(caps: &[String]) -> Result<Capabilities, SpecError> {
    caps.iter()
        .map(|cap| {
            let short = cap.strip_prefix("CAP_").unwrap_or(cap);
            short
                .parse::<Capability>()
                .map_err(|_| SpecError::InvalidCapability { cap: cap.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|c| c.to_string()).collect()
    }

    fn all() -> Vec<String> {
        caps_in_mask(u64::MAX)
    }

    #[test]
    fn defaults_are_dockers_fourteen() {
        let caps = tweak_capabilities(&[], &[], false, &all()).unwrap();
        assert_eq!(caps.len(), 14);
        assert_eq!(caps, default_capabilities());
    }

    #[test]
    fn add_and_drop_normalise_names() {
        let caps = tweak_capabilities(
            &s(&["net_admin", "CAP_SYS_PTRACE"]),
            &s(&["MKNOD"]),
            false,
            &all(),
        )
        .unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".into()));
        assert!(caps.contains(&"CAP_SYS_PTRACE".into()));
        assert!(!caps.contains(&"CAP_MKNOD".into()));
        assert_eq!(caps.len(), 15);
    }

    #[test]
    fn drop_all_then_add_one() {
        let caps =
            tweak_capabilities(&s(&["NET_BIND_SERVICE"]), &s(&["ALL"]), false, &all()).unwrap();
        assert_eq!(caps, s(&["CAP_NET_BIND_SERVICE"]));
    }

    #[test]
    fn add_all_is_bounded_by_available_minus_drops() {
        let available = caps_in_mask(0x0000_01ff_feff_ffff); // this host: no SYS_RESOURCE
        let caps =
            tweak_capabilities(&s(&["all"]), &s(&["CAP_SYS_ADMIN"]), false, &available).unwrap();
        assert_eq!(caps.len(), 39);
        assert!(!caps.contains(&"CAP_SYS_ADMIN".into()));
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".into()));
    }

    #[test]
    fn privileged_gets_every_available_cap() {
        let caps = tweak_capabilities(&[], &s(&["ALL"]), true, &all()).unwrap();
        assert_eq!(caps.len(), ALL_CAPS.len());
    }

    #[test]
    fn unknown_cap_is_rejected() {
        let err = tweak_capabilities(&s(&["FLY"]), &[], false, &all()).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"CAP_FLY\"");
    }

    #[test]
    fn every_cap_converts_to_oci() {
        assert_eq!(to_oci(&all()).unwrap().len(), ALL_CAPS.len());
    }
}
