#!/usr/bin/env bash
# Installs what Ferry needs from Debian's archive (idempotent): protoc for the build, the real
# components the tests and the demo use (docker-registry, crun, runc, busybox-static, CNI
# plugins, skopeo), and the benchmark tools; and downloads, without installing, the packages
# whose files make critest's images (ferry-fixtures push-critest).
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
# Downloaded, not installed: busybox conflicts with busybox-static, and nginx's maintainer
# scripts would start a server on the host. integration-tests/src/fixtures/debian.rs reads them.
debs=(busybox libc6 procps util-linux libproc2-0 libsystemd0 libcap2 libgcrypt20 libgpg-error0
      liblz4-1 liblzma5 libzstd1 nginx libssl3 libpcre2-8-0 zlib1g libcrypt1)
deb_dir=/var/cache/ferry/debs
mkdir -p "$deb_dir"
missing=()
for p in "${debs[@]}"; do
    compgen -G "$deb_dir/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: downloading ${missing[*]} to $deb_dir"
    # apt's download sandbox user must be able to write there.
    if id _apt >/dev/null 2>&1; then chown _apt "$deb_dir"; fi
    apt-get update -q >/dev/null
    (cd "$deb_dir" && apt-get download -q "${missing[@]}" >/dev/null)
fi
