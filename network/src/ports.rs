//! Published ports: Docker's `-p` grammar, `-P` from EXPOSE, and host ports that must be free.

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};

use super::record::PortBinding;
use crate::error::{Error, Result};

/// `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`.
pub fn parse(spec: &str) -> Result<PortBinding> {
    let bad = |why: &str| Error::InvalidArgument(format!("invalid port mapping {spec:?}: {why}"));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if p == "tcp" || p == "udp" => (r, p),
        Some((_, p)) => return Err(bad(&format!("unknown protocol {p}"))),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let port = |s: &str, zero_ok: bool| -> Result<u16> {
        match s.parse::<u16>() {
            Ok(0) if !zero_ok => Err(bad("port 0")),
            Ok(p) => Ok(p),
            Err(_) => Err(bad(&format!("invalid port {s:?}"))),
        }
    };
    let (host_ip, host, container) = match parts.as_slice() {
        [c] => ("", "0", *c),
        [c, h] => ("", *h, *c),
        [c, h, ip] => (*ip, *h, *c),
        _ => return Err(bad("too many colons")),
    };
    if !host_ip.is_empty() && host_ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(bad(&format!("invalid IP address {host_ip}")));
    }
    Ok(PortBinding {
        host_ip: host_ip.to_string(),
        host_port: if host.is_empty() {
            0
        } else {
            port(host, true)?
        },
        container_port: port(container, false)?,
        protocol: proto.to_string(),
    })
}

/// `-P`: every EXPOSEd port ("80/tcp") to a free host port.
pub fn from_exposed(exposed: &BTreeMap<String, serde_json::Value>) -> Vec<PortBinding> {
    exposed.keys().filter_map(|k| parse(k).ok()).collect()
}

/// Binds each wanted port to check it is free (and picks one for port 0). Ports that other
/// Ferry containers publish are taken even though nothing listens on them: portmap only
/// installs DNAT rules.
pub fn allocate(wanted: &[PortBinding], in_use: &[PortBinding]) -> Result<Vec<PortBinding>> {
    let mut out: Vec<PortBinding> = Vec::new();
    for w in wanted {
        let ip = if w.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            w.host_ip.as_str()
        };
        let clash = |p: &PortBinding| {
            p.host_port == w.host_port
                && p.protocol == w.protocol
                && (p.host_ip.is_empty() || w.host_ip.is_empty() || p.host_ip == w.host_ip)
        };
        if w.host_port != 0 && in_use.iter().chain(&out).any(clash) {
            return Err(allocated(ip, w));
        }
        let port = probe(ip, w).map_err(|_| allocated(ip, w))?;
        out.push(PortBinding {
            host_port: port,
            ..w.clone()
        });
    }
    Ok(out)
}

fn probe(ip: &str, w: &PortBinding) -> std::io::Result<u16> {
    let addr = format!("{ip}:{}", w.host_port);
    Ok(match w.protocol.as_str() {
        "udp" => UdpSocket::bind(addr)?.local_addr()?.port(),
        _ => TcpListener::bind(addr)?.local_addr()?.port(),
    })
}

fn allocated(ip: &str, w: &PortBinding) -> Error {
    Error::Conflict(format!(
        "driver failed programming external connectivity: Bind for {ip}:{} failed: port is already allocated",
        w.host_port
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(ip: &str, h: u16, c: u16, proto: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: h,
            container_port: c,
            protocol: proto.into(),
        }
    }

    #[test]
    fn docker_port_grammar() {
        assert_eq!(parse("8080:80").unwrap(), pb("", 8080, 80, "tcp"));
        assert_eq!(parse("80").unwrap(), pb("", 0, 80, "tcp"));
        assert_eq!(
            parse("127.0.0.1:8080:80/udp").unwrap(),
            pb("127.0.0.1", 8080, 80, "udp")
        );
        assert_eq!(
            parse("127.0.0.1::80").unwrap(),
            pb("127.0.0.1", 0, 80, "tcp")
        );
        for bad in [
            "",
            "x:80",
            "80/sctp2",
            "1:2:3:4",
            "99999:80",
            "8080:0",
            "nothost:1:2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn taken_ports_are_refused_and_zero_gets_a_free_one() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = l.local_addr().unwrap().port();
        let err = allocate(&[pb("127.0.0.1", busy, 80, "tcp")], &[]).unwrap_err();
        assert!(
            err.to_string().contains("port is already allocated"),
            "{err}"
        );
        let got = allocate(&[pb("127.0.0.1", 0, 80, "tcp")], &[]).unwrap();
        assert_ne!(got[0].host_port, 0);
        let published = [pb("", 40999, 80, "tcp")];
        assert!(allocate(&[pb("", 40999, 81, "tcp")], &published).is_err());
        assert!(allocate(&[pb("", 40999, 81, "udp")], &published).is_ok());
    }
}
