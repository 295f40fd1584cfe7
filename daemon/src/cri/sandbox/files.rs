//! The files a sandbox's containers share: /etc/hostname, /etc/hosts, /etc/resolv.conf from
//! the pod's config; and its port mappings as Ferry's port bindings.

use std::path::{Path, PathBuf};

use k8s_cri::v1::{DnsConfig, PodSandboxConfig, Protocol};

use super::record::SandboxRecord;
use crate::error::{Error, Result};
use ferry_network::PortBinding;

/// The pod's hostname: as asked, else the host's (as containerd does; the kubelet always sets
/// one).
pub fn hostname(rec: &SandboxRecord) -> String {
    if !rec.config.hostname.is_empty() {
        return rec.config.hostname.clone();
    }
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| rec.id[..12].to_string())
}

pub(super) fn write(dir: &Path, rec: &SandboxRecord, hostname: &str) -> Result<()> {
    let files = [
        ("hostname", format!("{hostname}\n")),
        ("hosts", ferry_network::hosts_file(hostname, rec.ip(), &[])),
        ("resolv.conf", resolv_conf(rec.config.dns_config.as_ref())),
    ];
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content).map_err(|e| Error::io("write", &p, e))?;
    }
    Ok(())
}

/// The (host path, container path) pairs a container of the pod binds in.
pub fn etc_files(dir: &Path) -> Vec<(PathBuf, String)> {
    ["hostname", "hosts", "resolv.conf"]
        .iter()
        .map(|n| (dir.join(n), format!("/etc/{n}")))
        .collect()
}

/// The DNS config as resolv.conf; without one, the host's (minus loopback resolvers).
pub(super) fn resolv_conf(dns: Option<&DnsConfig>) -> String {
    let Some(dns) = dns else {
        return crate::containers::rootfs::host_resolv_conf();
    };
    let mut out = String::new();
    if !dns.searches.is_empty() {
        out.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for s in &dns.servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

/// The pod's port mappings; a mapping without a host port publishes nothing (as the CRI's
/// hostport plugin does), a bad port is named.
pub(super) fn port_bindings(config: &PodSandboxConfig) -> Result<Vec<PortBinding>> {
    let port = |p: i32, what: &str| {
        u16::try_from(p).map_err(|_| Error::InvalidArgument(format!("invalid {what} port {p}")))
    };
    let mut out = Vec::new();
    for m in &config.port_mappings {
        if m.host_port <= 0 {
            continue;
        }
        let protocol = match Protocol::try_from(m.protocol) {
            Ok(Protocol::Udp) => "udp",
            Ok(Protocol::Tcp) => "tcp",
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unsupported protocol {}",
                    m.protocol
                )))
            }
        };
        out.push(PortBinding {
            host_ip: m.host_ip.clone(),
            host_port: port(m.host_port, "host")?,
            container_port: port(m.container_port, "container")?,
            protocol: protocol.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::PortMapping;

    #[test]
    fn resolv_conf_follows_the_pod_dns_config() {
        let dns = DnsConfig {
            servers: vec!["10.0.0.10".into()],
            searches: vec![
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_conf(Some(&dns)),
            "search default.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn port_mappings_become_bindings_and_bad_ones_are_named() {
        let mut c = PodSandboxConfig {
            port_mappings: vec![
                PortMapping {
                    protocol: Protocol::Tcp as i32,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new(),
                },
                PortMapping {
                    protocol: Protocol::Udp as i32,
                    container_port: 53,
                    host_port: 0,
                    host_ip: String::new(),
                },
            ],
            ..Default::default()
        };
        let b = port_bindings(&c).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(
            (b[0].host_port, b[0].container_port, b[0].protocol.as_str()),
            (8080, 80, "tcp")
        );
        c.port_mappings[0].container_port = 70000;
        let err = port_bindings(&c).unwrap_err().to_string();
        assert!(err.contains("invalid container port 70000"), "{err}");
    }
}
