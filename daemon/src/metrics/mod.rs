//! ferryd's Prometheus metrics, served in the OpenMetrics text format by `--metrics-addr`.
//!
//! | metric | kind | updated |
//! |---|---|---|
//! | `ferryd_pulls_total{outcome}` | counter | when a pull returns: `pulled`, `up_to_date`, `failed`, `cancelled` |
//! | `ferryd_pull_bytes_total` | counter | as registry bytes arrive (layers; manifests and configs are small) |
//! | `ferryd_pull_layer_duration_seconds` | histogram | per fetched layer: download, verify and extract |
//! | `ferryd_containers{state}` | gauge | on scrape, from the container table |
//! | `ferryd_shims` | gauge | on scrape: shims ferryd holds a connection to |
//! | `ferryd_grpc_request_duration_seconds{method}` | histogram | per RPC, to its response headers (for streams: to the stream's start) |
//!
//! One registry per ferryd, passed as a handle ([`Metrics`]); the pull's figures are the image
//! service's ([`PullMetrics`]), registered here. `rpc` times requests, `http` serves the text.

mod http;
mod rpc;

use std::sync::{Arc, Mutex};

use ferry_image_service::pull::metrics::PullMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use rpc::{RpcLatency, RpcLatencyLayer};

use crate::containers::{Containers, State};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// ferryd's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pull: Arc<PullMetrics>,
    containers: Family<StateLabel, Gauge>,
    shims: Gauge,
    rpc_seconds: HistogramFamily<Method>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("ferryd")),
            pull: Arc::default(),
            containers: Family::default(),
            shims: Gauge::default(),
            rpc_seconds: Family::new_with_constructor(rpc_histogram),
        };
        {
            let mut r = m.registry.lock().expect("registry lock is never poisoned");
            m.pull.register(&mut r);
            r.register("containers", "Containers, by state", m.containers.clone());
            r.register("shims", "Shims ferryd is connected to", m.shims.clone());
            r.register(
                "grpc_request_duration_seconds",
                "gRPC requests to ferryd, to the response headers",
                m.rpc_seconds.clone(),
            );
        }
        m
    }
}

fn rpc_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// The pull's figures, for the image service's puller to record into.
    pub fn pull(&self) -> Arc<PullMetrics> {
        Arc::clone(&self.pull)
    }

    /// The text exposition, with the container figures read now.
    pub fn render(&self, containers: &Containers) -> String {
        self.refresh(containers);
        let mut out = String::new();
        let r = self
            .registry
            .lock()
            .expect("registry lock is never poisoned");
        if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }

    fn refresh(&self, containers: &Containers) {
        const STATES: [State; 6] = [
            State::Created,
            State::Running,
            State::Paused,
            State::Restarting,
            State::Exited,
            State::Dead,
        ];
        let Ok(list) = containers.list() else {
            return;
        };
        for s in STATES {
            let n = list.iter().filter(|c| c.state == s).count();
            self.containers
                .get_or_create(&StateLabel { state: s.as_str() })
                .set(n as i64);
        }
        self.shims.set(containers.shim_count() as i64);
    }

    /// A tower layer timing every RPC.
    pub fn rpc_layer(self: &Arc<Self>) -> RpcLatencyLayer {
        RpcLatencyLayer(Arc::clone(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_figures_share_ferryds_registry() {
        let m = Metrics::default();
        let mut out = String::new();
        let r = m.registry.lock().unwrap();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        // Families without a label set yet print nothing; these print from the start.
        for name in [
            "ferryd_pull_bytes_total 0",
            "ferryd_pull_layer_duration_seconds_count 0",
            "ferryd_shims 0",
        ] {
            assert!(out.contains(name), "{name} missing from\n{out}");
        }
    }
}
