//! `docker stats`: resource usage read from the containers' cgroups.
//!
//! Every container's cgroup is `/ferry/<id>` (see `bundle::run_config`), so the runtime creates
//! `<cgroup-fs>/<controller>/ferry/<id>` on a v1 (or hybrid) host and `<cgroup-fs>/ferry/<id>`
//! (or `unified/ferry/<id>` on hybrid) on v2. Each value is looked for in the v1 files first, then
//! the v2 ones, file by file, so a host that mixes the two still reports what it can; a value
//! found nowhere is 0 (a stopped container has no cgroup and reports zeros, as in Docker).
//!
//! CPU % needs two samples: Docker's formula is Δcontainer CPU time / Δhost CPU time (from the
//! `cpu` line of /proc/stat) × online CPUs × 100. Memory usage is Docker's: usage minus the
//! inactive page cache (`total_inactive_file` on v1, `inactive_file` on v2); an unlimited
//! cgroup shows the host's memory as its limit. NET I/O sums the non-loopback interfaces of the
//! container's network namespace (/proc/<pid>/net/dev); `--network host` shows 0B / 0B, as
//! Docker does, since the container has no interfaces of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::manager::Containers;
use super::record::ContainerRecord;
use crate::error::{Error, Result};

/// Time between the two samples of one round (and between rounds when streaming).
pub const INTERVAL: Duration = Duration::from_secs(1);

/// /proc/stat counts in USER_HZ, which Linux fixes at 100 for user space on every architecture
/// (Docker uses the same constant).
const USER_HZ: u64 = 100;

/// A limit at or above this is "no limit" (v1 reports `PAGE_COUNTER_MAX` pages in bytes).
const UNLIMITED: u64 = 1 << 62;

/// What `stats` shows for one container in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsEntry {
    pub id: String,
    pub name: String,
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// A container's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Cumulative CPU time, ns.
    pub cpu_ns: u64,
    pub mem_usage: u64,
    pub pids: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

/// Which containers, and whether to keep going.
#[derive(Debug, Clone, Default)]
pub struct StatsQuery {
    /// Names, IDs or prefixes; empty = every running container (every one with `all`).
    pub ids: Vec<String>,
    pub all: bool,
    pub stream: bool,
}

/// One reading of a container's counters.
#[derive(Debug, Clone, Default, PartialEq)]
struct Sample {
    /// Cumulative CPU time of the cgroup, ns.
    cpu_ns: u64,
    /// Cumulative CPU time of the host, ns.
    system_ns: u64,
    mem_usage: u64,
    mem_limit: u64,
    pids: u64,
    block_read: u64,
    block_write: u64,
    net_rx: u64,
    net_tx: u64,
}

/// Where cgroup and proc files are read (a temp dir in tests).
#[derive(Debug, Clone)]
pub struct HostFs {
    pub cgroup: PathBuf,
    pub proc: PathBuf,
    pub sys_cpu_online: PathBuf,
}

impl Default for HostFs {
    fn default() -> Self {
        HostFs {
            cgroup: PathBuf::from("/sys/fs/cgroup"),
            proc: PathBuf::from("/proc"),
            sys_cpu_online: PathBuf::from("/sys/devices/system/cpu/online"),
        }
    }
}

impl Containers {
    /// Checks the named containers exist (NotFound before anything streams), then sends a round
    /// of entries every [`INTERVAL`] (after a first interval for the CPU baseline) until the
    /// receiver goes away, or once without `stream`.
    pub async fn stats(
        self: &Arc<Self>,
        query: StatsQuery,
        tx: mpsc::Sender<StatsEntry>,
    ) -> Result<()> {
        for q in &query.ids {
            self.get(q)?;
        }
        let host = HostFs::default();
        let mut prev: Vec<(String, Sample)> = Vec::new();
        loop {
            let targets = self.stats_targets(&query)?;
            let cur = sample_all(&host, &targets).await?;
            if !prev.is_empty() || targets.is_empty() || query.stream {
                for entry in round(&host, &targets, &prev, &cur) {
                    if tx.send(entry).await.is_err() {
                        return Ok(());
                    }
                }
                if !query.stream {
                    return Ok(());
                }
            }
            prev = cur;
            tokio::select! {
                () = tokio::time::sleep(INTERVAL) => {}
                () = tx.closed() => return Ok(()),
            }
        }
    }

    /// One reading of a container's cumulative CPU time, memory and pids (the CRI's stats).
    pub async fn usage(&self, rec: &ContainerRecord) -> Result<Usage> {
        let all = sample_all(&HostFs::default(), std::slice::from_ref(rec)).await?;
        let s = all.into_iter().next().map(|(_, s)| s).unwrap_or_default();
        Ok(Usage {
            cpu_ns: s.cpu_ns,
            mem_usage: s.mem_usage,
            pids: s.pids,
            net_rx: s.net_rx,
            net_tx: s.net_tx,
        })
    }

    /// Whether the OOM killer struck in the container's cgroup; read at its exit, before the
    /// runtime's delete removes the cgroup.
    pub fn oom_killed(&self, rec: &ContainerRecord) -> bool {
        Cgroup::new(&HostFs::default().cgroup, &rec.cgroup_rel()).oom_kills() > 0
    }

    /// The containers of this round (a removed one simply drops out of a stream).
    fn stats_targets(&self, query: &StatsQuery) -> Result<Vec<ContainerRecord>> {
        if query.ids.is_empty() {
            let mut all = self.list()?;
            all.retain(|c| query.all || c.state.is_live());
            return Ok(all);
        }
        Ok(query.ids.iter().filter_map(|q| self.get(q).ok()).collect())
    }
}

/// Samples every target on a blocking thread (sysfs and procfs reads).
async fn sample_all(host: &HostFs, targets: &[ContainerRecord]) -> Result<Vec<(String, Sample)>> {
    let host = host.clone();
    let targets = targets.to_vec();
    tokio::task::spawn_blocking(move || {
        let system_ns = system_cpu_ns(&host);
        targets
            .iter()
            .map(|c| (c.id.clone(), sample(&host, c, system_ns)))
            .collect()
    })
    .await
    .map_err(Error::blocking("stats"))
}

/// Entries for one round: the current sample, CPU % against the previous one of the same
/// container (0 for a container seen for the first time).
fn round(
    host: &HostFs,
    targets: &[ContainerRecord],
    prev: &[(String, Sample)],
    cur: &[(String, Sample)],
) -> Vec<StatsEntry> {
    let cpus = online_cpus(host);
    targets
        .iter()
        .zip(cur)
        .map(|(c, (_, now))| {
            let before = prev.iter().find(|(id, _)| *id == c.id).map(|(_, s)| s);
            entry(c, before, now, cpus)
        })
        .collect()
}

fn entry(c: &ContainerRecord, before: Option<&Sample>, now: &Sample, cpus: u32) -> StatsEntry {
    StatsEntry {
        id: c.id.clone(),
        name: c.name.clone(),
        cpu_percent: before.map_or(0.0, |b| cpu_percent(b, now, cpus)),
        mem_usage: now.mem_usage,
        mem_limit: now.mem_limit,
        net_rx: now.net_rx,
        net_tx: now.net_tx,
        block_read: now.block_read,
        block_write: now.block_write,
        pids: now.pids,
    }
}

/// Docker's `calculateCPUPercentUnix`.
fn cpu_percent(before: &Sample, now: &Sample, cpus: u32) -> f64 {
    let cpu = now.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let system = now.system_ns.saturating_sub(before.system_ns) as f64;
    if cpu > 0.0 && system > 0.0 {
        cpu / system * f64::from(cpus) * 100.0
    } else {
        0.0
    }
}

/// One reading of a container; zeros for one that is not running.
fn sample(host: &HostFs, c: &ContainerRecord, system_ns: u64) -> Sample {
    if !c.state.is_live() {
        return Sample {
            system_ns,
            ..Sample::default()
        };
    }
    let mem_total = mem_total(host);
    let cg = Cgroup::new(&host.cgroup, &c.cgroup_rel());
    let (block_read, block_write) = cg.block_io();
    let (net_rx, net_tx) = match c.config.network.as_str() {
        "host" => (0, 0),
        _ => read(&host.proc.join(c.pid.to_string()).join("net/dev"))
            .map_or((0, 0), |t| parse_net_dev(&t)),
    };
    Sample {
        cpu_ns: cg.cpu_ns(),
        system_ns,
        mem_usage: cg.mem_usage(),
        mem_limit: cg
            .mem_limit()
            .filter(|l| *l < mem_total)
            .unwrap_or(mem_total),
        pids: cg.pids(),
        block_read,
        block_write,
        net_rx,
        net_tx,
    }
}

/// A container's cgroup directories, v1 controllers and the v2 unified one.
#[derive(Debug)]
struct Cgroup {
    root: PathBuf,
    rel: PathBuf,
}

impl Cgroup {
    fn new(root: &Path, rel: &Path) -> Self {
        Cgroup {
            root: root.to_path_buf(),
            rel: rel.strip_prefix("/").unwrap_or(rel).to_path_buf(),
        }
    }

    /// The first of `candidates` (controller directory, file) that can be read.
    fn first(&self, candidates: &[(&str, &str)]) -> Option<String> {
        candidates
            .iter()
            .find_map(|(ctl, file)| read(&self.root.join(ctl).join(&self.rel).join(file)))
    }

    fn cpu_ns(&self) -> u64 {
        let v1 = [
            ("cpuacct", "cpuacct.usage"),
            ("cpu,cpuacct", "cpuacct.usage"),
            ("cpuacct,cpu", "cpuacct.usage"),
        ];
        if let Some(v) = self.first(&v1) {
            return number(&v);
        }
        self.first(&[("unified", "cpu.stat"), ("", "cpu.stat")])
            .and_then(|t| keyed(&t, "usage_usec"))
            .map_or(0, |us| us.saturating_mul(1000))
    }

    fn mem_usage(&self) -> u64 {
        let v1 = self.first(&[("memory", "memory.usage_in_bytes")]);
        let (usage, stat, key) = match v1 {
            Some(u) => (
                u,
                self.first(&[("memory", "memory.stat")]),
                "total_inactive_file",
            ),
            None => match self.first(&[("unified", "memory.current"), ("", "memory.current")]) {
                Some(u) => (
                    u,
                    self.first(&[("unified", "memory.stat"), ("", "memory.stat")]),
                    "inactive_file",
                ),
                None => return 0,
            },
        };
        let inactive = stat.and_then(|s| keyed(&s, key)).unwrap_or(0);
        let usage = number(&usage);
        // Docker subtracts only when it makes sense.
        if inactive < usage {
            usage - inactive
        } else {
            usage
        }
    }

    /// The limit in bytes; `None` when unlimited.
    fn mem_limit(&self) -> Option<u64> {
        let raw = self.first(&[
            ("memory", "memory.limit_in_bytes"),
            ("unified", "memory.max"),
            ("", "memory.max"),
        ])?;
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|l| *l < UNLIMITED && *l > 0)
    }

    /// How many processes the kernel's OOM killer took in this cgroup (`oom_kill` in v1's
    /// memory.oom_control, v2's memory.events).
    fn oom_kills(&self) -> u64 {
        self.first(&[
            ("memory", "memory.oom_control"),
            ("unified", "memory.events"),
            ("", "memory.events"),
        ])
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .map(number)
        })
        .unwrap_or(0)
    }

    fn pids(&self) -> u64 {
        self.first(&[
            ("pids", "pids.current"),
            ("unified", "pids.current"),
            ("", "pids.current"),
        ])
        .map_or(0, |v| number(&v))
    }

    fn block_io(&self) -> (u64, u64) {
        if let Some(t) = self.first(&[("blkio", "blkio.throttle.io_service_bytes")]) {
            return parse_blkio_v1(&t);
        }
        self.first(&[("unified", "io.stat"), ("", "io.stat")])
            .map_or((0, 0), |t| parse_io_stat_v2(&t))
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn number(s: &str) -> u64 {
    s.trim().parse().unwrap_or(0)
}

/// The value of `key` in a `key value` file (memory.stat, cpu.stat).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(key)).then(|| w.next().and_then(|v| v.parse().ok()))?
    })
}

/// v1 `blkio.throttle.io_service_bytes`: `MAJ:MIN Read N` lines (plus a `Total` line).
fn parse_blkio_v1(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_, op, n] = f.as_slice() {
            let n: u64 = n.parse().unwrap_or(0);
            match op.to_ascii_lowercase().as_str() {
                "read" => r = r.saturating_add(n),
                "write" => w = w.saturating_add(n),
                _ => {}
            }
        }
    }
    (r, w)
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N …` per device.
fn parse_io_stat_v2(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for kv in text.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let n: u64 = v.parse().unwrap_or(0);
        match k {
            "rbytes" => r = r.saturating_add(n),
            "wbytes" => w = w.saturating_add(n),
            _ => {}
        }
    }
    (r, w)
}

/// `/proc/<pid>/net/dev`: received and transmitted bytes of every interface but `lo`.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for l in text.lines().skip(2) {
        let Some((iface, rest)) = l.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        rx = rx.saturating_add(f.first().copied().unwrap_or(0));
        tx = tx.saturating_add(f.get(8).copied().unwrap_or(0));
    }
    (rx, tx)
}

/// Host CPU time in ns: the `cpu` line of /proc/stat (USER_HZ ticks), as Docker sums it.
fn system_cpu_ns(host: &HostFs) -> u64 {
    read(&host.proc.join("stat")).map_or(0, |t| parse_proc_stat(&t))
}

fn parse_proc_stat(text: &str) -> u64 {
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks.saturating_mul(1_000_000_000 / USER_HZ)
}

/// The host's memory, from /proc/meminfo (`MemTotal: N kB`).
fn mem_total(host: &HostFs) -> u64 {
    read(&host.proc.join("meminfo"))
        .and_then(|t| keyed(&t.replace(':', " "), "MemTotal"))
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// Online CPUs from a list like `0-3,6`, falling back to what the scheduler allows us.
fn online_cpus(host: &HostFs) -> u32 {
    read(&host.sys_cpu_online)
        .and_then(|t| parse_cpu_list(&t))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        })
}

fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u32>().ok()?.checked_sub(a.parse().ok()?)? + 1,
            None => part.parse::<u32>().map(|_| 1).ok()?,
        };
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::record::{ContainerConfig, State};

    fn host(dir: &Path) -> HostFs {
        HostFs {
            cgroup: dir.join("cgroup"),
            proc: dir.join("proc"),
            sys_cpu_online: dir.join("online"),
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn record(id: &str, state: State, pid: u32) -> ContainerRecord {
        ContainerRecord {
            state,
            pid,
            ..ContainerRecord::new(
                id.into(),
                "web".into(),
                ContainerConfig::default(),
                String::new(),
            )
        }
    }

    #[test]
    fn v1_files_are_read_as_docker_does() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path());
        let cg = |c: &str, f: &str, t: &str| write(&h.cgroup.join(c).join("ferry/abc").join(f), t);
        cg("memory", "memory.usage_in_bytes", "10485760\n");
        cg(
            "memory",
            "memory.stat",
            "cache 1\ntotal_inactive_file 4194304\n",
        );
        cg("memory", "memory.limit_in_bytes", "67108864\n");
        cg("cpuacct", "cpuacct.usage", "5000\n");
        cg("pids", "pids.current", "3\n");
        cg(
            "blkio",
            "blkio.throttle.io_service_bytes",
            "8:0 Read 100\n8:0 Write 7\n8:16 Read 1\n8:0 Total 107\nTotal 108\n",
        );
        write(&h.proc.join("meminfo"), "MemTotal:       1000000 kB\n");
        write(
            &h.proc.join("42/net/dev"),
            "h1\nh2\n    lo: 99 1 0 0 0 0 0 0 99 1 0 0 0 0 0 0\n  eth0: 10 1 0 0 0 0 0 0 20 1 0 0 0 0 0 0\n",
        );
        let s = sample(&h, &record("abc", State::Running, 42), 9);
        assert_eq!(
            s,
            Sample {
                cpu_ns: 5000,
                system_ns: 9,
                mem_usage: 6 << 20,
                mem_limit: 64 << 20,
                pids: 3,
                block_read: 101,
                block_write: 7,
                net_rx: 10,
                net_tx: 20,
            }
        );
    }

    #[test]
    fn unlimited_memory_shows_the_host_and_stopped_shows_zeros() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path());
        write(
            &h.cgroup.join("memory/ferry/abc/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(&h.proc.join("meminfo"), "MemTotal: 2048 kB\n");
        let s = sample(&h, &record("abc", State::Running, 1), 0);
        assert_eq!(s.mem_limit, 2048 * 1024);
        let s = sample(&h, &record("abc", State::Exited, 0), 0);
        assert_eq!((s.mem_usage, s.mem_limit, s.pids, s.cpu_ns), (0, 0, 0, 0));
    }

    #[test]
    fn v2_files_are_the_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        let h = host(tmp.path());
        let cg = |f: &str, t: &str| write(&h.cgroup.join("unified/ferry/abc").join(f), t);
        cg("memory.current", "3000\n");
        cg("memory.stat", "anon 1\ninactive_file 1000\n");
        cg("memory.max", "max\n");
        cg("cpu.stat", "usage_usec 7\nuser_usec 5\n");
        cg("pids.current", "2\n");
        cg(
            "io.stat",
            "8:0 rbytes=5 wbytes=6 rios=1\n8:16 rbytes=1 wbytes=0\n",
        );
        write(&h.proc.join("meminfo"), "MemTotal: 1 kB\n");
        let s = sample(&h, &record("abc", State::Running, 0), 0);
        assert_eq!((s.mem_usage, s.mem_limit, s.cpu_ns), (2000, 1024, 7000));
        assert_eq!((s.pids, s.block_read, s.block_write), (2, 6, 6));
    }

    #[test]
    fn cpu_percent_uses_dockers_formula() {
        let a = Sample {
            cpu_ns: 0,
            system_ns: 0,
            ..Sample::default()
        };
        let b = Sample {
            cpu_ns: 500,
            system_ns: 2000,
            ..Sample::default()
        };
        assert!((cpu_percent(&a, &b, 2) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&b, &b, 2), 0.0);
    }

    #[test]
    fn proc_files_parse() {
        let stat = "cpu  100 0 50 850 0 0 0 5 0 0\ncpu0 1 1 1 1\n";
        assert_eq!(parse_proc_stat(stat), 1000 * 10_000_000);
        assert_eq!(parse_cpu_list("0-3,6\n"), Some(5));
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
