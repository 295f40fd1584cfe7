#!/usr/bin/env bash
# Fails if the test suite left anything on the host: a mount, a process or a directory under
# a test root (/var/tmp/ferry-<kind>-*, made by integration-tests' var_tmpdir), or a container
# cgroup with nothing in it. Run after the
# tests (scripts/test.sh does); it removes nothing, so what it names can be looked at.
set -uo pipefail
roots='/var/tmp/ferry-(it|registry|scratch|bind|docker-config|save|load|cp|critest|elf)-'
found=0
report() { echo "leftover: $*" >&2; found=1; }

while read -r mp; do report "mount $mp"; done < <(
    awk '{print $5}' /proc/self/mountinfo | grep -E "^${roots}" || true)
for p in /proc/[0-9]*; do
    # A process may end between the glob and the read: that is not a leftover.
    cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
    [[ $cmd =~ $roots ]] && report "process ${p#/proc/}: $cmd"
done
# A container's cgroup outlives it only if its runtime state was never deleted.
for c in /sys/fs/cgroup/*/ferry/*/; do
    [ -d "$c" ] || continue
    [ -z "$(cat "$c/cgroup.procs" 2>/dev/null)" ] && report "empty cgroup $c"
done
for d in /var/tmp/ferry-*; do
    [ -e "$d" ] || continue
    [[ $d =~ ^$roots ]] && report "directory $d"
done
if [ "$found" = 0 ]; then echo "leftovers: none"; fi
exit "$found"
