//! A container's namespace joining its networks, and leaving them without a trace.

use std::collections::HashSet;

use super::cni::{self, Target};
use super::{netns, Endpoint, NetState, NetworkRecord, Networks, PortBinding};
use crate::error::{Error, Result};

impl Networks {
    /// Creates the container's namespace with loopback up and one interface per network
    /// (`eth0`, `eth1`, …); ports are published on the first. On error nothing is left.
    pub fn attach(
        &self,
        id: &str,
        networks: &[NetworkRecord],
        ports: &[PortBinding],
    ) -> Result<NetState> {
        let mut state = self.fresh_netns(id, ports)?;
        let ns = self.netns_path(id);
        let t = Target {
            container_id: id,
            netns: &ns,
            ifname: "lo",
        };
        let mut res = cni::loopback(&t);
        for (i, n) in networks.iter().enumerate() {
            if res.is_err() {
                break;
            }
            let own = if i == 0 { ports } else { &[] };
            res = self
                .add_endpoint(id, &state, n, &format!("eth{i}"), own)
                .map(|e| state.endpoints.push(e));
        }
        if let Err(e) = res {
            let _ = self.detach(id, &state);
            return Err(e);
        }
        Ok(state)
    }

    /// A new namespace for `id` (replacing a stale one), with no endpoint yet.
    pub(crate) fn fresh_netns(&self, id: &str, ports: &[PortBinding]) -> Result<NetState> {
        let ns = self.netns_path(id);
        let _ = netns::remove(&ns);
        netns::create(&ns).map_err(|e| Error::io("create network namespace", &ns, e))?;
        Ok(NetState {
            netns: ns.display().to_string(),
            endpoints: Vec::new(),
            ports: ports.to_vec(),
        })
    }

    /// `network connect`: one more interface in a running container's namespace.
    pub fn connect(&self, id: &str, state: &mut NetState, net: &NetworkRecord) -> Result<()> {
        if state.endpoints.iter().any(|e| e.network_id == net.id) {
            return Err(Error::Conflict(format!(
                "endpoint with name {id} already exists in network {}",
                net.name
            )));
        }
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| state.endpoints.iter().all(|e| &e.ifname != n))
            .unwrap_or_default();
        let e = self.add_endpoint(id, state, net, &ifname, &[])?;
        state.endpoints.push(e);
        Ok(())
    }

    fn add_endpoint(
        &self,
        id: &str,
        state: &NetState,
        net: &NetworkRecord,
        ifname: &str,
        ports: &[PortBinding],
    ) -> Result<Endpoint> {
        let plugins = cni::chain(net, &self.ipam_dir(), ports, false);
        let ns = std::path::Path::new(&state.netns);
        let t = Target {
            container_id: id,
            netns: ns,
            ifname,
        };
        let mut e = cni::add(&net.name, &plugins, &t)?;
        e.network_id = net.id.clone();
        Ok(e)
    }

    /// `network disconnect`: removes one endpoint.
    pub fn disconnect(&self, id: &str, state: &mut NetState, net: &NetworkRecord) -> Result<()> {
        let Some(i) = state.endpoints.iter().position(|e| e.network_id == net.id) else {
            return Err(Error::Conflict(format!(
                "container {id} is not connected to network {}",
                net.name
            )));
        };
        let e = state.endpoints.remove(i);
        let ports = if i == 0 {
            state.ports.clone()
        } else {
            Vec::new()
        };
        self.del_endpoint(id, &state.netns, &e, &ports)
    }

    /// Leaves every network (releasing addresses and iptables rules) and removes the namespace.
    pub fn detach(&self, id: &str, state: &NetState) -> Result<()> {
        let mut first = None;
        for (i, e) in state.endpoints.iter().enumerate().rev() {
            let ports = if i == 0 {
                state.ports.clone()
            } else {
                Vec::new()
            };
            if let Err(err) = self.del_endpoint(id, &state.netns, e, &ports) {
                tracing::warn!(%id, network = %e.network, error = %err, "CNI DEL failed");
                first.get_or_insert(err);
            }
        }
        let ns = std::path::Path::new(&state.netns);
        netns::remove(ns).map_err(|e| Error::io("remove network namespace", ns, e))?;
        first.map_or(Ok(()), Err)
    }

    fn del_endpoint(&self, id: &str, ns: &str, e: &Endpoint, ports: &[PortBinding]) -> Result<()> {
        let Ok(net) = self.get(&e.network_id).or_else(|_| self.get(&e.network)) else {
            return Ok(());
        };
        let plugins = cni::chain(&net, &self.ipam_dir(), ports, false);
        let prev = serde_json::from_str(&e.cni_result).ok();
        let t = Target {
            container_id: id,
            netns: std::path::Path::new(ns),
            ifname: &e.ifname,
        };
        cni::del(&net.name, &plugins, &t, prev.as_ref())
    }

    /// After a crash: namespaces of containers that are not running are torn down, with a
    /// DEL on every network for their ID (host-local, portmap and firewall key on it).
    pub fn sweep(&self, live: &HashSet<String>) {
        let Ok(rd) = std::fs::read_dir(&self.netns_dir) else {
            return;
        };
        let nets = self.list().unwrap_or_default();
        for entry in rd.flatten() {
            let id = entry.file_name().to_string_lossy().to_string();
            if live.contains(&id) {
                continue;
            }
            let ns = entry.path();
            for n in &nets {
                // Whether it published ports is unknown: portmap's DEL runs too.
                let plugins = cni::chain(n, &self.ipam_dir(), &[], true);
                for ifname in ["eth0", "eth1", "eth2", "eth3"] {
                    let t = Target {
                        container_id: &id,
                        netns: &ns,
                        ifname,
                    };
                    let _ = cni::del(&n.name, &plugins, &t, None);
                }
            }
            let _ = netns::remove(&ns);
            tracing::info!(%id, "swept a stale network namespace");
        }
    }
}

/// The container's /etc/hosts: itself, then the other containers on its user networks.
pub fn hosts_file(hostname: &str, own_ip: &str, peers: &[(String, String)]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if own_ip.is_empty() {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    } else {
        s.push_str(&format!("{own_ip}\t{hostname}\n"));
    }
    for (name, ip) in peers {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}
