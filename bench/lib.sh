# Shared by bench/pull.sh and bench/run.sh (sourced): installs, builds, and makes a private copy
# of the shared harness (../shared/bench, or FERRY_SHARED_BENCH) with Ferry's engines in it.
# Sets WORK (the copy) and ARGS (the arguments for peers.sh); removes WORK on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SHARED=${FERRY_SHARED_BENCH:-$ROOT/../shared/bench}
[ -f "$SHARED/peers.sh" ] || { echo "bench: no harness at $SHARED (set FERRY_SHARED_BENCH)" >&2; exit 2; }
ARGS=() peers=0
for a in "$@"; do [ "$a" = --peers ] && peers=1 || ARGS+=("$a"); done

bash scripts/setup.sh
if [ $peers = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q containerd podman >/dev/null
fi
cargo build --release --workspace --bins --locked

WORK=$(mktemp -d /var/tmp/ferry-bench-harness.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SHARED"/. "$WORK"/
mkdir -p "$WORK/engines.d"
sed "s|@BIN@|$ROOT/target/release|g" "$ROOT/bench/engines/ferry.sh" >"$WORK/engines.d/ferry.sh"
# The harness lists an engine by its file name; ferry-runc is defined in ferry.sh.
for e in ferry-runc ferry-bridge podman-bridge; do echo "# defined in ferry.sh" >"$WORK/engines.d/$e.sh"; done
