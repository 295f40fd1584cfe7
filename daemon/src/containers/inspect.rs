//! `docker inspect` of a container: Docker's shape, for the fields Ferry knows (image inspect's
//! counterpart, `ferry_image_service::images::inspect`).

use serde_json::{json, Value};

use super::manager::Containers;
use super::record::{ContainerRecord, RestartPolicy, State};
use super::rootfs::Paths;
use crate::error::Result;

impl Containers {
    pub fn inspect(&self, query: &str) -> Result<Value> {
        let rec = self.get(query)?;
        // Mounts are filled in here: a volume's host path is the volume store's to say.
        let mut json = inspect_json(&rec, &self.paths(&rec.id));
        json["Mounts"] = self.mounts_json(&rec);
        Ok(json)
    }

    /// `Mounts` as Docker shows them: a volume by its host path, with its name and driver.
    fn mounts_json(&self, c: &ContainerRecord) -> Value {
        c.config
            .mounts
            .iter()
            .map(|m| match m.kind.as_str() {
                "volume" => json!({
                    "Type": "volume", "Name": m.source, "Driver": "local",
                    "Source": self.volumes.data_dir(&m.source), "Destination": m.destination,
                    "RW": !m.read_only,
                }),
                _ => json!({
                    "Type": m.kind, "Source": m.source, "Destination": m.destination,
                    "RW": !m.read_only,
                }),
            })
            .collect()
    }
}

/// `docker inspect`'s shape, for the fields Ferry knows.
fn inspect_json(c: &ContainerRecord, paths: &Paths) -> Value {
    let zero = "0001-01-01T00:00:00Z";
    let (path, args) = c
        .args
        .split_first()
        .map(|(p, a)| (p.clone(), a.to_vec()))
        .unwrap_or_default();
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": c.state.as_str(),
            "Running": matches!(c.state, State::Running | State::Paused),
            "Paused": c.state == State::Paused,
            "Restarting": c.state == State::Restarting,
            "OOMKilled": c.oom_killed,
            "Dead": c.state == State::Dead,
            "Pid": c.pid,
            "ExitCode": c.exit_code,
            "Error": c.error,
            "StartedAt": c.started_at.as_deref().unwrap_or(zero),
            "FinishedAt": c.finished_at.as_deref().unwrap_or(zero),
        },
        "Image": c.image_id,
        "ResolvConfPath": paths.state.join("resolv.conf"),
        "HostnamePath": paths.state.join("hostname"),
        "HostsPath": paths.state.join("hosts"),
        "LogPath": paths.log(&c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": if c.config.network.is_empty() { "default" } else { c.config.network.as_str() },
            "PortBindings": c.config.publish,
            "PublishAllPorts": c.config.publish_all,
            "RestartPolicy": { "Name": c.config.restart.name(), "MaximumRetryCount": match c.config.restart { RestartPolicy::OnFailure(Some(n)) => n, _ => 0 } },
            "AutoRemove": c.config.auto_remove,
            "Privileged": c.config.privileged,
            "ReadonlyRootfs": c.config.read_only,
            "CapAdd": c.config.cap_add,
            "CapDrop": c.config.cap_drop,
            "Memory": c.config.memory,
            "NanoCpus": (c.config.cpus * 1e9) as i64,
            "PidsLimit": c.config.pids_limit,
            "Runtime": c.config.runtime_name(),
            "LogConfig": { "Type": "json-file", "Config": { "max-size": c.config.log_max_size.to_string(), "max-file": c.config.log_max_file.to_string() } },
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": { "UpperDir": paths.state.join("upper"), "WorkDir": paths.state.join("work"), "MergedDir": paths.rootfs() },
        },
        "Config": {
            "Hostname": if c.config.hostname.is_empty() { &c.id[..12] } else { c.config.hostname.as_str() },
            "User": c.config.user,
            "Tty": c.config.tty,
            "OpenStdin": c.config.open_stdin,
            "Env": c.config.env,
            "Cmd": c.config.cmd,
            "Image": c.config.image,
            "WorkingDir": c.config.workdir,
            "Entrypoint": c.config.entrypoint,
            "Labels": c.config.labels,
        },
        "NetworkSettings": network_settings(c),
        "RuntimeUsed": c.runtime_used,
    })
}

/// `NetworkSettings` of `docker inspect`: empty unless the container runs on a bridge network.
fn network_settings(c: &ContainerRecord) -> Value {
    let Some(n) = &c.net else {
        return json!({ "IPAddress": "", "Ports": {}, "Networks": {} });
    };
    let mut ports = serde_json::Map::new();
    for p in &n.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let ip = if p.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            p.host_ip.as_str()
        };
        let entry = ports.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({ "HostIp": ip, "HostPort": p.host_port.to_string() }));
        }
    }
    let first = n.endpoints.first();
    json!({
        "SandboxKey": n.netns,
        "IPAddress": n.ip(),
        "IPPrefixLen": first.map_or(0, |e| e.prefix_len),
        "Gateway": first.map_or("", |e| e.gateway.as_str()),
        "MacAddress": first.map_or("", |e| e.mac.as_str()),
        "Ports": ports,
        "Networks": n.endpoints.iter().map(|e| (e.network.clone(), json!({
            "NetworkID": e.network_id, "IPAddress": e.ip, "IPPrefixLen": e.prefix_len,
            "Gateway": e.gateway, "MacAddress": e.mac, "Aliases": [c.name.clone()],
        }))).collect::<serde_json::Map<_, _>>(),
    })
}
