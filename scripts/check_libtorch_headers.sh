#!/usr/bin/env bash
# Syntax-checks every LibTorch translation unit against another LibTorch's headers, e.g. the 2.x
# that GPU clusters use, without needing its libraries or a GPU:
#
#   pip download --no-deps --only-binary=:all: torch==2.5.1 -d /tmp/t && \
#     unzip -q /tmp/t/torch-*.whl 'torch/include/*' -d /tmp/t/x
#   scripts/check_libtorch_headers.sh /tmp/t/x/torch/include
#
# Catches APIs that moved or vanished between LibTorch 1.13 (Debian) and 2.x.
set -uo pipefail
INC=${1:?usage: $0 TORCH_INCLUDE_DIR}
cd "$(dirname "$0")/.."
fail=0
for f in framework/tensor_io/*.cpp framework/model/*.cpp framework/run/*.cpp framework/train/*.cpp \
         framework/cli/*.cpp methods/*.cpp tests/unit/*.cpp tests/perf/*.cpp; do
  [ -f "$f" ] || continue
  if ! g++ -std=c++17 -fsyntax-only -D_GLIBCXX_USE_CXX11_ABI=1 -I. -I"$INC" \
       -I"$INC/torch/csrc/api/include" -I/usr/include/hdf5/serial \
       -DXAI_SOURCE_DIR='"."' -DXAI_BINARY_DIR='"."' "$f" 2>/tmp/xai-header-check.err; then
    echo "FAIL $f"; head -5 /tmp/xai-header-check.err; fail=1
  fi
done
[ $fail -eq 0 ] && echo "all LibTorch translation units compile against $INC"
exit $fail
