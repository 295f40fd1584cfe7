//! The pull's Prometheus figures. ferryd registers them in its registry beside its own.
//!
//! | metric | kind | updated |
//! |---|---|---|
//! | `ferryd_pulls_total{outcome}` | counter | when a pull returns: `pulled`, `up_to_date`, `failed`, `cancelled` |
//! | `ferryd_pull_bytes_total` | counter | as registry bytes arrive (layers; manifests and configs are small) |
//! | `ferryd_pull_layer_duration_seconds` | histogram | per fetched layer: download, verify and extract |

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::PullOutcome;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug)]
pub struct PullMetrics {
    pulls: Family<Outcome, Counter>,
    pull_bytes: Counter,
    layer_seconds: Histogram,
}

impl Default for PullMetrics {
    fn default() -> Self {
        PullMetrics {
            pulls: Family::default(),
            pull_bytes: Counter::default(),
            // 10 ms .. ~5 min
            layer_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 15)),
        }
    }
}

impl PullMetrics {
    /// Adds the pull's figures to `registry`.
    pub fn register(&self, r: &mut Registry) {
        r.register("pulls", "Image pulls, by outcome", self.pulls.clone());
        r.register(
            "pull_bytes",
            "Bytes fetched from registries",
            self.pull_bytes.clone(),
        );
        r.register(
            "pull_layer_duration_seconds",
            "Time to download, verify and extract one layer",
            self.layer_seconds.clone(),
        );
    }

    /// A pull returned.
    pub(crate) fn pulled(&self, res: &Result<PullOutcome>) {
        let outcome = match res {
            Ok(o) if o.up_to_date => "up_to_date",
            Ok(_) => "pulled",
            Err(Error::Cancelled) => "cancelled",
            Err(_) => "failed",
        };
        self.pulls.get_or_create(&Outcome { outcome }).inc();
    }

    /// Bytes arrived from a registry.
    pub(crate) fn fetched(&self, n: usize) {
        self.pull_bytes.inc_by(n as u64);
    }

    /// A layer was downloaded and extracted in `since.elapsed()`.
    pub(crate) fn layer_done(&self, since: Instant) {
        self.layer_seconds.observe(since.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_registry(m: &PullMetrics) -> String {
        let mut r = Registry::with_prefix("ferryd");
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn pulls_bytes_and_layers_show_in_the_text() {
        let m = PullMetrics::default();
        let ok = PullOutcome {
            reference: "r".into(),
            digest: "d".into(),
            image_id: "i".into(),
            up_to_date: false,
        };
        m.pulled(&Ok(ok.clone()));
        m.pulled(&Ok(PullOutcome {
            up_to_date: true,
            ..ok
        }));
        m.pulled(&Err(Error::Cancelled));
        m.fetched(1000);
        m.fetched(24);
        m.layer_done(Instant::now());
        let text = render_registry(&m);
        for line in [
            "ferryd_pulls_total{outcome=\"pulled\"} 1",
            "ferryd_pulls_total{outcome=\"up_to_date\"} 1",
            "ferryd_pulls_total{outcome=\"cancelled\"} 1",
            "ferryd_pull_bytes_total 1024",
            "ferryd_pull_layer_duration_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
