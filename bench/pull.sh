#!/usr/bin/env bash
# bench/pull: cold and warm pull-and-unpack of the shared benchmark images (a ~200 MiB 8-layer
# gzip image, its zstd twin, a 50,000-file image) from a loopback registry, for ferry and — in
# the same run — containerd (`ctr images pull`, a private daemon) and podman where installed,
# plus the physical floors (sha256, gunzip, zstd -d, tar -x) of this machine; and ferryd's
# peak RSS over the pulls.
#
#   bash bench/pull.sh [--quick] [--peers] [--out DIR]
#
# --peers installs containerd and podman (Debian) first if they are missing.
# The harness is ../shared/bench (override with FERRY_SHARED_BENCH): it builds the images in
# code, runs every engine on a fresh loop-mounted ext4 and prints rows
# `tool metric n min median max unit`; compare ferry's medians with the peers' of the same run.
source "$(dirname "$0")/lib.sh"
export FERRY_BENCH_MODE=pull
bash "$WORK/peers.sh" --only floors,containerd,podman,ferry "${ARGS[@]}"
