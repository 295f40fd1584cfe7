#!/usr/bin/env bash
# bench/images: the image store at scale, for ferry and — in the same run — containerd's ctr (a
# private containerd, when installed):
#   - `images` latency (`ferry images`, `ctr images ls`) with N_IMAGES (1000) images in the store
#   - the time to remove 100 of them, which all share their base layer with the rest (one `rmi`
#     of 100 names; `ctr images rm` of the same 100)
# Images are built in code (ferry-fixtures push-many: busybox layer + a distinct config each) and
# served by a private docker-registry; both engines store on one fresh loop-mounted ext4.
#
#   bash bench/images.sh [--quick]        (--quick: 200 images, 5 timing runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N_IMAGES=${N_IMAGES:-1000} RUNS=${RUNS:-10}
if [ "${1:-}" = --quick ]; then N_IMAGES=200 RUNS=5; fi
N_RM=100

bash scripts/setup.sh
cargo build --release --workspace --bins --locked
BIN=$ROOT/target/release

W=$(mktemp -d /var/tmp/ferry-bench-images.XXXXXX)
cleanup() {
    [ -f "$W/ferryd.pid" ] && kill "$(cat "$W/ferryd.pid")" 2>/dev/null
    [ -f "$W/containerd.pid" ] && kill "$(cat "$W/containerd.pid")" 2>/dev/null
    [ -f "$W/registry.pid" ] && kill "$(cat "$W/registry.pid")" 2>/dev/null
    sleep 1
    umount -R "$W/data" 2>/dev/null || umount -l "$W/data" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/data"
truncate -s 4G "$W/data.img"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$W/data.img"
mount -o loop "$W/data.img" "$W/data"
D=$W/data

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Median wall time in ms of RUNS runs of a command.
timeit() {
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
    done | median
}

REG=127.0.0.1:$(port)
cat >"$W/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $D/registry}}
http: {addr: $REG}
YML
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
echo $! >"$W/registry.pid"
wait_for "curl -fs http://$REG/v2/"
"$BIN/ferry-fixtures" push-many "$N_IMAGES" "$REG" bench/many

SOCK=unix://$W/ferryd.sock
"$BIN/ferryd" -H "$SOCK" --data-root "$D/ferry" --exec-root "$W/ferry-exec" --bridge none \
    >"$W/ferryd.log" 2>&1 &
echo $! >"$W/ferryd.pid"
wait_for "[ -S $W/ferryd.sock ]"
FERRY="$BIN/ferry -H $SOCK"
seq 0 $((N_IMAGES - 1)) | xargs -P 4 -I{} $FERRY pull -q "$REG/bench/many:{}" >/dev/null
echo "ferry: $($FERRY images -q | wc -l) images in the store"
ferry_ls=$(timeit $FERRY images)
rm_names=$(seq 0 $((N_RM - 1)) | sed "s|^|$REG/bench/many:|")
t0=$(date +%s%N) # shellcheck disable=SC2086
$FERRY rmi $rm_names >/dev/null
t1=$(date +%s%N)
ferry_rm=$(((t1 - t0) / 1000000))

ctr_ls="" ctr_rm=""
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
    CS=$W/containerd.sock
    cat >"$W/containerd.toml" <<TOML
version = 2
root = "$D/containerd"
state = "$W/containerd-state"
oom_score = 0
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CS"
[ttrpc]
  address = "$CS.ttrpc"
TOML
    setsid containerd --config "$W/containerd.toml" >"$W/containerd.log" 2>&1 </dev/null &
    echo $! >"$W/containerd.pid"
    CTR="ctr -a $CS -n bench"
    wait_for "$CTR version"
    seq 0 $((N_IMAGES - 1)) | xargs -P 4 -I{} $CTR images pull --plain-http "$REG/bench/many:{}" >/dev/null
    echo "containerd: $($CTR images ls -q | wc -l) images in the store"
    ctr_ls=$(timeit $CTR images ls)
    t0=$(date +%s%N) # shellcheck disable=SC2086
    # --sync: wait for the garbage collection, as ferry rmi does before it answers
    $CTR images rm --sync $rm_names >/dev/null
    t1=$(date +%s%N)
    ctr_rm=$(((t1 - t0) / 1000000))
fi

ratio() { if [ -n "$2" ]; then python3 -c "print(f'{$1/$2:.2f}x')"; else echo "-"; fi; }
printf '%-46s %10s %12s %8s\n' "figure (ms; listing: median of $RUNS)" ferry containerd ratio
printf '%-46s %10s %12s %8s\n' "images listing, $N_IMAGES images" "$ferry_ls" "${ctr_ls:--}" "$(ratio "$ferry_ls" "$ctr_ls")"
printf '%-46s %10s %12s %8s\n' "remove $N_RM images sharing a base layer" "$ferry_rm" "${ctr_rm:--}" "$(ratio "$ferry_rm" "$ctr_rm")"
