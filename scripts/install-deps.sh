#!/usr/bin/env bash
# Installs the Debian bookworm packages pforte needs to build, test, fuzz and run its demo.
# Idempotent: installs only what is missing. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libevent-dev libnghttp2-dev libssl-dev libtomlplusplus-dev libboost-test-dev
  libgoogle-perftools-dev libbrotli-dev zlib1g-dev
  clang-16 libclang-rt-16-dev clang-format
  curl nghttp2-client wrk openssl python3 procps
  man-db groff-base file systemd logrotate iproute2
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
