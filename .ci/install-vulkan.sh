#!/usr/bin/env bash
# Installs a software Vulkan driver for WebGPU in Node: Mesa's lavapipe from
# bookworm-backports (Vulkan 1.3, shader-f16, subgroups), added on the same
# mirror as the machine's existing Debian sources. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 2[5-9]'; then
  exit 0
fi
mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
  | grep -v security | head -1 | awk '{print $2}')
mirror=${mirror:-http://deb.debian.org/debian}
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
    > /etc/apt/sources.list.d/backports.sources
fi
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
