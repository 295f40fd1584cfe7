#!/usr/bin/env bash
# The main job on a fresh machine: install, build, start ferryd, serve a local registry seeded
# with a busybox image built from busybox-static (ferryd uses it as its Docker Hub mirror, so
# `busybox` means docker.io/library/busybox:latest as in Docker), pull it, list it, run it.
# `bash scripts/demo.sh stop` stops the registry and ferryd it started.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${FERRY_DEMO_DIR:-/var/tmp/ferry-demo}
SOCK=unix://$DEMO/ferryd.sock
BIN=$PWD/target/release

stop() {
    for p in ferryd registry; do
        [ -f "$DEMO/$p.pid" ] && kill "$(cat "$DEMO/$p.pid")" 2>/dev/null || true
        rm -f "$DEMO/$p.pid"
    done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

bash scripts/setup.sh
cargo build --release --workspace --bins --locked
stop
mkdir -p "$DEMO"

# A private docker-registry on a free loopback port.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$DEMO/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $DEMO/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
log: {level: warn}
YML
docker-registry serve "$DEMO/registry.yml" >"$DEMO/registry.log" 2>&1 &
echo $! >"$DEMO/registry.pid"
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN/ferry-fixtures" push busybox "127.0.0.1:$PORT" library/busybox:latest

# ferryd with its own roots, so the demo never touches /var/lib/ferry.
"$BIN/ferryd" -H "$SOCK" --data-root "$DEMO/data" --exec-root "$DEMO/exec" \
    --registry-mirror "http://127.0.0.1:$PORT" >"$DEMO/ferryd.log" 2>&1 &
echo $! >"$DEMO/ferryd.pid"
for _ in $(seq 100); do [ -S "$DEMO/ferryd.sock" ] && break; sleep 0.1; done

export FERRY_HOST=$SOCK
set -x
"$BIN/ferry" pull busybox
"$BIN/ferry" images
"$BIN/ferry" run --rm busybox echo "Hello from a Ferry container"
{ set +x; } 2>/dev/null
echo
echo "ferryd and the registry keep running (logs in $DEMO). Try:"
echo "  export FERRY_HOST=$SOCK; $BIN/ferry run -it busybox sh"
echo "Stop them with: bash scripts/demo.sh stop"
