#!/usr/bin/env bash
# Encoder classifiers through the user entry points, end to end:
#   1. `xai predict` on a classifier prints every class with its probability (text and JSON);
#   2. `xai explain --target LABEL` on the toy BERT, every method: the class is the target, the
#      cue word that decides it is the most relevant token for the methods that find it, and an
#      unknown class is a one-line error naming the classes;
#   3. configs/encoders.yaml on 5 texts (toy BERT) and 5 images (toy ViT, its own dataset): a
#      summary row per explainer and model, no failure, pruning and trees for both.
# usage: encoders.sh XAI OUT_DIR   (run from the repository root)
set -euo pipefail
xai=$1
out=$2
fail() { echo "encoders.sh: $*" >&2; exit 1; }
toy=datasets/toy/models/toy_bert
text="the film was truly wonderful and the dog"

pred=$("$xai" predict --model "$toy" --prompt "$text") || fail "xai predict failed"
grep -Eq "^ +1\. 'positive' +p = 0\.9" <<<"$pred" || fail "predict: positive is not first: $pred"
for c in negative neutral positive; do grep -q "'$c'" <<<"$pred" || fail "predict: no class $c"; done
json=$("$xai" predict --model tests/fixtures/models/bert --prompt "the cat sat" --json) ||
  fail "xai predict --json failed"
[ "$(grep -c '"label":' <<<"$json")" -eq 3 ] || fail "predict --json: not 3 classes: $json"
grep -q '"predicted":' <<<"$json" || fail "predict --json: no predicted class"

methods="atman attnlrp chefer_lrp attention rollout chefer attattr saliency input_x_gradient integrated_gradients occlusion random"
for m in $methods; do
  extra=()
  case $m in integrated_gradients|attattr) extra=(--set steps=4) ;; esac
  json=$("$xai" explain --model "$toy" --prompt "$text" --target positive --method "$m" \
    "${extra[@]}" --json) || fail "xai explain --method $m failed"
  grep -q '"class_id": 2' <<<"$json" || fail "explain --method $m: not class 2: $json"
  grep -q '"targets": \[' <<<"$json" || fail "explain --method $m: no targets"
  [ "$(grep -c '"relevance":' <<<"$json")" -eq 10 ] || fail "explain --method $m: not 10 tokens"
done
for m in atman chefer input_x_gradient integrated_gradients attnlrp occlusion; do
  top=$("$xai" explain --model "$toy" --prompt "$text" --target positive --method "$m" --no-color |
    sed -n "s/^ *[0-9]\+ *'\([a-z]*\)' *\([0-9.e+-]*\) .*/\2 \1/p" | sort -g | tail -1)
  [ "${top##* }" = wonderful ] || fail "explain --method $m: the most relevant token is '$top'"
done
err=$("$xai" explain --model "$toy" --prompt "$text" --target happy 2>&1 || true)
grep -q "label 'happy' is not a class of the model (classes: negative, neutral, positive" <<<"$err" ||
  fail "unknown class: $err"
[ "$(wc -l <<<"$err")" -eq 1 ] || fail "unknown class: not one line: $err"

rm -rf "$out"
summary=$("$xai" run configs/encoders.yaml --set dataset.limit=5 --set 'models[1].dataset.limit=5' \
  --set "output=$out" --set runtime.progress=off) || fail "xai run configs/encoders.yaml failed"
grep -q "^method .* mAR_IQ  seg_acc  seg_mIoU  seg_AP  pos_acc  neg_acc" <<<"$summary" ||
  fail "encoders.yaml: no segmentation and perturbation columns: $summary"
grep -q '"pruning": {' "$out/results.json" || fail "encoders.yaml: no pruning in results.json"
grep -q "\"per_layer_by_importance\": \[" "$out/results.json" || fail "encoders.yaml: no per-layer pruning"
for model in toy_bert toy_vit; do
  [ -s "$out/pruning_$model.svg" ] || fail "encoders.yaml: no pruning_$model.svg"
  n=$(find "$out/trees/$model/attattr" -name '*.svg' | wc -l)
  [ "$n" -eq 5 ] || fail "encoders.yaml: $n attribution trees of $model, not 5"
  n=$(find "$out/trees/$model/attattr" -name '*.json' | wc -l)
  [ "$n" -eq 5 ] || fail "encoders.yaml: $n attribution trees of $model as JSON, not 5"
done
tree=$("$xai" explain --model "$toy" --prompt "$text" --target positive --method attattr \
  --set steps=4 --set tree=true --tree "$out/tree.svg") || fail "explain --tree failed"
grep -q "<line" "$out/tree.svg" || fail "explain --tree: no edge in $out/tree.svg"
"$xai" explain --model "$toy" --prompt "$text" --target positive --method attattr \
  --set steps=4 --set tree=true --tree "$out/tree.json" > /dev/null || fail "explain --tree json"
grep -q '"top_token": "wonderful"' "$out/tree.json" || fail "explain --tree OUT.json: $(cat "$out/tree.json")"
names=$(sed -n '/^explainers:/,/^metrics:/s/^  - name: *\([a-z_]*\).*/\1/p' configs/encoders.yaml)
[ "$(wc -w <<<"$names")" -ge 12 ] || fail "found only $(wc -w <<<"$names") explainers"
for name in $names; do
  for model in toy_bert toy_vit; do
    grep -Eq "^$name +$model .* 5 +0( .*)?\$" <<<"$summary" ||
      fail "no row '$name $model' with 5 samples and 0 failed in:
$summary"
  done
done
echo "encoders.sh: $(wc -w <<<"$methods") methods on the toy BERT; encoders.yaml: $(wc -w <<<"$names") explainers, 5 texts and 5 images each, no failure"
