//! CNI network configurations as Kubernetes network plugins install them: the first file (by
//! name) of `*.conflist`, `*.conf` or `*.json` in a directory (`/etc/cni/net.d`), a `.conf`
//! being one plugin. A pod joins it through [`Networks::attach_list`]; the runtime fills the
//! `portMappings` capability of the plugins that declare it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cni::{self, Runner, Target};
use super::{netns, NetState, Networks, PortBinding};
use crate::error::{Error, Result};

/// A network configuration list, and the file it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<Value>,
    pub file: PathBuf,
}

/// The first usable configuration in `dir`; None when there is none (or no directory). A
/// file that does not parse is skipped with a warning, as the kubelet's libcni does.
pub fn load(dir: &Path) -> Option<ConfList> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("conflist" | "conf" | "json")
            )
        })
        .collect();
    files.sort();
    files.into_iter().find_map(|f| match parse(&f) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(file = %f.display(), error = %e, "skipping a CNI configuration");
            None
        }
    })
}

fn parse(file: &Path) -> Result<ConfList> {
    let raw = std::fs::read(file).map_err(|e| Error::io("read", file, e))?;
    let v: Value = serde_json::from_slice(&raw)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", file.display())))?;
    let name = v["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no \"name\"",
            file.display()
        )));
    }
    let plugins = match v["plugins"].as_array() {
        Some(list) if !list.is_empty() => list.clone(),
        Some(_) => {
            return Err(Error::InvalidArgument(format!(
                "{}: empty \"plugins\"",
                file.display()
            )))
        }
        None if v["type"].is_string() => vec![v.clone()],
        None => {
            return Err(Error::InvalidArgument(format!(
                "{}: no \"plugins\" or \"type\"",
                file.display()
            )))
        }
    };
    if let Some(bad) = plugins.iter().find(|p| !p["type"].is_string()) {
        return Err(Error::InvalidArgument(format!(
            "{}: a plugin without \"type\": {bad}",
            file.display()
        )));
    }
    Ok(ConfList {
        name,
        cni_version: v["cniVersion"].as_str().unwrap_or("0.4.0").to_string(),
        plugins,
        file: file.to_path_buf(),
    })
}

impl ConfList {
    /// The plugins with the runtime's part: `runtimeConfig.portMappings` for those whose
    /// capabilities ask for it.
    pub fn plugins_for(&self, ports: &[PortBinding]) -> Vec<Value> {
        let mappings: Vec<Value> = ports
            .iter()
            .map(|p| {
                json!({"hostPort": p.host_port, "containerPort": p.container_port,
                            "protocol": p.protocol, "hostIP": p.host_ip})
            })
            .collect();
        self.plugins
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if p["capabilities"]["portMappings"] == json!(true) {
                    p["runtimeConfig"]["portMappings"] = json!(mappings);
                }
                p
            })
            .collect()
    }

    fn runner(&self, dirs: &[PathBuf], args: &str) -> Runner {
        Runner {
            version: self.cni_version.clone(),
            dirs: dirs.to_vec(),
            args: args.to_string(),
        }
    }
}

impl Networks {
    /// A pod's namespace on `list` (eth0) with loopback up; on error nothing is left.
    pub fn attach_list(
        &self,
        id: &str,
        list: &ConfList,
        dirs: &[PathBuf],
        ports: &[PortBinding],
        args: &str,
    ) -> Result<NetState> {
        let mut state = self.fresh_netns(id, ports)?;
        let ns = self.netns_path(id);
        let t = Target {
            container_id: id,
            netns: &ns,
            ifname: "eth0",
        };
        let runner = list.runner(dirs, args);
        let added = cni::loopback(&Target { ifname: "lo", ..t })
            .and_then(|()| cni::add_with(&runner, &list.name, &list.plugins_for(ports), &t));
        match added {
            Ok(mut e) => {
                e.network_id = format!("cni:{}", list.name);
                state.endpoints.push(e);
                Ok(state)
            }
            Err(e) => {
                let _ = netns::remove(&ns);
                Err(e)
            }
        }
    }

    /// DEL through `list` (every plugin, the first error returned) and the namespace goes.
    pub fn detach_list(
        &self,
        id: &str,
        list: &ConfList,
        dirs: &[PathBuf],
        state: &NetState,
        args: &str,
    ) -> Result<()> {
        let ns = Path::new(&state.netns);
        let t = Target {
            container_id: id,
            netns: ns,
            ifname: "eth0",
        };
        let prev = state
            .endpoints
            .first()
            .and_then(|e| serde_json::from_str(&e.cni_result).ok());
        let res = cni::del_with(
            &list.runner(dirs, args),
            &list.name,
            &list.plugins_for(&state.ports),
            &t,
            prev.as_ref(),
        );
        netns::remove(ns).map_err(|e| Error::io("remove network namespace", ns, e))?;
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_valid_file_wins_and_a_conf_is_one_plugin() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_none());
        assert!(load(&dir.path().join("missing")).is_none());
        std::fs::write(dir.path().join("05-broken.conflist"), "{").unwrap();
        std::fs::write(
            dir.path().join("10-one.conf"),
            r#"{"cniVersion":"0.4.0","name":"one","type":"bridge"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("20-list.conflist"),
            r#"{"cniVersion":"1.0.0","name":"list","plugins":[{"type":"bridge"}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("00-readme.txt"), "not a config").unwrap();
        let c = load(dir.path()).unwrap();
        assert_eq!(
            (c.name.as_str(), c.cni_version.as_str(), c.plugins.len()),
            ("one", "0.4.0", 1)
        );
        assert!(parse(&dir.path().join("05-broken.conflist")).is_err());
    }

    #[test]
    fn port_mappings_go_only_to_plugins_that_ask() {
        let c = ConfList {
            name: "k8s".into(),
            cni_version: "1.0.0".into(),
            plugins: vec![
                json!({"type":"bridge"}),
                json!({"type":"portmap","capabilities":{"portMappings":true}}),
            ],
            file: PathBuf::new(),
        };
        let p = PortBinding {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            ..Default::default()
        };
        let out = c.plugins_for(&[p]);
        assert!(out[0].get("runtimeConfig").is_none());
        assert_eq!(out[1]["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(
            cni::pod_args("default", "web", "abc", "u1"),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u1"
        );
    }
}
