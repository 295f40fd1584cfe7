//! IPv4 subnets: parsing, overlap, and choosing one that collides with nothing on the host.
//!
//! Several daemons (and other engines) share one host, so a choice is checked against the
//! host's routes and against a host-wide claims file (`/run/ferry-subnets.json`, under an
//! exclusive flock): a bridge only gets its route when its first container starts.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = || Error::InvalidArgument(format!("invalid subnet {s:?}: want A.B.C.D/LEN"));
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&len) {
            return Err(bad());
        }
        let net = Subnet { addr, len };
        if net.network() != addr {
            return Err(Error::InvalidArgument(format!(
                "invalid subnet {s}: host bits are set (did you mean {}?)",
                net.normalized()
            )));
        }
        Ok(net)
    }

    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0)
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    fn normalized(&self) -> String {
        format!("{}/{}", self.network(), self.len)
    }

    /// The first host address, which the bridge takes as the gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.normalized())
    }
}

/// Docker's default pool order: 172.17–31/16, then 10.90.x.0/24 (podman's 10.88/10.89 left alone).
fn candidates() -> impl Iterator<Item = Subnet> {
    let wide = (17..=31).map(|b| Subnet {
        addr: Ipv4Addr::new(172, b, 0, 0),
        len: 16,
    });
    let narrow = (0..=255).map(|c| Subnet {
        addr: Ipv4Addr::new(10, 90, c, 0),
        len: 24,
    });
    wide.chain(narrow)
}

/// Non-default IPv4 routes of the host, from /proc/net/route (little-endian hex).
fn host_routes() -> Vec<Subnet> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            let len = mask.count_ones() as u8;
            let addr = Ipv4Addr::from(dest.to_le_bytes());
            (len > 0).then_some(Subnet { addr, len })
        })
        .collect()
}

/// The subnet and address an interface already has: a default bridge left from an earlier
/// data root keeps its address, as docker0 does, and is reused rather than fought over (the
/// bridge plugin refuses a bridge whose address differs from the network's gateway).
pub fn of_interface(name: &str) -> Option<(Subnet, Ipv4Addr)> {
    // getifaddrs, not `ip addr`: this runs on every start on the default bridge.
    let ifa = nix::ifaddrs::getifaddrs().ok()?.find(|a| {
        a.interface_name == name
            && a.address
                .and_then(|x| x.as_sockaddr_in().copied())
                .is_some()
    })?;
    let addr = ifa.address?.as_sockaddr_in()?.ip();
    let mask = ifa.netmask?.as_sockaddr_in()?.ip();
    let len = u32::from(mask).count_ones() as u8;
    let network = Subnet { addr, len }.network();
    Some((Subnet { addr: network, len }, addr))
}

/// The host-wide claims: subnet → the network file that owns it.
#[derive(Debug)]
pub struct Claims {
    _lock: File,
    path: PathBuf,
    map: BTreeMap<String, String>,
}

impl Claims {
    /// Locks and reads the claims, dropping those whose owner file is gone.
    pub fn open(path: &Path) -> Result<Claims> {
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io("open", &lock_path, e))?;
        // Held until `lock` is closed, i.e. as long as these claims live.
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io("flock", &lock_path, e.into()))?;
        let mut map: BTreeMap<String, String> = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        map.retain(|_, owner| Path::new(owner).exists());
        Ok(Claims {
            _lock: lock,
            path: path.to_path_buf(),
            map,
        })
    }

    /// Is `net` free: no host route and no other claim overlaps it?
    pub fn check(&self, net: &Subnet) -> Result<()> {
        let taken = host_routes()
            .into_iter()
            .chain(self.map.keys().filter_map(|s| Subnet::parse(s).ok()))
            .find(|t| t.overlaps(net));
        match taken {
            Some(t) => Err(Error::Conflict(format!(
                "Pool overlaps with other one on this address space: {net} overlaps {t}"
            ))),
            None => Ok(()),
        }
    }

    pub fn choose(&self) -> Result<Subnet> {
        candidates().find(|c| self.check(c).is_ok()).ok_or_else(|| {
            Error::Conflict("no free subnet left in the default address pools".into())
        })
    }

    pub fn claim(&mut self, net: &Subnet, owner: &Path) -> Result<()> {
        self.map
            .insert(net.to_string(), owner.display().to_string());
        self.save()
    }

    pub fn release(&mut self, net: &str) -> Result<()> {
        self.map.remove(net);
        self.save()
    }

    fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        let json = serde_json::to_vec(&self.map).map_err(|e| Error::Record(e.to_string()))?;
        std::fs::write(&tmp, json).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("rename", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let a = Subnet::parse("172.18.0.0/16").unwrap();
        assert_eq!(a.gateway().to_string(), "172.18.0.1");
        assert!(a.overlaps(&Subnet::parse("172.18.5.0/24").unwrap()));
        assert!(!a.overlaps(&Subnet::parse("172.19.0.0/16").unwrap()));
        assert!(Subnet::parse("172.18.0.1/16")
            .unwrap_err()
            .to_string()
            .contains("172.18.0.0/16"));
        for bad in ["172.18.0.0", "x/16", "10.0.0.0/33", "10.0.0.0/4"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_interface_address_gives_its_network_and_gateway() {
        let (net, addr) = of_interface("lo").unwrap();
        assert_eq!(
            (net.to_string(), addr.to_string()),
            ("127.0.0.0/8".into(), "127.0.0.1".into())
        );
        assert!(of_interface("fy-nonexistent").is_none());
    }

    #[test]
    fn host_routes_are_read_and_avoided() {
        let routes = host_routes();
        let dir = tempfile::tempdir().unwrap();
        let owner = dir.path().join("owner");
        std::fs::write(&owner, "").unwrap();
        let mut claims = Claims::open(&dir.path().join("claims.json")).unwrap();
        let first = claims.choose().unwrap();
        assert!(
            routes.iter().all(|r| !r.overlaps(&first)),
            "{first} vs {routes:?}"
        );
        claims.claim(&first, &owner).unwrap();
        let second = claims.choose().unwrap();
        assert_ne!(first, second);
        assert!(claims.check(&first).is_err());
        drop(claims);
        std::fs::remove_file(&owner).unwrap();
        let claims = Claims::open(&dir.path().join("claims.json")).unwrap();
        assert_eq!(
            claims.choose().unwrap(),
            first,
            "a vanished owner's claim is dropped"
        );
    }
}
