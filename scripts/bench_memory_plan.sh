#!/usr/bin/env bash
# The memory planner's estimates against measured peaks (make bench): for each synthetic model
# shape and sequence length, `xai plan --measure` estimates every explainer's memory for one
# explanation, runs it once, and prints the estimate, the measured peak (resident memory beyond
# the weights, as `xai run` reports it) and their ratio.
#
#   scripts/bench_memory_plan.sh [BUILD_DIR]      TS=128,512,2048 SHAPES="gpt2 llama" to change
#
# JSON_DIR=DIR also keeps each point's `xai plan --measure --json` as DIR/SHAPE-T.json, the input
# of scripts/fit_memory_plan.py (which refits the coefficients).
set -euo pipefail
BUILD=${1:-build}
TS=${TS:-128,512}
THREADS=${THREADS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A SHAPE=(
  [gpt2]="{family: gpt2, layers: 4, hidden: 256, heads: 4, max_positions: 4096}"
  [llama]="{family: llama, layers: 3, hidden: 384, heads: 6, kv_heads: 2, vocab: 32000, max_positions: 4096}"
  [gpt_neox]="{family: gpt_neox, layers: 6, hidden: 512, heads: 8, max_positions: 4096}"
  [llama_mha]="{family: llama, layers: 2, hidden: 512, heads: 8, vocab: 32000, max_positions: 4096}"
  [gptj]="{family: gptj, layers: 4, hidden: 256, heads: 4, max_positions: 4096}"
)
for name in ${SHAPES:-gpt2 llama}; do
  for T in ${TS//,/ }; do
    # One prompt of T - 1 bytes (the byte tokenizer adds its BOS); AtMan explains its first
    # 12 bytes, which keeps the run short and is AtMan's largest batch (the longest suffix).
    awk -v n=$((T - 1)) 'BEGIN { srand(n); s = ""; for (i = 0; i < n; i++) s = s sprintf("%c", 97 + int(rand() * 26));
      printf "{\"id\": \"t%d\", \"prompt\": \"%s\", \"target\": \" q\", \"explain\": [[0, 12]]}\n", n + 1, s }' \
      > "$out/data.jsonl"
    cat > "$out/exp.yaml" <<Y
name: memory_plan
output: $out/run
models:
  - name: $name
    synthetic: ${SHAPE[$name]}
dataset: {type: jsonl, path: $out/data.jsonl}
explainers:
  - {name: atman_single, method: atman, kappa: off}
  - {name: atman}
  - {name: chefer}
  - {name: chefer_lrp}
  - {name: attattr, steps: 10}
  - {name: integrated_gradients, steps: 8}
  - {name: input_x_gradient}
  - {name: saliency}
  - {name: attention}
  - {name: rollout}
  - {name: attnlrp}
runtime: {threads: $THREADS}
Y
    echo "== $name ${SHAPE[$name]}, T = $T"
    if [[ -n "${JSON_DIR:-}" ]]; then
      mkdir -p "$JSON_DIR"
      "$BUILD/xai" plan "$out/exp.yaml" --measure --json > "$JSON_DIR/$name-$T.json"
      python3 "$(dirname "$0")/fit_memory_plan.py" --show "$JSON_DIR/$name-$T.json"
    else
      "$BUILD/xai" plan "$out/exp.yaml" --measure | sed -n '/^model .*estimate/,$p'
    fi
  done
done
