#!/usr/bin/env bash
# bench/run: container start latency and per-container cost, for ferry and — in the same run —
# containerd (`ctr run`, a private daemon, runc and crun) and podman (crun and runc) where
# installed, beside the floor of the bare OCI runtimes (`crun run` / create+start+delete of a
# prepared bundle):
#   - median latency of `run --rm busybox true`
#   - 50 detached `sleep` containers started one after another (each, and the sum)
#   - RSS/PSS/USS of each engine's per-container process (ferry-shim, containerd-shim-runc-v2,
#     conmon) with the 50 running, and of the daemon (ferryd, containerd) idle and with 50
#
#   bash bench/run.sh [--quick] [--peers] [--out DIR]      (N_RUN, N_MANY as in the harness)
#
# Pull figures come from bench/pull.sh. The harness is ../shared/bench (FERRY_SHARED_BENCH).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${FERRY_SHARED_BENCH:-$ROOT/../shared/bench}
[ -f "$SHARED/peers.sh" ] || { echo "bench: no harness at $SHARED (set FERRY_SHARED_BENCH)" >&2; exit 2; }
args=() peers=0
for a in "$@"; do [ "$a" = --peers ] && peers=1 || args+=("$a"); done

bash scripts/setup.sh
if [ $peers = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q containerd podman >/dev/null
fi
cargo build --release --workspace --bins --locked

work=$(mktemp -d /var/tmp/ferry-bench-harness.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$SHARED"/. "$work"/
mkdir -p "$work/engines.d"
sed "s|@BIN@|$ROOT/target/release|g" "$ROOT/bench/engines/ferry.sh" >"$work/engines.d/ferry.sh"
# The second engine name must exist as a file for the harness to list it.
echo "# defined in ferry.sh" >"$work/engines.d/ferry-runc.sh"
export FERRY_BENCH_MODE=run
bash "$work/peers.sh" --only runtime,containerd,containerd-crun,podman,podman-runc,ferry,ferry-runc "${args[@]}"
