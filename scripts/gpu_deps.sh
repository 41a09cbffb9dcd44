#!/usr/bin/env bash
# Fetches, on this (CPU, Debian) machine, the Debian packages that scripts/gpu_check.sh needs on a
# GPU machine that reaches no package registry: the build's libraries (yaml-cpp, HDF5, GoogleTest,
# nlohmann-json, PCRE2, utf8proc, libpng, libjpeg-turbo) and the shared libraries HDF5 links (libcurl's chain, libaec),
# which gpu_check.sh uses only where that machine lacks them. About 14 MB, into .gpu-deps/
# (ignored by git; name it in the device call's `carry`).
#
#   scripts/gpu_deps.sh            then: run(command="bash scripts/gpu_check.sh", carry=[".gpu-deps"])
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
BUILD="libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libutf8proc-dev
  libutf8proc2 libhdf5-dev libhdf5-103-1 hdf5-helpers libgtest-dev libsz2 libaec0 zlib1g
  libpng-dev libpng16-16 libjpeg-dev libjpeg62-turbo-dev libjpeg62-turbo zlib1g-dev"
RUNTIME="libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1 libldap-2.5-0 libsasl2-2
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libidn2-0 libunistring2
  libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8 libssl3 libzstd1
  libcom-err2"
# apt-get download writes into the current folder; as root it warns that _apt cannot read it.
apt-get download $BUILD $RUNTIME 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
n=$(ls ./*.deb | wc -l)
echo "scripts/gpu_deps.sh: $n packages, $(du -sh . | cut -f1) in .gpu-deps"
