# Ferry as engines of the shared bench harness (sourced by peers.sh; @BIN@ is replaced by
# bench/pull.sh and bench/run.sh with target/release): `ferry` (crun, the default) and
# `ferry-runc`. ferryd runs on the harness's data filesystem; "wipe" restarts it on an empty root
# after recording its peak RSS.
FERRY_BIN=@BIN@
FERRY_DIR=$DATA/ferry
FERRY_SOCK=unix://$FERRY_DIR/ferryd.sock

ferry_up() {
    mkdir -p "$FERRY_DIR"
    "$FERRY_BIN/ferryd" -H "$FERRY_SOCK" --data-root "$FERRY_DIR/root" --exec-root "$FERRY_DIR/exec" \
        >>"$FERRY_DIR/ferryd.log" 2>&1 &
    echo $! >"$FERRY_DIR/ferryd.pid"
    for _ in $(seq 100); do [ -S "$FERRY_DIR/ferryd.sock" ] && return 0; sleep 0.05; done
    return 1
}
ferry_hwm() { # peak RSS of the running ferryd, KiB
    awk '/VmHWM/ {print $2}' "/proc/$(cat "$FERRY_DIR/ferryd.pid")/status" 2>/dev/null || true
}
ferry_stop() {
    local pid
    pid=$(cat "$FERRY_DIR/ferryd.pid" 2>/dev/null) || return 0
    ferry_hwm >>"$FERRY_DIR/hwm"
    kill "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$FERRY_DIR/ferryd.pid"
}
ferry_wipe() {
    ferry_stop
    rm -rf "$FERRY_DIR/root"
    sync
    ferry_up
}
ferry_down() {
    ferry_stop
    local peak
    peak=$(sort -n "$FERRY_DIR/hwm" 2>/dev/null | tail -1)
    if [ -n "$peak" ]; then
        row ferry "ferryd peak RSS over the pulls" MiB "$(python3 -c "print($peak/1024)")"
    fi
    rm -rf "$FERRY_DIR"
}

ferry_procs() {
    [ -f "$FERRY_DIR/ferryd.pid" ] && echo "ferryd $(cat "$FERRY_DIR/ferryd.pid")"
    local p
    for p in $("${LIB[@]}" pids --exe ferry-shim --contains "$FERRY_DIR"); do echo "shim $p"; done
}
ferry_rm_all() {
    local ids
    ids=$("$FERRY_BIN/ferry" -H "$FERRY_SOCK" ps -aq)
    [ -z "$ids" ] || "$FERRY_BIN/ferry" -H "$FERRY_SOCK" rm -f $ids >/dev/null
}

# bench/pull.sh times pulls only, bench/run.sh container starts only (FERRY_BENCH_MODE).
if [ "${FERRY_BENCH_MODE:-pull}" = run ]; then
    FERRY_SKIP=pull
    # The peers' pulls are timed by bench/pull.sh; here they would only cost minutes.
    for e in containerd podman; do
        if declare -F "engine_$e" >/dev/null; then
            eval "$(declare -f "engine_$e" | sed "s/define_engine $e /define_engine $e skip=pull /")"
        fi
    done
else
    FERRY_SKIP="run many"
fi

ferry_engine() { # NAME RUNTIME
    define_engine "$1" needs="$FERRY_BIN/ferry $FERRY_BIN/ferryd $FERRY_BIN/ferry-shim" \
        up=ferry_up down=ferry_down wipe=ferry_wipe procs=ferry_procs rm_all=ferry_rm_all \
        skip="$3" \
        pull="$FERRY_BIN/ferry -H $FERRY_SOCK pull {ref}" \
        run_rm="$FERRY_BIN/ferry -H $FERRY_SOCK run --rm --runtime $2 --network none {image} true" \
        run_d="$FERRY_BIN/ferry -H $FERRY_SOCK run -d --runtime $2 --network none --name {name} {image} sleep 3600"
}
engine_ferry() { ferry_engine ferry crun "$FERRY_SKIP"; }
engine_ferry-runc() { ferry_engine ferry-runc runc "pull"; }
# What a bridge network costs at start: `run --rm` on the default bridge (CNI bridge, host-local,
# portmap, firewall; a netns per container), beside podman's bridge where podman is installed.
engine_ferry-bridge() {
    define_engine ferry-bridge needs="$FERRY_BIN/ferry $FERRY_BIN/ferryd $FERRY_BIN/ferry-shim" \
        up=ferry_up down=ferry_down wipe=ferry_wipe procs=ferry_procs rm_all=ferry_rm_all \
        skip="pull many" \
        pull="$FERRY_BIN/ferry -H $FERRY_SOCK pull {ref}" \
        run_rm="$FERRY_BIN/ferry -H $FERRY_SOCK run --rm -p 18080:80 {image} true" \
        run_d="$FERRY_BIN/ferry -H $FERRY_SOCK run -d --name {name} {image} sleep 3600"
}
if declare -F engine_podman >/dev/null; then
    engine_podman-bridge() {
        local run=${PODMAN_RUN/--network none/--network bridge}
        define_engine podman-bridge needs="podman conmon" skip="pull many" \
            up="mkdir -p $PODMAN_DIR" down=podman_down wipe=podman_wipe \
            rm_all="$PODMAN rm -af -t 0" procs=podman_procs \
            pull="$PODMAN pull --tls-verify=false {ref}" \
            run_rm="$PODMAN run --rm -p 18081:80 $run {image} true" \
            run_d="$PODMAN run -d --name {name} $run {image} sleep 3600"
    }
fi
