//! `ferry.networks.v1.Networks`: converts, calls the network domain, converts back.

use std::sync::Arc;

use ferry_proto::networks::v1 as pb;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::to_status;
use crate::containers::Containers;
use ferry_network::NetworkRecord;

#[derive(Debug, Clone)]
pub struct NetworksService {
    inner: Arc<Containers>,
}

impl NetworksService {
    pub fn new(inner: Arc<Containers>) -> Self {
        NetworksService { inner }
    }

    /// Runs blocking network work (CNI, files) off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Containers>) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, Status> {
        let inner = Arc::clone(&self.inner);
        super::blocking("network", move || f(inner)).await
    }
}

fn network(n: &NetworkRecord) -> pb::Network {
    pb::Network {
        id: n.id.clone(),
        name: n.name.clone(),
        driver: n.driver.clone(),
        subnet: n.subnet.clone(),
        gateway: n.gateway.clone(),
        created: n.created.clone(),
    }
}

/// `host` and `none` are listed as Docker lists them; they have no file.
fn predefined(name: &str, driver: &str) -> pb::Network {
    let id = hex::encode(sha2_of(name));
    pb::Network {
        id,
        name: name.into(),
        driver: driver.into(),
        ..Default::default()
    }
}

fn sha2_of(s: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(format!("ferry-network-{s}")).into()
}

#[tonic::async_trait]
impl pb::networks_server::Networks for NetworksService {
    async fn create(
        &self,
        req: Request<pb::CreateNetworkRequest>,
    ) -> Result<Response<pb::CreateNetworkResponse>, Status> {
        let r = req.into_inner();
        let labels = r.labels.into_iter().collect();
        let subnet = (!r.subnet.is_empty()).then_some(r.subnet);
        let rec = self
            .blocking(move |c| Ok(c.networks.create(&r.name, subnet.as_deref(), labels)?))
            .await?;
        Ok(Response::new(pb::CreateNetworkResponse { id: rec.id }))
    }

    async fn list(
        &self,
        _req: Request<pb::ListNetworksRequest>,
    ) -> Result<Response<pb::ListNetworksResponse>, Status> {
        let mut networks: Vec<pb::Network> = self
            .blocking(|c| Ok(c.networks.list()?))
            .await?
            .iter()
            .map(network)
            .collect();
        networks.push(predefined("host", "host"));
        networks.push(predefined("none", "null"));
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(pb::ListNetworksResponse { networks }))
    }

    async fn inspect(
        &self,
        req: Request<pb::InspectNetworkRequest>,
    ) -> Result<Response<pb::InspectNetworkResponse>, Status> {
        let q = req.into_inner().network;
        let (n, users) = self
            .blocking(move |c| {
                let n = c.networks.get(&q)?;
                let users = c.network_users(&n)?;
                Ok((n, users))
            })
            .await?;
        let containers: serde_json::Map<String, serde_json::Value> = users
            .iter()
            .filter_map(|c| {
                let e = c
                    .net
                    .iter()
                    .flat_map(|s| &s.endpoints)
                    .find(|e| e.network_id == n.id)?;
                Some((
                    c.id.clone(),
                    json!({
                        "Name": c.name, "MacAddress": e.mac,
                        "IPv4Address": format!("{}/{}", e.ip, e.prefix_len),
                    }),
                ))
            })
            .collect();
        let v = json!([{
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
            "Driver": n.driver, "EnableIPv6": false,
            "IPAM": { "Driver": "default", "Config": [{ "Subnet": n.subnet, "Gateway": n.gateway }] },
            "Internal": false, "Attachable": false,
            "Containers": containers,
            "Options": { "com.docker.network.bridge.name": n.bridge },
            "Labels": n.labels,
        }]);
        let json = serde_json::to_string_pretty(&v).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::InspectNetworkResponse { json }))
    }

    async fn remove(
        &self,
        req: Request<pb::RemoveNetworkRequest>,
    ) -> Result<Response<pb::RemoveNetworkResponse>, Status> {
        let q = req.into_inner().network;
        let name = self.blocking(move |c| c.network_remove(&q)).await?;
        Ok(Response::new(pb::RemoveNetworkResponse { name }))
    }

    async fn connect_container(
        &self,
        req: Request<pb::ConnectRequest>,
    ) -> Result<Response<pb::ConnectResponse>, Status> {
        let r = req.into_inner();
        self.inner
            .network_connect(&r.network, &r.container)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::ConnectResponse {}))
    }

    async fn disconnect_container(
        &self,
        req: Request<pb::DisconnectRequest>,
    ) -> Result<Response<pb::DisconnectResponse>, Status> {
        let r = req.into_inner();
        self.inner
            .network_disconnect(&r.network, &r.container)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::DisconnectResponse {}))
    }
}
