#!/usr/bin/env bash
# A changed checkpoint or explainer setting at --resume: refused, naming each change, with the
# folder untouched; --resume --allow-changed goes on and the results record what differed. The
# same checkpoint copied elsewhere resumes as the same one.
# usage: changed_checkpoint.sh XAI COMPARE OUT_DIR
set -euo pipefail
xai=$1; compare=$2; d=$3
. "$(dirname "$0")/common.sh"
yaml=tests/fixtures/experiments/tiny.yaml
rm -rf "$d"; mkdir -p "$d"
"$xai" run "$yaml" --set output="$d/ref" --set dataset.limit=4 > "$d/ref.log" 2>&1
"$xai" run "$yaml" --set output="$d/run" --set dataset.limit=2 > /dev/null 2>&1
before=$(cat "$d/run/shards/"*.journal | md5sum)

rc=0
"$xai" run "$yaml" --set output="$d/run" --set dataset.limit=4 --resume \
  --set models[0].path=datasets/toy/models/toy_gpt2 > "$d/weights.log" 2>&1 || rc=$?
expect_clean_error "$d/weights.log" $rc "cannot resume: .*model 'gpt2': its weights differ, its config.json differs, its tokenizer differs \(the shards used tests/fixtures/models/gpt2, this run datasets/toy/models/toy_gpt2\).*--allow-changed"
rc=0
"$xai" run "$yaml" --set output="$d/run" --set dataset.limit=4 --resume \
  --set 'explainers[0].factor=0.3' > "$d/params.log" 2>&1 || rc=$?
expect_clean_error "$d/params.log" $rc "explainer 'atman': its parameters were .*\"factor\":0.1.*now .*\"factor\":0.3"
[ "$(cat "$d/run/shards/"*.journal | md5sum)" = "$before" ] || fail "a refused resume changed the folder"

# The same weights in another folder are the same checkpoint.
cp -r tests/fixtures/models/gpt2 "$d/gpt2-copy"
"$xai" run "$yaml" --set output="$d/run" --set dataset.limit=4 --resume \
  --set models[0].path="$d/gpt2-copy" > "$d/copy.log" 2>&1 || { cat "$d/copy.log"; fail "a copy of the checkpoint was refused"; }
"$compare" "$d/ref/results.h5" "$d/run/results.h5"

# Asked for explicitly: it goes on, and results.json says what differed.
"$xai" run "$yaml" --set output="$d/run" --set dataset.limit=6 --resume --allow-changed \
  --set 'explainers[0].factor=0.3' > "$d/allowed.log" 2>&1 || { cat "$d/allowed.log"; fail "--allow-changed was refused"; }
grep -q "resuming across a change (--allow-changed): explainer 'atman'" "$d/allowed.log" || fail "the accepted change was not said"
grep -q '"resumed_across_changes": "explainer' "$d/run/results.json" || fail "results.json does not record the change"
echo "changed weights and parameters were refused naming each change; a copy resumed; --allow-changed recorded it"
