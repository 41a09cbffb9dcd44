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
"$BUILD/tests/bench_atman" --threads "$THREADS" --T "$TS" --B "${B:-8}"

echo
echo "== xai explainers: seconds and peak extra memory per explanation, ratio to one forward"
# IG at 20 steps, the issue's target setting (its default is 50).
"$BUILD/tests/bench_methods" --threads "$THREADS" --T "${METHOD_TS:-256,512}" \
  --set "integrated_gradients.steps=${IG_STEPS:-20}"

echo
echo "== xai merge: per-rank shards (ShardWriter) -> results.h5, size against raw float32"
"$BUILD/tests/bench_merge" --samples "${MERGE_SAMPLES:-10000}" --tokens "${MERGE_T:-512}" \
  --methods "${MERGE_METHODS:-10}" --ranks "${MERGE_RANKS:-4}"
