#!/usr/bin/env bash
# Checks the Debian packages xai needs and installs only the missing ones (as root).
# Fast when nothing is missing: one dpkg-query call.
#   scripts/deps.sh        what make, make test and make demo need
#   scripts/deps.sh fuzz   what make fuzz needs instead: clang and libFuzzer, no LibTorch/MPI/HDF5
#   scripts/deps.sh browser  Chromium, which make test adds for the report's browser test
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev libyaml-cpp-dev nlohmann-json3-dev
  libpcre2-dev libutf8proc-dev libpng-dev libjpeg-dev
  libgtest-dev
)

# The fuzz build (tests/fuzz) compiles only LibTorch-free sources, with clang. libclang-rt-dev
# holds libFuzzer and the sanitizer runtimes (clang only recommends it, and recommends are not
# installed here); llvm has the llvm-symbolizer that turns sanitizer stacks into file:line.
FUZZ_PACKAGES=(
  cmake ninja-build ccache pkg-config
  libyaml-cpp-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libpng-dev libjpeg-dev
  clang libclang-rt-dev llvm
)

case "${1:-}" in
  "") ;;
  fuzz) PACKAGES=("${FUZZ_PACKAGES[@]}") ;;
  browser) PACKAGES=(chromium) ;;
  *)
    echo "usage: scripts/deps.sh [fuzz|browser]" >&2
    exit 2
    ;;
esac

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
