//! Networks: bridge networks built with the CNI plugins, one network namespace per container,
//! published ports, and the /etc/hosts that lets containers on a user network find each other.
//!
//! On disk: `<data-root>/networks/<name>.json` (one per network), `<data-root>/networks/ipam`
//! (host-local's leases), `<exec-root>/netns/<id>` (a running container's namespace).

mod attach;
pub mod error;
mod names;
pub use attach::hosts_file;
pub mod cni;
pub mod conflist;
pub mod netns;
pub mod ports;
pub mod record;
pub mod subnet;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use record::{Endpoint, NetState, NetworkRecord, PortBinding};

pub use error::{Error, Result};
pub use names::valid_name;
use subnet::{Claims, Subnet};

/// Where running containers' namespaces are bind-mounted.
pub fn netns_dir(exec_root: &Path) -> PathBuf {
    exec_root.join("netns")
}

/// The network `run` uses without `--network`.
pub const DEFAULT: &str = "bridge";
/// Names that are not networks Ferry creates.
const PREDEFINED: &[&str] = &["bridge", "host", "none"];

#[derive(Debug)]
pub struct Networks {
    dir: PathBuf,
    netns_dir: PathBuf,
    claims: PathBuf,
    /// The default network's interface (`--bridge`); None: `--bridge none`, no default network.
    default_bridge: Option<String>,
    /// Serializes creation and removal of network files within this daemon.
    lock: Mutex<()>,
}

impl Networks {
    pub fn new(data_root: &Path, exec_root: &Path, default_bridge: Option<String>) -> Self {
        Networks {
            dir: data_root.join("networks"),
            netns_dir: netns_dir(exec_root),
            claims: PathBuf::from("/run/ferry-subnets.json"),
            default_bridge,
            lock: Mutex::new(()),
        }
    }

    /// "bridge", or "none" when the daemon runs with `--bridge none`.
    pub fn default_mode(&self) -> &'static str {
        if self.default_bridge.is_some() {
            DEFAULT
        } else {
            "none"
        }
    }

    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// "none", "host", or the network a name designates (created on first use for `bridge`).
    pub fn resolve_mode(&self, name: &str) -> Result<String> {
        match name {
            "" => Ok(self.default_mode().to_string()),
            "none" | "host" => Ok(name.to_string()),
            n => self.get(n).map(|r| r.name),
        }
    }

    fn ipam_dir(&self) -> PathBuf {
        self.dir.join("ipam")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Every network file (the default bridge once used), by name.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let bytes = std::fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
                if let Ok(r) = serde_json::from_slice::<NetworkRecord>(&bytes) {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A network by name, full ID or unique ID prefix; `bridge` is created on first use.
    pub fn get(&self, query: &str) -> Result<NetworkRecord> {
        if query == DEFAULT {
            return self.default_bridge();
        }
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == query) {
            return Ok(n.clone());
        }
        let by_id: Vec<_> = all.iter().filter(|n| n.id.starts_with(query)).collect();
        match by_id.as_slice() {
            [one] if !query.is_empty() => Ok((*one).clone()),
            _ => Err(Error::NotFound(format!("network {query} not found"))),
        }
    }

    /// Creates (or adopts) the default `bridge` network's record, as dockerd does at start, so
    /// that listing networks only reads. Nothing to do under `--bridge none`.
    pub fn ensure_default(&self) -> Result<()> {
        match self.default_bridge {
            Some(_) => self.default_bridge().map(drop),
            None => Ok(()),
        }
    }

    fn default_bridge(&self) -> Result<NetworkRecord> {
        let Some(bridge) = self.default_bridge.clone() else {
            return Err(Error::NotFound(
                "network bridge not found (ferryd runs with --bridge none)".into(),
            ));
        };
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let stored: Option<NetworkRecord> = std::fs::read(self.file(DEFAULT))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match stored {
            // The interface exists with another address (someone re-created it, or an older
            // record): the interface wins, since the bridge plugin cannot change its address.
            Some(r)
                if subnet::of_interface(&r.bridge)
                    .is_some_and(|(_, gw)| gw.to_string() != r.gateway) =>
            {
                tracing::warn!(bridge = %r.bridge, "default bridge has another address: adopting it");
                self.destroy_record(&r)?;
                self.create_locked(DEFAULT, None, Some(bridge), Default::default())
            }
            Some(r) => Ok(r),
            None => self.create_locked(DEFAULT, None, Some(bridge), Default::default()),
        }
    }

    /// `network create [--subnet] NAME`.
    pub fn create(
        &self,
        name: &str,
        subnet: Option<&str>,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<NetworkRecord> {
        if names::valid_name(name).is_none() {
            return Err(Error::InvalidArgument(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if PREDEFINED.contains(&name) {
            return Err(Error::Conflict(format!(
                "{name} is a pre-defined network and cannot be created"
            )));
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.file(name).exists() {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        self.create_locked(name, subnet, None, labels)
    }

    fn create_locked(
        &self,
        name: &str,
        subnet: Option<&str>,
        bridge: Option<String>,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<NetworkRecord> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("create", &self.dir, e))?;
        let mut claims = Claims::open(&self.claims)?;
        let existing = bridge.as_deref().and_then(subnet::of_interface);
        let (net, gateway) = match (subnet, existing) {
            (Some(s), _) => {
                let n = Subnet::parse(s)?;
                claims.check(&n)?;
                (n, n.gateway())
            }
            (None, Some(adopted)) => adopted,
            (None, None) => {
                let n = claims.choose()?;
                (n, n.gateway())
            }
        };
        let id = hex::encode(rand::random::<[u8; 32]>());
        // Interface names have 15 bytes at most.
        let bridge = bridge.unwrap_or_else(|| format!("fy-{}", &id[..8]));
        let rec = NetworkRecord {
            name: name.to_string(),
            id,
            driver: "bridge".into(),
            subnet: net.to_string(),
            gateway: gateway.to_string(),
            bridge,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            labels,
        };
        let path = self.file(name);
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec_pretty(&rec).map_err(|e| Error::Record(e.to_string()))?;
        std::fs::write(&tmp, json).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
        claims.claim(&net, &path)?;
        Ok(rec)
    }

    /// `network rm`: the caller has checked that no container uses it. The bridge interface
    /// goes too (the CNI bridge plugin never deletes it).
    pub fn remove(&self, rec: &NetworkRecord) -> Result<()> {
        if PREDEFINED.contains(&rec.name.as_str()) {
            return Err(Error::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.destroy(rec)
    }

    fn destroy(&self, rec: &NetworkRecord) -> Result<()> {
        self.destroy_record(rec)?;
        let _ = std::process::Command::new("ip")
            .args(["link", "delete", &rec.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        Ok(())
    }

    /// The network's file, leases and claim (its interface stays).
    fn destroy_record(&self, rec: &NetworkRecord) -> Result<()> {
        let path = self.file(&rec.name);
        std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        let _ = std::fs::remove_dir_all(self.dir.join("ipam").join(&rec.name));
        Claims::open(&self.claims)?.release(&rec.subnet)
    }

    /// At daemon shutdown of a test root or `system reset`-like cleanups: every network goes.
    pub fn destroy_all(&self) -> Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        for n in self.list()? {
            self.destroy(&n)?;
        }
        Ok(())
    }
}
