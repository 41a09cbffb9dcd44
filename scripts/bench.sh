#!/usr/bin/env bash
# make bench: xai's benchmarks, and, when Python with torch is present, the Python/PyTorch peer
# (../shared/peers/peer_bench.py or $XAI_PEER_BENCH) on the same shapes in the same run, so every
# number comes with a ratio measured on this machine today.
set -euo pipefail
BUILD=${1:-build}
THREADS=${THREADS:-2}
TS=${TS:-128,256,512}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; every table below prints its matmul ceiling"
echo "== xai forward and load (GPT-2-small shape, random weights, $THREADS threads)"
"$BUILD/tests/bench_forward" --threads "$THREADS" --T "$TS" | tee "$out/xai.txt"

PEER=${XAI_PEER_BENCH:-$(dirname "$0")/../../shared/peers/peer_bench.py}
PY=${XAI_PEER_PYTHON:-/usr/bin/python3}
if [ -f "$PEER" ] && "$PY" -c 'import torch' 2>/dev/null; then
  echo "== peer: plain PyTorch $("$PY" -c 'import torch;print(torch.__version__)') ($PEER)"
  for T in ${TS//,/ }; do
    "$PY" "$PEER" --method forward_last --T "$T" --threads "$THREADS" --json | tee -a "$out/peer.jsonl"
  done
  "$PY" - "$out/xai.txt" "$out/peer.jsonl" <<'PY'
import json, sys
xai = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        d = json.loads(line)
        if d["bench"] == "forward_last":
            xai[d["T"]] = d
print("\n%6s %10s %10s %14s" % ("T", "xai s", "torch s", "torch / xai"))
for line in open(sys.argv[2]):
    p = json.loads(line)
    x = xai.get(p["T"])
    if x:
        print("%6d %10.4f %10.4f %13.2fx" % (p["T"], x["seconds"], p["seconds"], p["seconds"] / x["seconds"]))
PY
else
  echo "(peer benchmark skipped: no $PEER or no torch for $PY)"
fi

echo
echo "== xai AtMan: plain forward vs reference form vs fast path (B=${B:-8}, $THREADS threads)"
"$BUILD/tests/bench_atman" --threads "$THREADS" --T "$TS" --B "${B:-8}" --cli "$BUILD/xai"

echo
echo "== xai explainers: seconds and peak extra memory per explanation, ratio to one forward"
# IG at 20 steps, the issue's target setting (its default is 50).
METHOD_TS=${METHOD_TS:-256,512}
"$BUILD/tests/bench_methods" --threads "$THREADS" --T "$METHOD_TS" ${METHODS:+--methods "$METHODS"} \
  --set "integrated_gradients.steps=${IG_STEPS:-20}" | tee "$out/methods.txt"

# The same gradient methods the Python way (plain PyTorch; captum for IG at 20 steps, internal
# batch 10), right after, with both of its plain forwards: a ratio is only comparable with one
# taken against the same kind of forward (last-position logits, or every position's as
# `model(input_ids)` gives them).
PEER_METHODS=${PEER_METHODS:-ixg chefer ig}
if [ -f "$PEER" ] && "$PY" -c 'import torch' 2>/dev/null && [ -n "$PEER_METHODS" ]; then
  echo
  echo "== peer: the same explainers in plain PyTorch (methods: $PEER_METHODS)"
  for T in ${METHOD_TS//,/ }; do
    for m in forward_last forward $PEER_METHODS; do
      extra=()  # captum IG runs for minutes at T=512: one warm-up pass and one timed run
      [ "$m" = ig ] && extra=(--light-warmup --reps 1)
      "$PY" "$PEER" --method "$m" --T "$T" --threads "$THREADS" --json "${extra[@]}" \
        >>"$out/peer_methods.jsonl"
    done
  done
  "$PY" - "$out/methods.txt" "$out/peer_methods.jsonl" <<'PY'
import json, sys
names = {"ixg": "input_x_gradient", "chefer": "chefer", "ig": "integrated_gradients"}
xai, peer = {}, {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        d = json.loads(line)
        if d["bench"] == "method":
            xai[(d["method"], d["T"])] = d
for line in open(sys.argv[2]):
    p = json.loads(line)
    if "skipped" in p:  # e.g. IG without captum: XAI_PEER_PYTHON can name a Python that has it
        print("peer %s at T=%d skipped: %s" % (p["method"], p["T"], p["skipped"]))
    else:
        peer[(p["method"], p["T"])] = p
print("x last / x full: seconds over one plain forward with logits at the last position / at every")
print("position, each taken in its own code (xai's in bench_methods above, PyTorch's here)")
print("%5s %-20s %8s %8s %7s  %7s %7s  %7s %7s  %7s %7s" % (
    "T", "method", "xai s", "torch s", "t/xai", "xai", "torch", "xai", "torch", "xai MB", "torch"))
print("%5s %-20s %8s %8s %7s  %15s  %15s  %15s" % ("", "", "", "", "", "x last", "x full", ""))
for (m, T), p in sorted(peer.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    x = xai.get((names.get(m, ""), T))
    last, full = peer.get(("forward_last", T)), peer.get(("forward", T))
    if not x or not last or not full:
        continue
    print("%5d %-20s %8.3f %8.3f %6.2fx  %7.2f %7.2f  %7.2f %7.2f  %7.0f %7.0f" % (
        T, x["method"], x["seconds"], p["seconds"], p["seconds"] / x["seconds"],
        x["seconds"] / x["forward_seconds"], p["seconds"] / last["seconds"],
        x["seconds"] / x["full_forward_seconds"], p["seconds"] / full["seconds"],
        x["extra_MB"], p["extra_MB"]))
PY
fi

echo
echo "== xai merge: per-rank shards (ShardWriter) -> results.h5, size against raw float32"
"$BUILD/tests/bench_merge" --samples "${MERGE_SAMPLES:-10000}" --tokens "${MERGE_T:-512}" \
  --methods "${MERGE_METHODS:-10}" --ranks "${MERGE_RANKS:-4}"

echo
echo "== xai scaling (the AtMan paper's Fig. 5): seconds and peak MB per explanation on synthetic"
echo "   GPT-J-shaped models; larger shapes planned only, against a 24 GB budget"
"$BUILD/tests/bench_scaling" --threads "$THREADS" --T "${SCALING_TS:-128,256,512}" \
  --sizes "${SCALING_SIZES:-4x256,6x512,12x768}" \
  --plan-sizes "${SCALING_PLAN_SIZES:-24x1024,24x2048,28x4096,40x5120,48x7168}" \
  --dtype "${SCALING_DTYPE:-float32}" --budget 24GB --dir "${SCALING_DIR:-out/bench-scaling}"

echo
echo "== xai memory planner: estimate vs measured peak per explanation (synthetic models)"
scripts/bench_memory_plan.sh "$BUILD"

echo
echo "== xai tensor parallelism: one GPT-2-medium-shaped model over k ranks x threads, the same cores"
if command -v mpirun > /dev/null && [ -x "$BUILD/tests/bench_tensor_parallel" ]; then
  # --bind-to none: OpenMPI binds a rank of a small job to one core, which would halve k = 1.
  MPI=(mpirun --oversubscribe --bind-to none); [ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
  "${MPI[@]}" -n 1 "$BUILD/tests/bench_tensor_parallel" --threads "$THREADS" --T "${TP_T:-512}"
  "${MPI[@]}" -n 2 "$BUILD/tests/bench_tensor_parallel" --threads $((THREADS > 1 ? THREADS / 2 : 1)) \
    --T "${TP_T:-512}" | tail -1
else
  echo "(skipped: no mpirun or no bench_tensor_parallel)"
fi
