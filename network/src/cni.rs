//! The CNI plugins of Debian's containernetworking-plugins, run as the CNI spec says: one
//! process per plugin, the network configuration on stdin, the command and the namespace in
//! the environment, each plugin's result handed to the next as `prevResult`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::record::{Endpoint, NetworkRecord, PortBinding};
use crate::error::{Error, Result};

const CNI_VERSION: &str = "1.0.0";
/// Where distributions install the plugins.
const PLUGIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// Who is being attached, and where.
#[derive(Debug)]
pub struct Target<'a> {
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
}

/// How plugins are run: the CNI version written into each plugin's config, where plugins are
/// looked for (in order), and `CNI_ARGS` (the kubelet's `K8S_POD_NAME=…;…`).
#[derive(Debug, Clone)]
pub struct Runner {
    pub version: String,
    pub dirs: Vec<PathBuf>,
    pub args: String,
}

impl Runner {
    /// Ferry's own chains: CNI 1.0.0, the distribution's plugin directories, no args.
    pub fn ferry() -> Runner {
        Runner {
            version: CNI_VERSION.to_string(),
            dirs: PLUGIN_DIRS.iter().map(PathBuf::from).collect(),
            args: String::new(),
        }
    }

    /// The plugin `kind` in the first directory that has it.
    fn plugin(&self, kind: &str) -> Result<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.join(kind))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
                Error::Plugin(format!(
                    "CNI plugin {kind:?} not found in {}: install containernetworking-plugins",
                    dirs.join(" or ")
                ))
            })
    }

    fn path_var(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        dirs.join(":")
    }
}

/// The kubelet's CNI_ARGS for a pod (plugins that do not know a key ignore it).
pub fn pod_args(namespace: &str, name: &str, sandbox_id: &str, uid: &str) -> String {
    format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};\
         K8S_POD_INFRA_CONTAINER_ID={sandbox_id};K8S_POD_UID={uid}"
    )
}

/// The chain for a bridge network: bridge (+ host-local IPAM), portmap (only with ports, or
/// `portmap` set: each plugin is a process and a few iptables calls), firewall.
pub fn chain(
    net: &NetworkRecord,
    ipam_dir: &Path,
    ports: &[PortBinding],
    portmap: bool,
) -> Vec<Value> {
    let mappings: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({"hostPort": p.host_port, "containerPort": p.container_port,
                   "protocol": p.protocol, "hostIP": p.host_ip})
        })
        .collect();
    let mut plugins = vec![
        json!({
            "type": "bridge", "bridge": net.bridge, "isGateway": true, "ipMasq": true,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": net.subnet, "gateway": net.gateway}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": ipam_dir,
            },
        }),
        json!({"type": "firewall", "backend": "iptables"}),
    ];
    if portmap || !ports.is_empty() {
        let pm = json!({"type": "portmap", "snat": true, "capabilities": {"portMappings": true},
                        "runtimeConfig": {"portMappings": mappings}});
        plugins.insert(1, pm);
    }
    plugins
}

/// ADD through the chain; returns the endpoint (first IPv4 address of `ifname`).
pub fn add(name: &str, plugins: &[Value], t: &Target<'_>) -> Result<Endpoint> {
    add_with(&Runner::ferry(), name, plugins, t)
}

/// [`add`] with plugins run as `runner` says.
pub fn add_with(
    runner: &Runner,
    name: &str,
    plugins: &[Value],
    t: &Target<'_>,
) -> Result<Endpoint> {
    let mut prev: Option<Value> = None;
    for (i, p) in plugins.iter().enumerate() {
        match exec(runner, "ADD", name, p, prev.as_ref(), t) {
            Ok(r) => prev = Some(r),
            Err(e) => {
                // Undo what the plugins before this one did: nothing is left half-attached.
                let _ = del_with(runner, name, &plugins[..i], t, prev.as_ref());
                return Err(e);
            }
        }
    }
    let result = prev.unwrap_or(Value::Null);
    endpoint(name, t.ifname, &result)
}

/// DEL in reverse order. Every plugin runs even if one fails; the first error is returned.
pub fn del(name: &str, plugins: &[Value], t: &Target<'_>, prev: Option<&Value>) -> Result<()> {
    del_with(&Runner::ferry(), name, plugins, t, prev)
}

/// [`del`] with plugins run as `runner` says.
pub fn del_with(
    runner: &Runner,
    name: &str,
    plugins: &[Value],
    t: &Target<'_>,
    prev: Option<&Value>,
) -> Result<()> {
    let mut first = None;
    for p in plugins.iter().rev() {
        if let Err(e) = exec(runner, "DEL", name, p, prev, t) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Brings `lo` up in the namespace (the loopback plugin).
pub fn loopback(t: &Target<'_>) -> Result<()> {
    let lo = Target { ifname: "lo", ..*t };
    exec(
        &Runner::ferry(),
        "ADD",
        "lo",
        &json!({"type": "loopback"}),
        None,
        &lo,
    )
    .map(drop)
}

fn exec(
    runner: &Runner,
    cmd: &str,
    name: &str,
    plugin: &Value,
    prev: Option<&Value>,
    t: &Target<'_>,
) -> Result<Value> {
    let kind = plugin["type"].as_str().unwrap_or_default().to_string();
    let mut conf = plugin.clone();
    conf["cniVersion"] = json!(runner.version);
    conf["name"] = json!(name);
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    let mut child = Command::new(runner.plugin(&kind)?)
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", t.container_id)
        .env("CNI_NETNS", t.netns)
        .env("CNI_IFNAME", t.ifname)
        .env("CNI_PATH", runner.path_var())
        .env("CNI_ARGS", &runner.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Plugin(format!("run CNI plugin {kind}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(conf.to_string().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Plugin(format!("run CNI plugin {kind}: {e}")))?;
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !out.status.success() {
        let msg = parsed["msg"].as_str().unwrap_or_default();
        let details = parsed["details"].as_str().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Plugin(format!(
            "CNI plugin {kind} {cmd} failed: {msg} {details} {}",
            stderr.trim()
        )));
    }
    Ok(parsed)
}

fn endpoint(network: &str, ifname: &str, r: &Value) -> Result<Endpoint> {
    let ifaces = r["interfaces"].as_array().cloned().unwrap_or_default();
    let ip = r["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|ip| {
            let i = ip["interface"].as_u64().unwrap_or(u64::MAX) as usize;
            ifaces.get(i).and_then(|f| f["name"].as_str()) == Some(ifname)
        })
        .ok_or_else(|| {
            Error::Plugin(format!(
                "CNI result for {network} has no address on {ifname}"
            ))
        })?;
    let cidr = ip["address"].as_str().unwrap_or_default();
    let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let mac = ifaces
        .iter()
        .find(|f| f["name"].as_str() == Some(ifname))
        .and_then(|f| f["mac"].as_str())
        .unwrap_or_default();
    Ok(Endpoint {
        network: network.to_string(),
        network_id: String::new(),
        ifname: ifname.to_string(),
        ip: addr.to_string(),
        prefix_len: len.parse().unwrap_or(32),
        gateway: ip["gateway"].as_str().unwrap_or_default().to_string(),
        mac: mac.to_string(),
        cni_result: r.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portmap_joins_the_chain_only_when_ports_are_published_or_asked_for() {
        let net = NetworkRecord {
            name: "n".into(),
            id: "i".into(),
            driver: "bridge".into(),
            subnet: "10.90.0.0/24".into(),
            gateway: "10.90.0.1".into(),
            bridge: "fy-x".into(),
            created: String::new(),
            labels: Default::default(),
        };
        let kinds = |c: Vec<Value>| -> Vec<String> {
            c.iter()
                .map(|p| p["type"].as_str().unwrap().to_string())
                .collect()
        };
        let ipam = Path::new("/x");
        assert_eq!(kinds(chain(&net, ipam, &[], false)), ["bridge", "firewall"]);
        assert_eq!(
            kinds(chain(&net, ipam, &[], true)),
            ["bridge", "portmap", "firewall"]
        );
        let p = PortBinding {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            ..Default::default()
        };
        let c = chain(&net, ipam, &[p], false);
        assert_eq!(c[1]["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(c[0]["ipam"]["ranges"][0][0]["subnet"], "10.90.0.0/24");
    }

    #[test]
    fn the_endpoint_is_read_from_the_interface_named() {
        let r = json!({"interfaces": [{"name": "br0"}, {"name": "veth1"},
                        {"name": "eth0", "mac": "aa:bb", "sandbox": "/x"}],
                       "ips": [{"interface": 2, "address": "10.90.0.5/24", "gateway": "10.90.0.1"}]});
        let e = endpoint("n", "eth0", &r).unwrap();
        assert_eq!(
            (
                e.ip.as_str(),
                e.prefix_len,
                e.gateway.as_str(),
                e.mac.as_str()
            ),
            ("10.90.0.5", 24, "10.90.0.1", "aa:bb")
        );
        assert!(endpoint("n", "eth1", &r).is_err());
    }
}
