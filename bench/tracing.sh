#!/usr/bin/env bash
# bench/tracing: the cost of tracing on `ferry run --rm busybox true` — the CLI, ferryd and the
# shim exporting every span over OTLP/gRPC to a loopback receiver (integration-tests'
# `otlp-sink`) against tracing off (no OTEL_* variables: no exporter, no export thread).
# Each mode gets its own ferryd and roots; both pull busybox from one loopback registry seeded
# by `ferry-fixtures`. Prints the means and medians and the overhead ratios; the target is
# under 5%. The medians are the figure to read on a busy machine: the exporting CLI waits for one
# round trip to the receiver at exit, and on an oversubscribed host that wake-up can take
# milliseconds, which inflates the mean.
#
#   bash bench/tracing.sh [RUNS]          (default 30; FERRY_BIN_DIR=dir skips the release build)
#
# Uses hyperfine when installed, else a timed loop.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
if [ -n "${FERRY_BIN_DIR:-}" ]; then
    BIN=$FERRY_BIN_DIR
else
    cargo build --release --bins -p ferry-cli -p ferry-daemon -p ferry-shim \
        -p ferry-integration-tests --locked
    BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
WORK=$(mktemp -d /var/tmp/ferry-bench-tracing.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for m in "$WORK"/*/exec/image-mounts/* "$WORK"/*/exec/containers/*/rootfs; do
        mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Registry with busybox.
PORT=$(free_port)
cat >"$WORK/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$PORT}
log: {level: warn}
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN/ferry-fixtures" push busybox "127.0.0.1:$PORT" library/busybox:latest >/dev/null

# The OTLP receiver.
"$BIN/otlp-sink" --count >"$WORK/sink.out" 2>"$WORK/sink.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$WORK/sink.out" ] && break; sleep 0.1; done
ENDPOINT=$(head -1 "$WORK/sink.out")

# start_ferryd MODE [VAR=VALUE...]: a ferryd for one mode, busybox pulled.
start_ferryd() {
    local mode=$1; shift
    mkdir -p "$WORK/$mode"
    env "$@" "$BIN/ferryd" -H "unix://$WORK/$mode/ferryd.sock" --data-root "$WORK/$mode/data" \
        --exec-root "$WORK/$mode/exec" --registry-mirror "http://127.0.0.1:$PORT" \
        >"$WORK/$mode/ferryd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -S "$WORK/$mode/ferryd.sock" ] && break; sleep 0.1; done
    env "$@" "$BIN/ferry" -H "unix://$WORK/$mode/ferryd.sock" pull -q busybox >/dev/null
}
OTEL=(OTEL_EXPORTER_OTLP_ENDPOINT="$ENDPOINT" OTEL_EXPORTER_OTLP_PROTOCOL=grpc)
start_ferryd off
start_ferryd on "${OTEL[@]}"

# Both modes alternate in short rounds, so that a change in the machine's load between them
# does not pass for overhead. Each round appends one wall time per run to $WORK/{off,on}.times
# (in ms); hyperfine when installed, else a timed loop.
cmd() { echo "env $2 $BIN/ferry -H unix://$WORK/$1/ferryd.sock run --rm busybox true"; }
OFF_CMD=$(cmd off "")
ON_CMD=$(cmd on "${OTEL[*]}")
ROUNDS=5
PER=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
for _ in $(seq 3); do $OFF_CMD; $ON_CMD; done
for r in $(seq $ROUNDS); do
    if command -v hyperfine >/dev/null; then
        hyperfine -N --runs "$PER" --export-json "$WORK/round$r.json" -n off "$OFF_CMD" \
            -n on "$ON_CMD" >/dev/null
        python3 - "$WORK" "$r" <<'PY'
import json, sys
work, r = sys.argv[1], sys.argv[2]
for res in json.load(open(f"{work}/round{r}.json"))["results"]:
    with open(f"{work}/{res['command']}.times", "a") as f:
        f.writelines(f"{t * 1000}\n" for t in res["times"])
PY
    else
        for mode in off on; do
            c=$OFF_CMD; [ $mode = on ] && c=$ON_CMD
            for _ in $(seq "$PER"); do
                t0=$(date +%s%N); $c; t1=$(date +%s%N)
                echo "$(( (t1 - t0) / 1000 ))e-3" >>"$WORK/$mode.times"
            done
        done
    fi
done
sleep 2
SPANS=$(tail -1 "$WORK/sink.err" | sed 's/[^0-9]//g')
python3 - "$WORK" "${SPANS:-0}" <<'PY'
import statistics, sys
work, spans = sys.argv[1], int(sys.argv[2])
t = {m: [float(x) for x in open(f"{work}/{m}.times")] for m in ("off", "on")}
for what, f in (("mean", statistics.mean), ("median", statistics.median)):
    a, b = f(t["off"]), f(t["on"])
    print(f"ferry run --rm busybox true, {what} of {len(t['off'])}+{len(t['on'])} runs: "
          f"tracing off {a:.1f} ms, exporting {b:.1f} ms, overhead {100 * (b / a - 1):+.1f}% "
          f"(ratio {b / a:.3f}; target < 1.05)")
print(f"{spans} spans received by the sink")
PY
