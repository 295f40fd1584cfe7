//! The container side of networking: joining the network at start, leaving it at exit, the
//! /etc/hosts of containers that share a user network, and `network connect|disconnect|rm`.

use std::sync::Arc;

use super::manager::Containers;
use super::record::{ContainerConfig, ContainerRecord};
use crate::error::{Error, Result};
use ferry_network::{hosts_file, ports, NetState, NetworkRecord, Networks, PortBinding};

impl Containers {
    /// The network `create` records: the daemon's default for "", checked to exist.
    pub(crate) fn resolve_network(&self, c: &ContainerConfig) -> Result<String> {
        for p in &c.publish {
            ports::parse(p)?;
        }
        Ok(self.networks.resolve_mode(&c.network)?)
    }

    /// Before the shim starts: a namespace on the container's network, ports bound.
    pub(crate) async fn net_up(&self, rec: &mut ContainerRecord) -> Result<()> {
        self.net_down(rec).await;
        if matches!(rec.config.network.as_str(), "" | "none" | "host") {
            return Ok(());
        }
        let net = self.networks.get(&rec.config.network)?;
        let wanted = self.wanted_ports(rec)?;
        let in_use: Vec<PortBinding> = self
            .list()?
            .into_iter()
            .filter(|c| c.id != rec.id)
            .filter_map(|c| c.net)
            .flat_map(|n| n.ports)
            .collect();
        let (nets, id) = (Arc::clone(&self.networks), rec.id.clone());
        let state = tokio::task::spawn_blocking(move || {
            let bound = ports::allocate(&wanted, &in_use)?;
            nets.attach(&id, &[net], &bound)
        })
        .await
        .map_err(Error::blocking("network attach"))??;
        rec.net = Some(state);
        self.save(rec)?;
        self.refresh_hosts(rec)
    }

    fn wanted_ports(&self, rec: &ContainerRecord) -> Result<Vec<PortBinding>> {
        let mut out = rec
            .config
            .publish
            .iter()
            .map(|p| ports::parse(p))
            .collect::<ferry_network::Result<Vec<_>>>()?;
        if rec.config.publish_all {
            let image = self.resolve_image(&rec.image_id)?;
            let cfg = self.image_runtime_config(&image)?;
            let exposed = ports::from_exposed(&cfg.exposed_ports.unwrap_or_default());
            for e in exposed {
                let dup = |o: &PortBinding| {
                    o.container_port == e.container_port && o.protocol == e.protocol
                };
                if !out.iter().any(dup) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Leaves the networks: addresses, iptables rules and the namespace go. Errors are logged:
    /// the sweep at the next start catches what a failed DEL left.
    pub(crate) async fn net_down(&self, rec: &mut ContainerRecord) {
        let Some(state) = rec.net.take() else { return };
        let (nets, id) = (Arc::clone(&self.networks), rec.id.clone());
        let res = tokio::task::spawn_blocking(move || nets.detach(&id, &state)).await;
        if !matches!(res, Ok(Ok(()))) {
            tracing::warn!(id = %rec.id, ?res, "leaving the network left something behind");
        }
        let _ = self.save(rec);
        let _ = self.refresh_hosts(rec);
    }

    /// Rewrites /etc/hosts of every running container on `rec`'s user networks (and its own):
    /// each lists the others by name. The default bridge has no name resolution, as in Docker.
    /// The files are bind-mounted, so they are rewritten in place.
    pub(crate) fn refresh_hosts(&self, rec: &ContainerRecord) -> Result<()> {
        let all = self.list()?;
        // User networks only: the default bridge has no names, so its peers are never rewritten.
        let networks_of = |c: &ContainerRecord| -> Vec<String> {
            c.net
                .iter()
                .flat_map(|n| &n.endpoints)
                .filter(|e| e.network != ferry_network::DEFAULT)
                .map(|e| e.network_id.clone())
                .collect()
        };
        let mine: Vec<String> = networks_of(rec);
        for c in all
            .iter()
            .filter(|c| c.id == rec.id || networks_of(c).iter().any(|n| mine.contains(n)))
        {
            let own: Vec<String> = networks_of(c);
            let peers: Vec<(String, String)> = all
                .iter()
                .filter(|p| p.id != c.id)
                .flat_map(|p| {
                    p.net
                        .iter()
                        .flat_map(|n| &n.endpoints)
                        .filter(|e| own.contains(&e.network_id))
                        .map(|e| (p.name.clone(), e.ip.clone()))
                })
                .collect();
            let hostname = if c.config.hostname.is_empty() {
                &c.id[..12]
            } else {
                c.config.hostname.as_str()
            };
            let own_ip = c.net.as_ref().map_or("", |n| n.ip());
            let path = self.paths(&c.id).state.join("hosts");
            if path.exists() {
                std::fs::write(&path, hosts_file(hostname, own_ip, &peers))
                    .map_err(|e| Error::io("write", &path, e))?;
            }
        }
        Ok(())
    }

    /// `network connect NETWORK CONTAINER` (a running container gets one more interface).
    pub async fn network_connect(&self, network: &str, container: &str) -> Result<()> {
        self.change_endpoints(network, container, Networks::connect)
            .await
    }

    /// `network disconnect NETWORK CONTAINER`.
    pub async fn network_disconnect(&self, network: &str, container: &str) -> Result<()> {
        self.change_endpoints(network, container, Networks::disconnect)
            .await
    }

    /// Connect or disconnect under the container's lock; then /etc/hosts of the peers before
    /// and after the change is rewritten. A failed change keeps the state as it was.
    async fn change_endpoints(
        &self,
        network: &str,
        container: &str,
        change: EndpointChange,
    ) -> Result<()> {
        let net = self.networks.get(network)?;
        let (net_id, net_name) = (net.id.clone(), net.name.clone());
        let rec = self.get(container)?;
        let _g = self.lock(&rec.id).await;
        let mut rec = self.get(&rec.id)?;
        let endpoints_before = rec.net.as_ref().map_or(0, |n| n.endpoints.len());
        let Some(before) = rec.net.clone() else {
            return Err(Error::Conflict(format!(
                "container {} is not running on a bridge network",
                rec.name
            )));
        };
        let (nets, id, mut state) = (Arc::clone(&self.networks), rec.id.clone(), before.clone());
        let res = tokio::task::spawn_blocking(move || {
            change(&nets, &id, &mut state, &net).map(|()| state)
        })
        .await
        .map_err(Error::blocking("network"))?
        .map_err(Error::from);
        let old = ContainerRecord {
            net: Some(before.clone()),
            ..rec.clone()
        };
        rec.net = Some(res.as_ref().map_or(before, Clone::clone));
        self.save(&rec)?;
        self.refresh_hosts(&old)?;
        self.refresh_hosts(&rec)?;
        if res.is_ok() {
            let action = if endpoints_before < rec.net.as_ref().map_or(0, |n| n.endpoints.len()) {
                "connect"
            } else {
                "disconnect"
            };
            self.events.publish(
                "network",
                action,
                &net_id,
                &[("container", &rec.id), ("name", &net_name)],
            );
        }
        res.map(drop)
    }

    /// Containers attached to (or configured for) a network.
    pub fn network_users(&self, net: &NetworkRecord) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| {
                c.config.network == net.name
                    || c.net
                        .iter()
                        .flat_map(|n| &n.endpoints)
                        .any(|e| e.network_id == net.id)
            })
            .collect())
    }

    /// `network rm`: refused while a container uses it, as in Docker.
    pub fn network_remove(&self, query: &str) -> Result<String> {
        let net = self.networks.get(query)?;
        if let Some(c) = self.network_users(&net)?.first() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints (container {})",
                net.name, net.id, c.name
            )));
        }
        self.networks.remove(&net)?;
        Ok(net.name)
    }
}

/// `Networks::connect` or `Networks::disconnect`.
type EndpointChange =
    fn(&Networks, &str, &mut NetState, &NetworkRecord) -> ferry_network::Result<()>;
