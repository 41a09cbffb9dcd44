#!/usr/bin/env bash
# Checks the Debian packages xai needs and installs only the missing ones (as root).
# Fast when nothing is missing: one dpkg-query call.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev libyaml-cpp-dev nlohmann-json3-dev
  libpcre2-dev libutf8proc-dev
  libgtest-dev
)

missing=()
status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
  if ! grep -q "^${p} ii" <<<"$status"; then missing+=("$p"); fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "xai: missing Debian packages: ${missing[*]}" >&2
  echo "HINT: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "xai: installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt-get update is needed once on a fresh machine before the first install.
if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
