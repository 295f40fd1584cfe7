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

# A private copy of the harness with Ferry as one more engine.
work=$(mktemp -d /var/tmp/ferry-bench-harness.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$SHARED"/. "$work"/
mkdir -p "$work/engines.d"
sed "s|@BIN@|$ROOT/target/release|g" "$ROOT/bench/engines/ferry.sh" >"$work/engines.d/ferry.sh"
sections=floors,containerd,podman,ferry
bash "$work/peers.sh" --only "$sections" "${args[@]}"
