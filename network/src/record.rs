//! What Ferry knows of a network and of a container's place on one.

use serde::{Deserialize, Serialize};

/// A bridge network, stored as `<data-root>/networks/<name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub name: String,
    /// 64 hex, as Docker's network IDs.
    pub id: String,
    pub driver: String,
    /// e.g. `172.18.0.0/16`.
    pub subnet: String,
    pub gateway: String,
    /// The host interface the CNI bridge plugin creates on first use.
    pub bridge: String,
    pub created: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `-p [IP:]HOSTPORT:CONTAINERPORT[/PROTO]` as asked, and later as bound (host_port filled in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: String,
    /// 0: any free port.
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
}

/// One network a running container is attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub network_id: String,
    pub ifname: String,
    pub ip: String,
    pub prefix_len: u8,
    pub gateway: String,
    pub mac: String,
    /// The CNI ADD result, handed back as `prevResult` on DEL.
    pub cni_result: String,
}

/// The network side of a running container: its namespace, endpoints and bound ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetState {
    pub netns: String,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PortBinding>,
}

impl NetState {
    /// The first endpoint's address: `inspect`'s IPAddress.
    pub fn ip(&self) -> &str {
        self.endpoints.first().map_or("", |e| e.ip.as_str())
    }
}
