//! Networking end to end: CNI bridge networks from containernetworking-plugins, published ports
//! reached over the host's loopback, user networks with names, and a complete teardown.

use std::time::Duration;

use ferry_integration_tests::fixtures::{self, Image, ImageBuilder, ManifestFormat};
use ferry_integration_tests::http::Request;
use ferry_integration_tests::{free_port, rand_u32, wait_until, Env};
use serde_json::json;

/// busybox + /srv/www/index.html, Cmd httpd -f -h /srv/www, EXPOSE 80.
const WEB: &str = "web:1";

fn web_image() -> Image {
    ImageBuilder::new(ManifestFormat::Docker)
        .layer(fixtures::busybox_layer(fixtures::Compression::Gzip))
        .layer(
            fixtures::LayerBuilder::new()
                .dir("srv", 0o755)
                .dir("srv/www", 0o755)
                .file("srv/www/index.html", b"<h1>ferry</h1>\n", 0o644)
                .finish(fixtures::Compression::Gzip),
        )
        .config_field("Cmd", json!(["httpd", "-f", "-h", "/srv/www"]))
        .config_field("ExposedPorts", json!({"80/tcp": {}}))
        .build()
}

/// A daemon with its own default bridge interface (tests run side by side), [`WEB`] and
/// busybox pulled.
fn env() -> Env {
    Env::builder()
        .pull(web_image(), WEB)
        .with_busybox()
        .bridge(&format!("fyt{:08x}", rand_u32()))
        .build()
}

/// GET / until it answers (httpd needs a moment to listen).
fn http_get(addr: &str) -> String {
    let mut body = String::new();
    let ok = wait_until(Duration::from_secs(10), || {
        match Request::get("/").timeout(Duration::from_secs(2)).send(addr) {
            Ok(r) if r.status == 200 => {
                body = r.text();
                true
            }
            _ => false,
        }
    });
    assert!(ok, "no HTTP answer from {addr}");
    body
}

#[test]
fn published_httpd_answers_on_localhost_and_on_its_own_ip() {
    let env = env();
    let web = env.reference(WEB);
    let port = free_port();
    let p = format!("{port}:80");
    env.daemon()
        .ferry_ok(&["run", "-d", "-p", &p, "--name", "web", &web]);
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("<h1>ferry</h1>"));
    let ip = env.inspect_format("web", "{{.NetworkSettings.IPAddress}}");
    assert!(!ip.is_empty(), "no IP");
    assert!(http_get(&format!("{ip}:80")).contains("<h1>ferry</h1>"));
    assert_eq!(
        env.ok_trim(&["port", "web"]),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    assert_eq!(
        env.ok_trim(&["port", "web", "80"]),
        format!("0.0.0.0:{port}")
    );
    let ps = env.ok_trim(&["ps"]);
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");

    // The same host port again: a clear error, and the container is not left running.
    let out = env
        .daemon()
        .ferry(&["run", "-d", "-p", &p, "--name", "web2", &web]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("port is already allocated"),
        "{}",
        out.stderr
    );
    assert_ne!(env.inspect_format("web2", "{{.State.Status}}"), "running");
    assert!(!std::path::Path::new(&env.daemon().exec_root())
        .join("netns")
        .join(env.inspect_format("web2", "{{.Id}}"))
        .exists());

    // -P: EXPOSE 80 goes to a free host port.
    env.daemon()
        .ferry_ok(&["run", "-d", "-P", "--name", "web3", &web]);
    let mapped = env.ok_trim(&["port", "web3", "80/tcp"]);
    let host_port = mapped.rsplit(':').next().unwrap();
    assert!(http_get(&format!("127.0.0.1:{host_port}")).contains("ferry"));
    env.daemon().ferry_ok(&["rm", "-f", "web", "web2", "web3"]);
    let iptables = std::process::Command::new("iptables-save")
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&iptables.stdout);
    assert!(
        !rules.contains(&format!("dport {port} ")),
        "DNAT rule left:\n{rules}"
    );
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let env = env();
    let web = env.reference(WEB);
    let busybox = env.busybox();
    let net = format!("net{:x}", rand_u32());
    let id = env.ok_trim(&["network", "create", &net]);
    assert_eq!(id.len(), 64, "{id}");
    let ls = env.ok_trim(&["network", "ls"]);
    for n in ["bridge", "host", "none", net.as_str()] {
        assert!(
            ls.lines().any(|l| l.split_whitespace().nth(1) == Some(n)),
            "{n}: {ls}"
        );
    }
    env.daemon()
        .ferry_ok(&["run", "-d", "--network", &net, "--name", "alpha", &web]);
    let out = env.ok_trim(&[
        "run",
        "--rm",
        "--network",
        &net,
        &busybox,
        "wget",
        "-qO-",
        "http://alpha/",
    ]);
    assert!(out.contains("<h1>ferry</h1>"), "{out}");
    let inspect = env.ok_trim(&["network", "inspect", &net]);
    assert!(inspect.contains("\"Name\": \"alpha\""), "{inspect}");

    // connect: a container on the default bridge gets eth1 on the user network, and names.
    env.daemon()
        .ferry_ok(&["run", "-d", "--name", "gamma", &busybox, "sleep", "60"]);
    env.daemon()
        .ferry_ok(&["network", "connect", &net, "gamma"]);
    let dev = env.ok_trim(&["exec", "gamma", "cat", "/proc/net/dev"]);
    assert!(dev.contains("eth1:"), "{dev}");
    let out = env.ok_trim(&["exec", "gamma", "wget", "-qO-", "http://alpha/"]);
    assert!(out.contains("<h1>ferry</h1>"), "{out}");
    env.daemon()
        .ferry_ok(&["network", "disconnect", &net, "gamma"]);
    let dev = env.ok_trim(&["exec", "gamma", "cat", "/proc/net/dev"]);
    assert!(!dev.contains("eth1:"), "{dev}");
    let hosts = env.ok_trim(&["exec", "alpha", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("gamma"), "{hosts}");
    env.daemon().ferry_ok(&["rm", "-f", "gamma"]);

    let busy = env.daemon().ferry(&["network", "rm", &net]);
    assert_eq!(busy.code, Some(1));
    assert!(busy.stderr.contains("active endpoints"), "{}", busy.stderr);
    env.daemon().ferry_ok(&["rm", "-f", "alpha"]);
    assert_eq!(env.ok_trim(&["network", "rm", &net]), net);
    let gone = env.daemon().ferry(&["network", "inspect", &net]);
    assert!(gone.stderr.contains("not found"), "{}", gone.stderr);
}

#[test]
fn network_none_has_only_loopback_and_the_bridge_has_eth0() {
    let env = env();
    let busybox = env.busybox();
    let none = env.ok_trim(&[
        "run",
        "--rm",
        "--network",
        "none",
        &busybox,
        "cat",
        "/proc/net/dev",
    ]);
    let ifaces: Vec<&str> = none
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{none}");
    let bridged = env.ok_trim(&["run", "--rm", &busybox, "cat", "/proc/net/dev"]);
    assert!(bridged.contains("eth0:"), "{bridged}");
    let link = std::process::Command::new("ip")
        .args(["-o", "link", "show", env.bridge()])
        .output()
        .unwrap();
    assert!(
        link.status.success(),
        "the default bridge {} exists",
        env.bridge()
    );
}

/// Rules, namespaces, addresses and veths of this daemon's network, from the host's view.
fn footprint(env: &Env, net: &str, bridge: &str) -> (usize, usize, usize, usize) {
    let rules = std::process::Command::new("iptables-save")
        .output()
        .expect("iptables-save");
    let rules = String::from_utf8_lossy(&rules.stdout)
        .lines()
        .filter(|l| {
            l.contains(&format!("name: \\\"{net}\\\"")) || l.contains(&format!("name: \"{net}\""))
        })
        .count();
    let count = |p: std::path::PathBuf| std::fs::read_dir(p).map_or(0, |d| d.count());
    let netns = count(env.daemon().exec_root().join("netns"));
    let leases = count(env.daemon().data_root().join("networks/ipam").join(net));
    let veths = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .expect("ip link");
    let veths = String::from_utf8_lossy(&veths.stdout).lines().count();
    (rules, netns, leases, veths)
}

#[test]
fn a_hundred_run_rm_cycles_leave_the_host_as_it_was() {
    let env = env();
    let busybox = env.busybox();
    let net = format!("cyc{:x}", rand_u32());
    env.ok_trim(&["network", "create", &net]);
    let inspect = env.ok_trim(&["network", "inspect", &net]);
    let bridge = inspect
        .split("\"com.docker.network.bridge.name\": \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let cycle = || {
        let p = format!("{}:80", free_port());
        env.daemon()
            .ferry_ok(&["run", "--rm", "--network", &net, "-p", &p, &busybox, "true"]);
    };
    cycle();
    let before = footprint(&env, &net, &bridge);
    assert_eq!(before.1, 0, "no namespace left after the first cycle");
    for _ in 0..100 {
        cycle();
    }
    assert_eq!(footprint(&env, &net, &bridge), before);
    // A running container's footprint is really counted (the check can fail).
    env.daemon().ferry_ok(&[
        "run",
        "-d",
        "--network",
        &net,
        "--name",
        "up",
        &busybox,
        "sleep",
        "60",
    ]);
    let during = footprint(&env, &net, &bridge);
    assert!(
        during.0 > before.0,
        "rules counted: {during:?} vs {before:?}"
    );
    assert_eq!((during.1, during.3), (1, before.3 + 1), "{during:?}");
    assert!(
        during.2 > before.2,
        "lease counted: {during:?} vs {before:?}"
    );
    env.daemon().ferry_ok(&["rm", "-f", "up"]);
    assert_eq!(footprint(&env, &net, &bridge), before);
}

/// kill -9 of ferryd while a container runs and then exits: the next ferryd tears its
/// namespace and rules down.
#[test]
fn restart_after_a_crash_sweeps_what_exited_containers_left() {
    let mut env = env();
    env.daemon()
        .ferry_ok(&["run", "-d", "--name", "short", &env.busybox(), "sleep", "2"]);
    let id = env.inspect_format("short", "{{.Id}}");
    let ns = env.daemon().exec_root().join("netns").join(&id);
    assert!(ns.exists());
    env.daemon_mut().kill9();
    std::thread::sleep(Duration::from_secs(3));
    env.daemon_mut().restart();
    assert!(
        wait_until(Duration::from_secs(10), || !ns.exists()),
        "namespace left"
    );
    assert_eq!(env.inspect_format("short", "{{.State.Status}}"), "exited");
    assert_eq!(
        env.inspect_format("short", "{{.NetworkSettings.IPAddress}}"),
        ""
    );
}

/// A bridge interface that already exists (an earlier daemon's, as docker0 outlives dockerd)
/// keeps its address: the default network adopts its subnet instead of failing.
#[test]
fn an_existing_default_bridge_is_adopted_with_its_address() {
    let bridge = format!("fya{:08x}", rand_u32());
    let ip = |args: &[&str]| {
        let ok = std::process::Command::new("ip")
            .args(args)
            .status()
            .expect("ip");
        assert!(ok.success(), "ip {args:?}");
    };
    ip(&["link", "add", &bridge, "type", "bridge"]);
    // 10.91.x.0/24: outside Ferry's pools, so only adoption can put a container there.
    let third = rand_u32() % 250;
    ip(&[
        "addr",
        "add",
        &format!("10.91.{third}.1/24"),
        "dev",
        &bridge,
    ]);
    let env = Env::builder().with_busybox().bridge(&bridge).build();
    let (daemon, image) = (env.daemon(), env.busybox());
    daemon.ferry_ok(&["run", "-d", "--name", "in", &image, "sleep", "60"]);
    let addr = daemon
        .ferry_ok(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.IPAddress}}",
            "in",
        ])
        .stdout;
    assert!(addr.starts_with(&format!("10.91.{third}.")), "{addr}");
    daemon.ferry_ok(&["rm", "-f", "in"]);
    let inspect = daemon.ferry_ok(&["network", "inspect", "bridge"]).stdout;
    assert!(
        inspect.contains(&format!("\"Gateway\": \"10.91.{third}.1\"")),
        "{inspect}"
    );

    // Re-addressed behind ferryd's back: the stored network follows the interface.
    ip(&["addr", "flush", "dev", &bridge]);
    ip(&[
        "addr",
        "add",
        &format!("10.92.{third}.1/24"),
        "dev",
        &bridge,
    ]);
    daemon.ferry_ok(&["run", "-d", "--name", "again", &image, "sleep", "60"]);
    let addr = daemon
        .ferry_ok(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.IPAddress}}",
            "again",
        ])
        .stdout;
    assert!(addr.starts_with(&format!("10.92.{third}.")), "{addr}");
    daemon.ferry_ok(&["rm", "-f", "again"]);
}
