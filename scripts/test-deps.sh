#!/usr/bin/env bash
# Installs what the tests run against when it is missing: redis-server, git,
# podman (the docker-compatible client), chromium, and jq and curl for the
# README walkthrough. As root it uses
# apt-get; otherwise it says what to install and fails.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v git >/dev/null || need+=(git)
command -v podman >/dev/null || need+=(podman)
command -v chromium >/dev/null || need+=(chromium)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
# deploy/: the images' root filesystems, the runtime that works where crun
# refuses hybrid cgroups, the compose stack and its containers' DNS.
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v runc >/dev/null || need+=(runc)
command -v podman-compose >/dev/null || need+=(podman-compose)
[ -x /usr/lib/cni/dnsname ] || need+=(golang-github-containernetworking-plugin-dnsname)
command -v systemd-analyze >/dev/null || need+=(systemd)
for pkg in "$@"; do
  command -v "$pkg" >/dev/null || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]}; install them (sudo apt-get install ${need[*]}) and run make test again" >&2
  exit 1
fi
echo "installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
