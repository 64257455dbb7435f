#!/usr/bin/env bash
# Debian tools that only the tests need: plistutil (checks generated LaunchAgents) and systemd
# (systemd-analyze verify and systemd-socket-activate for the service tests).
set -euo pipefail
need=()
command -v plistutil >/dev/null 2>&1 || need+=(libplist-utils)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(uname -s)" != Linux ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-test-tools: please install ${need[*]} (plistutil, systemd-analyze)" >&2
    exit 0
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
echo "setup-test-tools: installing ${need[*]}"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
