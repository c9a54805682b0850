#!/usr/bin/env bash
# Installs Mesa's lavapipe (a Vulkan driver that runs on the CPU) so that Dawn finds a WebGPU adapter on a
# machine without a GPU. Bookworm's own Mesa 22 does not give Dawn a usable adapter; Mesa 25 from
# bookworm-backports does. Idempotent: safe to run again. Needs root (or sudo).
# Tests and CLIs also need XDG_RUNTIME_DIR set (e.g. export XDG_RUNTIME_DIR=/tmp).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

SOURCES=/etc/apt/sources.list.d/backports.sources
if [ ! -f "$SOURCES" ]; then
  # Use the same Debian mirror as the system's existing sources (the first URI that serves plain 'debian').
  MIRROR=$(grep -h -E '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | grep -E '/debian/?$' | head -n 1 || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  $SUDO tee "$SOURCES" >/dev/null <<SRC
Types: deb
URIs: ${MIRROR}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

installed_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | cut -d. -f1
}

if [ "$(installed_major)" != "" ] && [ "$(installed_major)" -ge 25 ] && dpkg-query -W libvulkan1 >/dev/null 2>&1; then
  echo "lavapipe: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
echo "lavapipe: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
