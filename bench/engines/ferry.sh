# Ferry as an engine of the shared bench harness (sourced by peers.sh; @BIN@ is replaced by
# bench/pull.sh with target/release). ferryd runs on the harness's data filesystem; "wipe"
# restarts it on an empty root (ferry has no rmi yet), after recording its peak RSS.
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
}

engine_ferry() {
    define_engine ferry needs="$FERRY_BIN/ferry $FERRY_BIN/ferryd" \
        up=ferry_up down=ferry_down wipe=ferry_wipe procs=ferry_procs skip="run many" \
        pull="$FERRY_BIN/ferry -H $FERRY_SOCK pull {ref}"
}
