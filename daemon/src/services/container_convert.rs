//! `ferry.containers.v1` messages ↔ container domain types, and Docker-shaped inspect JSON.

use ferry_proto::containers::v1 as pb;
use ferry_proto::shim::v1 as shim;

use crate::containers::status::status_text;
use crate::containers::{ContainerConfig, ContainerRecord, MountConfig, RestartPolicy};
use crate::error::{Error, Result};

pub(super) fn config(c: pb::ContainerConfig) -> Result<ContainerConfig> {
    let restart = RestartPolicy::parse(&c.restart)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid restart policy: {}", c.restart)))?;
    let mounts = c
        .mounts
        .into_iter()
        .map(|m| MountConfig {
            kind: m.r#type,
            source: m.source,
            destination: m.destination,
            read_only: m.read_only,
            create_source: m.create_source,
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
        pod: None,
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
