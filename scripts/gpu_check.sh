#!/usr/bin/env bash
# The GPU checks in one command of under 9 minutes, on a machine with one NVIDIA GPU, PyTorch 2.x
# (CUDA), nvcc, CMake and ninja but no package registry (the device tool's machines). Prepare here:
#   scripts/gpu_deps.sh                       # Debian packages -> .gpu-deps/ (~14 MB, git-ignored)
# then, on the GPU machine (device tool):
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu-deps"], timeout_s=560)
# It unpacks the packages into a private prefix (never into /), builds xai against the machine's
# own LibTorch (torch.utils.cmake_prefix_path) with CUDA and, where pip's nvidia-nccl is found,
# NCCL; runs the CUDA tests (every family and every explainer on cuda against the CPU, the
# device-resolution and NCCL tests) and the GPU scaling points, and writes under $OUT:
#   gpu_check.log (everything), env.txt, tests.xml (gtest), scaling.jsonl, scaling.txt.
# Each stage is timed; a stage that fails is reported and the next ones still run where they can.
# XAI_TORCH_PREFIX overrides the LibTorch (a CPU build checks the script itself on a CPU machine:
# the CUDA tests then skip), XAI_GPU_SCALING="--sizes ... --T ..." the scaling points, and
# XAI_GPU_BUDGET_S the seconds left for them (default 200).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
T0=$(date +%s)
stage() { echo; echo "== [$(($(date +%s) - T0)) s] $*"; }
status=0

stage "machine"
{
  uname -a
  nproc
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available() and torch.cuda.get_device_name(0))' 2>&1
  cmake --version | head -1
  ninja --version
  g++ --version | head -1
  nvcc --version 2>/dev/null | tail -1
} | tee "$OUT/env.txt"

stage "dependencies: unpack .gpu-deps into a private prefix"
DEPS=${XAI_DEPS_PREFIX:-/tmp/xai-deps}
mkdir -p "$DEPS/fill"
if ls .gpu-deps/*.deb >/dev/null 2>&1; then
  for f in .gpu-deps/*.deb; do dpkg -x "$f" "$DEPS" || { echo "cannot unpack $f"; status=1; }; done
else
  echo "no .gpu-deps/*.deb: run scripts/gpu_deps.sh here and carry .gpu-deps"
fi
MA=x86_64-linux-gnu
# Shared libraries the machine lacks (by soname) are linked into $DEPS/fill, which alone goes on
# LD_LIBRARY_PATH: the machine's own libraries (libssl, libcurl, ...) win wherever it has them.
for lib in "$DEPS"/usr/lib/$MA/*.so.* "$DEPS"/lib/$MA/*.so.* "$DEPS"/usr/lib/$MA/hdf5/serial/*.so*; do
  [ -f "$lib" ] && [ ! -L "$lib" ] || continue
  soname=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  [ -n "$soname" ] || continue
  if ! ldconfig -p | grep -q "^[[:space:]]*$soname "; then ln -sf "$lib" "$DEPS/fill/$soname"; fi
done
echo "filled from the packages: $(ls "$DEPS/fill" | tr '\n' ' ')"
export LD_LIBRARY_PATH="$DEPS/fill${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="$DEPS/usr/lib/$MA/pkgconfig:$DEPS/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DEPS"

stage "configure against this machine's LibTorch"
TORCH_PREFIX=${XAI_TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')}
NCCL_ARGS=()
NCCL_DIR=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
if [ -n "$NCCL_DIR" ] && [ -f "$NCCL_DIR/include/nccl.h" ]; then
  NCCL_ARGS=(-DNCCL_INCLUDE_DIR="$NCCL_DIR/include" -DNCCL_LIBRARY="$(ls "$NCCL_DIR"/lib/libnccl.so* | head -1)")
  export LD_LIBRARY_PATH="$NCCL_DIR/lib:$LD_LIBRARY_PATH"
fi
HDF5_DIR=$DEPS/usr/lib/$MA/hdf5/serial
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$DEPS/usr;$DEPS/usr/lib/$MA/cmake;$TORCH_PREFIX" \
  -DXAI_WITH_MPI=OFF -DXAI_WITH_CUDA=AUTO "${NCCL_ARGS[@]}" \
  -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DHDF5_C_COMPILER_EXECUTABLE=/bin/false \
  -DHDF5_C_INCLUDE_DIR="$DEPS/usr/include/hdf5/serial" -DHDF5_C_LIBRARY_hdf5="$HDF5_DIR/libhdf5.so" \
  ${XAI_GPU_CMAKE_ARGS:-} > "$OUT/configure.txt" 2>&1
rc=$?
grep -E "xai: LibTorch|Torch|CUDA|NCCL|Error" "$OUT/configure.txt" | head -20
if [ $rc -ne 0 ]; then
  echo "configure failed (rc $rc):"; tail -40 "$OUT/configure.txt"; exit 2
fi

if [ -n "${XAI_GPU_CHECK_CONFIGURE_ONLY:-}" ]; then
  grep -E "^(HDF5_C_INCLUDE_DIR|HDF5_C_LIBRARY_hdf5|yaml-cpp_DIR|GTest_DIR|nlohmann_json_DIR|PCRE2_LINK_LIBRARIES|UTF8PROC_LINK_LIBRARIES|Torch_DIR)" build-gpu/CMakeCache.txt
  stage "configure only (XAI_GPU_CHECK_CONFIGURE_ONLY): stop"; exit 0
fi

stage "build (xai, the unit tests, bench_scaling)"
if ! ninja -C build-gpu -j "$(nproc)" xai xai_unit_tests > "$OUT/build.txt" 2>&1; then
  echo "build failed:"; grep -E "error|Error" "$OUT/build.txt" | head -40; tail -20 "$OUT/build.txt"; exit 3
fi
tail -2 "$OUT/build.txt"
ninja -C build-gpu -j "$(nproc)" bench_scaling >> "$OUT/build.txt" 2>&1 || { echo "bench_scaling did not build:"; grep -E "error" "$OUT/build.txt" | head -20; status=1; }

stage "CUDA tests: families and explainers on cuda against the CPU, devices, NCCL"
build-gpu/tests/xai_unit_tests --gtest_filter='*CudaTest*:*Device*:*Nccl*:Run.Device*:*AtManFastPath*' \
  --gtest_output=xml:"$OUT/tests.xml" 2>&1 | grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) |Failure|error|Expected|Which|relative" | head -150
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

stage "scaling points on the GPU (bench_scaling --device cuda)"
if [ -x build-gpu/tests/bench_scaling ]; then
  timeout "${XAI_GPU_BUDGET_S:-200}" build-gpu/tests/bench_scaling --device cuda --dtype bfloat16 \
    --methods forward,atman,chefer,input_x_gradient \
    ${XAI_GPU_SCALING:---sizes 28x4096 --T 128,512,1024 --plan-sizes 40x5120,44x6144,48x7168 --budget 75GB} \
    --dir "$OUT/scaling" 2>&1 | tee "$OUT/scaling.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  cp "$OUT/scaling/scaling.jsonl" "$OUT/scaling.jsonl" 2>/dev/null
  rm -rf "$OUT/scaling"
fi

stage "done: status $status (0 = every stage passed)"
exit $status
