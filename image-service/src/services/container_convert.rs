//! `ferry.containers.v1` messages ↔ container domain types, and Docker-shaped inspect JSON.

use ferry_proto::containers::v1 as pb;
use ferry_proto::shim::v1 as shim;
use serde_json::{json, Value};

use crate::containers::rootfs::Paths;
use crate::containers::status::status_text;
use crate::containers::{ContainerConfig, ContainerRecord, MountConfig, RestartPolicy, State};
use crate::error::{Error, Result};

pub(super) fn config(c: pb::ContainerConfig) -> Result<ContainerConfig> {
    let restart = RestartPolicy::parse(&c.restart)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid restart policy: {}", c.restart)))?;
    if c.auto_remove && restart != RestartPolicy::No {
        return Err(Error::InvalidArgument(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    if !matches!(c.runtime.as_str(), "" | "crun" | "runc") {
        return Err(Error::InvalidArgument(format!(
            "unknown or invalid runtime name: {}",
            c.runtime
        )));
    }
    let mounts = c
        .mounts
        .into_iter()
        .map(|m| MountConfig {
            kind: m.r#type,
            source: m.source,
            destination: m.destination,
            read_only: m.read_only,
        })
        .collect();
    Ok(ContainerConfig {
        image: c.image,
        cmd: c.cmd,
        entrypoint: c.entrypoint,
        env: c.env,
        workdir: c.workdir,
        user: c.user,
        hostname: c.hostname,
        tty: c.tty,
        open_stdin: c.open_stdin,
        read_only: c.read_only,
        privileged: c.privileged,
        cap_add: c.cap_add,
        cap_drop: c.cap_drop,
        no_new_privileges: c.no_new_privileges,
        memory: c.memory,
        cpus: c.cpus,
        pids_limit: c.pids_limit,
        network: c.network,
        mounts,
        init: c.init,
        labels: c.labels.into_iter().collect(),
        restart,
        auto_remove: c.auto_remove,
        runtime: c.runtime,
        log_max_size: c.log_max_size,
        log_max_file: c.log_max_file,
        publish: c.publish,
        publish_all: c.publish_all,
    })
}

pub(super) fn container(c: &ContainerRecord, now: chrono::DateTime<chrono::Utc>) -> pb::Container {
    pb::Container {
        id: c.id.clone(),
        name: c.name.clone(),
        image: c.config.image.clone(),
        image_id: c.image_id.clone(),
        command: c.args.join(" "),
        created: chrono::DateTime::parse_from_rfc3339(&c.created)
            .map(|t| t.timestamp())
            .unwrap_or(0),
        state: c.state.as_str().to_string(),
        status: status_text(c, now),
        labels: c.config.labels.clone().into_iter().collect(),
        exit_code: c.exit_code,
        ports: c
            .net
            .iter()
            .flat_map(|n| &n.ports)
            .map(|p| pb::PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.into(),
                container_port: p.container_port.into(),
                protocol: p.protocol.clone(),
            })
            .collect(),
        networks: match &c.net {
            Some(n) => n.endpoints.iter().map(|e| e.network.clone()).collect(),
            None => vec![c.config.network.clone()],
        },
    }
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

pub(super) fn attach_input(i: pb::attach_input::Input) -> shim::attach_input::Input {
    use pb::attach_input::Input as I;
    match i {
        I::Stdin(b) => shim::attach_input::Input::Stdin(b),
        I::Resize(r) => shim::attach_input::Input::Resize(shim::Resize {
            rows: r.rows,
            cols: r.cols,
        }),
        I::CloseStdin(b) => shim::attach_input::Input::CloseStdin(b),
    }
}

pub(super) fn exec_input(i: pb::exec_input::Input) -> shim::attach_input::Input {
    use pb::exec_input::Input as I;
    match i {
        I::Stdin(b) => shim::attach_input::Input::Stdin(b),
        I::Resize(r) => shim::attach_input::Input::Resize(shim::Resize {
            rows: r.rows,
            cols: r.cols,
        }),
        I::CloseStdin(b) => shim::attach_input::Input::CloseStdin(b),
    }
}

pub(super) fn output(o: shim::AttachOutput) -> pb::AttachOutput {
    let stream = match shim::attach_output::Stream::try_from(o.stream) {
        Ok(shim::attach_output::Stream::Stderr) => "stderr",
        _ => "stdout",
    };
    pb::AttachOutput {
        stream: stream.to_string(),
        data: o.data,
    }
}

/// `docker inspect`'s shape, for the fields Ferry knows.
pub(super) fn inspect(c: &ContainerRecord, paths: &Paths) -> Value {
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
            "OOMKilled": false,
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
            "Runtime": if c.config.runtime.is_empty() { "crun" } else { c.config.runtime.as_str() },
            "LogConfig": { "Type": "json-file", "Config": { "max-size": c.config.log_max_size.to_string(), "max-file": c.config.log_max_file.to_string() } },
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": { "UpperDir": paths.state.join("upper"), "WorkDir": paths.state.join("work"), "MergedDir": paths.rootfs() },
        },
        "Mounts": c.config.mounts.iter().map(|m| json!({
            "Type": m.kind, "Source": m.source, "Destination": m.destination, "RW": !m.read_only,
        })).collect::<Vec<_>>(),
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
