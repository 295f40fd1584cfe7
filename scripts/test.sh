#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, build once, run every test (unit and end to end,
# against a real docker-registry, ferryd, crun and runc) in parallel, then check that they left
# nothing on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
export FERRY_BIN_DIR="$PWD/target/debug"
status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast --test-threads 4 || status=$?
else
    cargo test --workspace --locked --no-fail-fast -- --test-threads 4 || status=$?
fi
# Tests that need a host trait are ignored elsewhere with their reason; run them where it holds.
if grep -qs . /sys/fs/cgroup/unified/cgroup.controllers && cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --run-ignored ignored-only \
        -E 'test(crun_falls_back_to_runc_without_the_mask)' || status=$?
fi
# Tests leave nothing behind, passing or failing: a leftover fails the suite.
bash scripts/leftovers.sh || status=1
exit "$status"
