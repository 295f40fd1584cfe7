//! Stalls and flaky registries: `--registry-timeout` (stall timeout) and
//! `--max-download-attempts` bound how long a pull waits and how often it retries;
//! transient failures (dropped connections, 5xx) are retried, persistent ones end
//! the pull with a clear error and nothing committed.

use std::time::{Duration, Instant};

use ferry_integration_tests::checks::{assert_image_listed, assert_store_empty};
use ferry_integration_tests::fixtures;
use ferry_integration_tests::{CmdOutput, Env};

/// busybox's repository and tag in the registry.
const TAG: &str = "library/busybox:1";

/// busybox pushed as [`TAG`], pulled through the proxy by a ferryd with
/// `--registry-timeout timeout --max-download-attempts attempts`.
fn env(timeout_secs: u32, attempts: u32) -> Env {
    Env::builder()
        .proxy()
        .push(fixtures::busybox(), TAG)
        .daemon_arg("--registry-timeout")
        .daemon_arg(&timeout_secs.to_string())
        .daemon_arg("--max-download-attempts")
        .daemon_arg(&attempts.to_string())
        .build()
}

/// What these tests do with their [`Env`].
trait Pulls {
    fn layer(&self) -> String;
    fn try_pull(&self) -> CmdOutput;
    fn pull_ok(&self);
    fn pull_unreachable(&self) -> String;
    fn manifest_gets(&self) -> usize;
}

impl Pulls for Env {
    fn layer(&self) -> String {
        self.image(TAG).layer_digests()[0].clone()
    }

    fn try_pull(&self) -> CmdOutput {
        self.ferry(&["pull", &self.reference(TAG)])
    }

    fn pull_ok(&self) {
        self.ok(&["pull", &self.reference(TAG)]);
        assert_image_listed(self.daemon(), self.image(TAG).id());
    }

    /// The pull fails with `Error response from daemon: cannot reach registry <proxy>…`.
    fn pull_unreachable(&self) -> String {
        let out = self.try_pull();
        assert_eq!(out.code, Some(1), "pull should fail: {out:?}");
        let want = format!(
            "Error response from daemon: cannot reach registry {}",
            self.proxy().addr()
        );
        assert!(
            out.stderr.starts_with(&want),
            "want {want:?}, got {:?}\nferryd log:\n{}",
            out.stderr,
            self.daemon().log()
        );
        out.stderr
    }

    fn manifest_gets(&self) -> usize {
        self.proxy()
            .count_matching("GET", |p| p.ends_with("/manifests/1"))
    }
}

#[test]
fn a_stalled_blob_times_out_within_bounds_and_commits_nothing() {
    let env = env(1, 2);
    env.proxy().stall(&env.layer());
    let started = Instant::now();
    env.pull_unreachable();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "stalled pull took {took:?}");
    assert_eq!(env.proxy().count_blob_gets(&env.layer()), 2, "two attempts");
    assert_store_empty(env.daemon());
}

#[test]
fn a_stalled_blob_error_says_it_timed_out() {
    let env = env(1, 1);
    env.proxy().stall(&env.layer());
    let err = env.pull_unreachable();
    assert!(
        err.contains("timed out") || err.contains("no data for 1s"),
        "the message should name the stall: {err}"
    );
}

#[test]
fn connections_cut_mid_blob_are_resumed() {
    let env = env(5, 5);
    env.proxy().drop_after(&env.layer(), 150_000, 2);
    env.pull_ok();
    assert_eq!(
        env.proxy().count_blob_gets(&env.layer()),
        3,
        "two cuts, then done"
    );
    let ranged = env
        .proxy()
        .requests()
        .iter()
        .filter(|r| r.contains(&env.layer()))
        .count();
    assert_eq!(ranged, 3);
}

#[test]
fn connections_cut_before_any_byte_count_as_attempts() {
    let env = env(5, 2);
    env.proxy().drop_after(&env.layer(), 0, 2);
    env.pull_unreachable();
    assert_eq!(env.proxy().count_blob_gets(&env.layer()), 2);
    assert_store_empty(env.daemon());

    env.proxy().clear_requests();
    env.proxy().drop_after(&env.layer(), 0, 1);
    env.pull_ok();
    assert_eq!(
        env.proxy().count_blob_gets(&env.layer()),
        2,
        "one cut, one retry"
    );
}

#[test]
fn a_transient_503_on_the_manifest_is_retried() {
    let env = env(5, 3);
    env.proxy().fail_status("/manifests/1", 503, 2);
    env.pull_ok();
    assert_eq!(env.proxy().pending_status_faults("/manifests/1"), 0);
    assert_eq!(env.manifest_gets(), 3, "two 503s, then the manifest");
}

#[test]
fn a_persistent_503_on_the_manifest_is_unavailable_after_the_attempts() {
    let env = env(5, 3);
    env.proxy().fail_status("/manifests/1", 503, u32::MAX);
    let started = Instant::now();
    let err = env.pull_unreachable();
    assert!(err.contains("503"), "the message names the status: {err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(env.manifest_gets(), 3, "one request per attempt");
    assert_store_empty(env.daemon());
}

#[test]
fn a_transient_5xx_on_a_blob_is_retried() {
    let env = env(5, 3);
    let suffix = format!("/blobs/{}", env.layer());
    env.proxy().fail_status(&suffix, 502, 2);
    env.pull_ok();
    assert_eq!(env.proxy().count_blob_gets(&env.layer()), 3);
}

#[test]
fn a_persistent_5xx_on_a_blob_is_unavailable_and_commits_nothing() {
    let env = env(5, 2);
    let suffix = format!("/blobs/{}", env.layer());
    env.proxy().fail_status(&suffix, 500, u32::MAX);
    let err = env.pull_unreachable();
    assert!(err.contains("500"), "the message names the status: {err}");
    assert_eq!(env.proxy().count_blob_gets(&env.layer()), 2);
    assert_store_empty(env.daemon());
}

/// [`env`] with a rate floor of 10 kB/s over 1 s (instead of 1 KiB/s over 30 s).
fn rate_floor_env(attempts: u32) -> Env {
    Env::builder()
        .proxy()
        .push(fixtures::busybox(), TAG)
        .daemon_arg("--registry-timeout")
        .daemon_arg("5")
        .daemon_arg("--max-download-attempts")
        .daemon_arg(&attempts.to_string())
        .daemon_arg("--min-download-rate")
        .daemon_arg("10000")
        .daemon_arg("--download-rate-window")
        .daemon_arg("1")
        .build()
}

/// A byte every 200 ms never trips the 5 s stall timeout; the rate floor drops the
/// connection after its 1 s window and the download resumes where it was.
#[test]
fn a_dripping_blob_is_dropped_by_the_rate_floor_and_resumed() {
    let env = rate_floor_env(3);
    env.proxy()
        .drip(&env.layer(), Duration::from_millis(200), 1);
    let started = Instant::now();
    env.pull_ok();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "dripping pull took {took:?}"
    );
    assert_eq!(
        env.proxy().count_blob_gets(&env.layer()),
        2,
        "a drip, then a resume"
    );
}

/// A registry that always drips: each connection's few bytes do not count as progress, so
/// the attempts run out and the pull fails in bounded time, naming the flags.
#[test]
fn a_registry_that_always_drips_fails_in_bounded_time_naming_the_flags() {
    let env = rate_floor_env(2);
    env.proxy()
        .drip(&env.layer(), Duration::from_millis(200), u32::MAX);
    let started = Instant::now();
    let err = env.pull_unreachable();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "dripping pull took {took:?}"
    );
    assert!(
        err.contains("transfer too slow")
            && err.contains("under 10000 bytes/s over 1s")
            && err.contains("--min-download-rate"),
        "{err}"
    );
    assert_eq!(env.proxy().count_blob_gets(&env.layer()), 2, "two attempts");
    assert_store_empty(env.daemon());
}
