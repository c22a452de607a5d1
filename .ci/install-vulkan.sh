#!/usr/bin/env bash
# Installs a software Vulkan driver for WebGPU in Node: Mesa's lavapipe from
# bookworm-backports (Vulkan 1.3, shader-f16, subgroups), added on the same
# mirror as the machine's existing Debian sources. Idempotent.
#
# Works whether the machine's sources are one-line (/etc/apt/sources.list) or
# deb822 (/etc/apt/sources.list.d/*.sources), or both, or neither: files that
# do not exist are skipped, not grepped (a grep on a missing file exits 2,
# which set -e / pipefail would turn into a silent stop).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Debian 12 (bookworm) takes Mesa from bookworm-backports (below); any other
# apt system (Ubuntu, later Debian) installs its release's own Mesa.
release=$( { . /etc/os-release 2>/dev/null && echo "${ID:-}-${VERSION_CODENAME:-}"; } || true)
if [ "$release" != debian-bookworm ]; then
  [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && exit 0
  if [ "$(id -u)" != 0 ]; then
    echo "install-vulkan: needs root (apt-get install mesa-vulkan-drivers)" >&2
    exit 1
  fi
  echo "install-vulkan: installing mesa-vulkan-drivers (lavapipe, a software Vulkan driver) from ${release:-this system}'s own sources"
  apt-get update -qq
  apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  test -f /usr/share/vulkan/icd.d/lvp_icd.json || { echo "install-vulkan: lvp_icd.json missing after install" >&2; exit 1; }
  echo "install-vulkan: lavapipe installed (/usr/share/vulkan/icd.d/lvp_icd.json)"
  exit 0
fi
if [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 2[5-9]'; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-vulkan: needs root (apt-get install mesa-vulkan-drivers from bookworm-backports)" >&2
  exit 1
fi
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sources+=("$f")
done
mirror=""
if [ ${#sources[@]} -gt 0 ]; then
  # `|| true`: no match is not an error here, the default below applies.
  mirror=$( { grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' "${sources[@]}" || true; } \
    | { grep -v security || true; } | head -1 | awk '{print $2}')
fi
mirror=${mirror:-http://deb.debian.org/debian}
if [ ${#sources[@]} -eq 0 ] || ! grep -qs 'bookworm-backports' "${sources[@]}"; then
  echo "install-vulkan: adding bookworm-backports from $mirror"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
    > /etc/apt/sources.list.d/backports.sources
fi
echo "install-vulkan: installing mesa-vulkan-drivers (lavapipe, a software Vulkan driver) from bookworm-backports"
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
test -f /usr/share/vulkan/icd.d/lvp_icd.json || { echo "install-vulkan: lvp_icd.json missing after install" >&2; exit 1; }
echo "install-vulkan: lavapipe installed (/usr/share/vulkan/icd.d/lvp_icd.json)"
