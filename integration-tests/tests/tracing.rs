//! Observability end to end: a real OTLP receiver in the test process, the real CLI, ferryd and
//! ferry-shims exporting to it; ferryd's Prometheus endpoint scraped over HTTP.

use std::collections::HashSet;
use std::time::Duration;

use ferry_integration_tests::http::Request;
use ferry_integration_tests::{fixtures, free_port, wait_until, Env, RecvSpan, BUSYBOX};

const EXPORT_WAIT: Duration = Duration::from_secs(20);
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const ERROR: i32 = 2;

/// busybox pushed (not pulled), and a ferryd exporting to a collector over `protocol`.
fn env(protocol: &str) -> Env {
    Env::builder()
        .otlp(protocol)
        .push(fixtures::busybox(), BUSYBOX)
        .daemon_env("RUST_LOG", "info,ferry_telemetry=debug")
        .build()
}

trait Traces {
    fn wait_trace(&self, id: &str, want: &[(&str, &str)]) -> Vec<RecvSpan>;
}

impl Traces for Env {
    /// Waits until the trace has each `(service, span name)` of `want`.
    fn wait_trace(&self, id: &str, want: &[(&str, &str)]) -> Vec<RecvSpan> {
        let ok = self.sink().wait_for(EXPORT_WAIT, |all| {
            want.iter().all(|(svc, n)| {
                all.iter()
                    .any(|s| s.trace_id == id && s.service == *svc && s.name == *n)
            })
        });
        let trace = self.sink().trace(id);
        assert!(
            ok,
            "trace {id} lacks one of {want:?}; got:\n{}\nferryd log:\n{}",
            describe(&trace),
            self.daemon().log()
        );
        trace
    }
}

fn describe(trace: &[RecvSpan]) -> String {
    trace
        .iter()
        .map(|s| {
            format!(
                "  {:<10} {:<45} id={} parent={} kind={} status={}\n",
                s.service, s.name, s.span_id, s.parent_span_id, s.kind, s.status
            )
        })
        .collect()
}

fn one<'a>(trace: &'a [RecvSpan], service: &str, name: &str) -> &'a RecvSpan {
    trace
        .iter()
        .find(|s| s.service == service && s.name == name)
        .unwrap_or_else(|| panic!("no {service} span {name} in\n{}", describe(trace)))
}

fn ids_of<'a>(trace: &'a [RecvSpan], service: &str) -> HashSet<&'a str> {
    trace
        .iter()
        .filter(|s| s.service == service)
        .map(|s| s.span_id.as_str())
        .collect()
}

#[test]
fn one_trace_per_command_across_ferry_ferryd_and_the_shim() {
    let env = env("grpc");

    // Pull: the CLI's call, ferryd's server span, every phase of the pipeline.
    let (out, pull_id) = env.traced(&["pull", "-q", &env.busybox()]);
    assert!(out.success(), "{out:?}\n{}", env.daemon().log());
    let phases = [
        "pull",
        "resolve",
        "config",
        "layer",
        "download",
        "extract",
        "commit_snapshot",
        "commit",
    ];
    let pull_method = "ferry.images.v1.Images/Pull";
    let mut want: Vec<(&str, &str)> = phases.iter().map(|p| ("ferryd", *p)).collect();
    want.extend([("ferryd", pull_method), ("ferry", pull_method)]);
    let trace = env.wait_trace(&pull_id, &want);
    let server = trace
        .iter()
        .find(|s| s.service == "ferryd" && s.name == pull_method)
        .expect("server span");
    let client = trace
        .iter()
        .find(|s| s.service == "ferry" && s.name == pull_method)
        .expect("client span");
    assert_eq!((server.kind, client.kind), (SERVER, CLIENT));
    assert_eq!(
        server.parent_span_id,
        client.span_id,
        "{}",
        describe(&trace)
    );
    let pull = one(&trace, "ferryd", "pull");
    assert_eq!(pull.attr("reference"), Some(env.busybox().as_str()));
    assert!(pull
        .attr("digest")
        .is_some_and(|d| d.starts_with("sha256:")));
    let layer = one(&trace, "ferryd", "layer");
    assert!(layer.attr("size").is_some_and(|s| s != "0"));
    let ferryd_ids = ids_of(&trace, "ferryd");
    for p in phases {
        let s = one(&trace, "ferryd", p);
        assert!(
            ferryd_ids.contains(s.parent_span_id.as_str()),
            "{p} is not under ferryd's request span:\n{}",
            describe(&trace)
        );
    }
    assert!(
        env.daemon().log().contains(&format!("trace_id={pull_id}")),
        "ferryd's log lines carry the trace ID:\n{}",
        env.daemon().log()
    );

    // Run: CLI → ferryd (create, start) → shim (launch, its RPCs, the OCI runtime).
    let (out, run_id) = env.traced(&["run", "--rm", &env.busybox(), "true"]);
    assert!(out.success(), "{out:?}\n{}", env.daemon().log());
    let create = "ferry.containers.v1.Containers/Create";
    let shim_create = "ferry.shim.v1.Shim/Create";
    let trace = env.wait_trace(
        &run_id,
        &[
            ("ferry", "ferry run"),
            ("ferryd", create),
            ("ferryd", "shim_launch"),
            ("ferryd", shim_create),
            ("ferryd", "start"),
            ("ferry-shim", "shim_start"),
            ("ferry-shim", shim_create),
            ("ferry-shim", "crun create"),
            ("ferry-shim", "crun start"),
        ],
    );
    let ferry_ids = ids_of(&trace, "ferry");
    let ferryd_ids = ids_of(&trace, "ferryd");
    let root = one(&trace, "ferry", "ferry run");
    assert!(root.parent_span_id.is_empty(), "the CLI's span is the root");
    let server = one(&trace, "ferryd", create);
    assert!(
        ferry_ids.contains(server.parent_span_id.as_str()),
        "ferryd's Create is a child of the CLI's span:\n{}",
        describe(&trace)
    );
    for name in ["shim_start", shim_create] {
        let s = one(&trace, "ferry-shim", name);
        assert!(
            ferryd_ids.contains(s.parent_span_id.as_str()),
            "the shim's {name} is a child of a ferryd span:\n{}",
            describe(&trace)
        );
        assert!(s.resource.iter().any(|(k, _)| k == "container.id"));
    }
    let launch = one(&trace, "ferryd", "shim_launch");
    assert_eq!(
        one(&trace, "ferry-shim", "shim_start").parent_span_id,
        launch.span_id,
        "TRACEPARENT carries the launch's context"
    );
    let crun = one(&trace, "ferry-shim", "crun create");
    assert_eq!(crun.attr("exit_code"), Some("0"));
    assert_eq!(crun.attr("runtime"), Some("crun"));
    let shim_ids = ids_of(&trace, "ferry-shim");
    assert!(shim_ids.contains(crun.parent_span_id.as_str()));
}

#[test]
fn a_failed_command_records_error_status_and_http_protobuf_works() {
    let env = env("http/protobuf");
    let (out, id) = env.traced(&["pull", "-q", "127.0.0.1:1/nothing/here:latest"]);
    assert!(!out.success(), "{out:?}");
    let trace = env.wait_trace(&id, &[("ferryd", "pull"), ("ferry", "ferry pull")]);
    assert_eq!(one(&trace, "ferry", "ferry pull").status, ERROR);
    assert_eq!(one(&trace, "ferryd", "pull").status, ERROR);
}

#[test]
fn without_an_endpoint_debug_still_names_the_trace_in_ferryd_logs() {
    let env = Env::builder()
        .no_registry()
        .daemon_env("RUST_LOG", "info,ferry_telemetry=debug")
        .build();
    let daemon = env.daemon();
    let out = daemon.ferry_with_env(&["ps"], &[]);
    assert!(out.success() && !out.stderr.contains("trace ID"), "{out:?}");
    let out = daemon.ferry_with_env(&["--debug", "ps"], &[]);
    assert!(out.success(), "{out:?}");
    let id = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("trace ID: "))
        .unwrap_or_else(|| panic!("no trace ID printed: {out:?}"));
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        daemon.log().contains(&format!("trace_id={id}")),
        "{}",
        daemon.log()
    );
}

fn scrape(addr: &str) -> String {
    let res = Request::get("/metrics")
        .send(addr)
        .unwrap_or_else(|e| panic!("GET http://{addr}/metrics: {e}"));
    assert_eq!(res.status, 200);
    assert!(res
        .header("content-type")
        .is_some_and(|t| t.contains("openmetrics-text")));
    res.text()
}

/// The value of the sample `series` (name and labels exactly as printed), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn metrics_move_with_the_work_done() {
    let addr = format!("127.0.0.1:{}", free_port());
    let env = Env::builder()
        .push(fixtures::busybox(), BUSYBOX)
        .daemon_arg("--metrics-addr")
        .daemon_arg(&addr)
        .build();
    let (daemon, image) = (env.daemon(), env.busybox());

    let before = scrape(&addr);
    assert_eq!(
        sample(&before, "ferryd_pulls_total{outcome=\"pulled\"}"),
        0.0
    );
    assert_eq!(sample(&before, "ferryd_containers{state=\"running\"}"), 0.0);

    daemon.ferry_ok(&["pull", "-q", &image]);
    daemon.ferry_ok(&["pull", "-q", &image]);
    let after = scrape(&addr);
    assert_eq!(
        sample(&after, "ferryd_pulls_total{outcome=\"pulled\"}"),
        1.0
    );
    assert_eq!(
        sample(&after, "ferryd_pulls_total{outcome=\"up_to_date\"}"),
        1.0
    );
    assert!(
        sample(&after, "ferryd_pull_bytes_total") > 1000.0,
        "{after}"
    );
    assert!(sample(&after, "ferryd_pull_layer_duration_seconds_count") >= 1.0);
    let pulls =
        "ferryd_grpc_request_duration_seconds_count{method=\"/ferry.images.v1.Images/Pull\"}";
    assert_eq!(sample(&after, pulls), 2.0, "{after}");

    daemon.ferry_ok(&["create", "--name", "c1", &image, "true"]);
    daemon.ferry_ok(&["run", "-d", "--name", "r1", &image, "sleep", "60"]);
    let busy = scrape(&addr);
    assert_eq!(sample(&busy, "ferryd_containers{state=\"created\"}"), 1.0);
    assert_eq!(sample(&busy, "ferryd_containers{state=\"running\"}"), 1.0);
    assert_eq!(sample(&busy, "ferryd_shims"), 1.0, "{busy}");

    daemon.ferry_ok(&["rm", "-f", "r1", "c1"]);
    let gone = wait_until(Duration::from_secs(10), || {
        let t = scrape(&addr);
        sample(&t, "ferryd_containers{state=\"running\"}") == 0.0
            && sample(&t, "ferryd_shims") == 0.0
    });
    assert!(gone, "{}", scrape(&addr));
}
