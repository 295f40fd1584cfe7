#!/usr/bin/env bash
# bench/run: container start latency and per-container cost, for ferry and — in the same run —
# containerd (`ctr run`, a private daemon, runc and crun) and podman (crun and runc) where
# installed, beside the floor of the bare OCI runtimes (`crun run` / create+start+delete of a
# prepared bundle):
#   - median latency of `run --rm busybox true` (`--network none`), and on a bridge network
#     with a published port (ferry-bridge, podman-bridge): the extra start cost of networking
#   - 50 detached `sleep` containers started one after another (each, and the sum)
#   - RSS/PSS/USS of each engine's per-container process (ferry-shim, containerd-shim-runc-v2,
#     conmon) with the 50 running, and of the daemon (ferryd, containerd) idle and with 50
#
#   bash bench/run.sh [--quick] [--peers] [--out DIR]      (N_RUN, N_MANY as in the harness)
#
# Pull figures come from bench/pull.sh. The harness is ../shared/bench (FERRY_SHARED_BENCH).
source "$(dirname "$0")/lib.sh"
export FERRY_BENCH_MODE=run
bash "$WORK/peers.sh" --only runtime,containerd,containerd-crun,podman,podman-runc,podman-bridge,ferry,ferry-runc,ferry-bridge "${ARGS[@]}"
