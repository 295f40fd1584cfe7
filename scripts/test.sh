#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, build once, run every test (unit and end to end,
# against a real docker-registry, ferryd, crun and runc) in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
export FERRY_BIN_DIR="$PWD/target/debug"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast --test-threads 4
else
    cargo test --workspace --locked --no-fail-fast -- --test-threads 4
fi
