#!/usr/bin/env bash
# Installs what Ferry needs from Debian's archive (idempotent): protoc for the build, the real
# components the tests and the demo use (docker-registry, crun, runc, busybox-static, CNI
# plugins, skopeo), and the benchmark tools.
set -euo pipefail
pkgs=(protobuf-compiler docker-registry crun runc busybox-static containernetworking-plugins
      skopeo iptables hyperfine pigz zstd curl procps tini)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q "${missing[@]}" >/dev/null
fi
command -v protoc >/dev/null
