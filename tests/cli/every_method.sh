#!/usr/bin/env bash
# Every explainer through the two user entry points, end to end:
#   1. `xai explain --method M` on the GPT-2 fixture, for every method `xai` registers;
#   2. configs/demo.yaml (what `make demo` runs) on its first 2 questions: each explainer of the
#      file gets a summary row per model with 2 samples and no failure.
# usage: every_method.sh XAI OUT_DIR   (run from the repository root)
set -euo pipefail
xai=$1
out=$2
fail() { echo "every_method.sh: $*" >&2; exit 1; }

methods="atman attnlrp chefer_lrp attention rollout chefer attattr saliency input_x_gradient integrated_gradients occlusion random"
for m in $methods; do
  extra=()
  case $m in integrated_gradients|attattr) extra=(--set steps=2) ;; esac
  json=$("$xai" explain --model tests/fixtures/models/gpt2 --prompt "Mara lives in Oslo. Where does Mara live?" \
    --target " Oslo" --method "$m" "${extra[@]}" --json) || fail "xai explain --method $m failed"
  grep -q "\"method\": \"$m\"" <<<"$json" || fail "xai explain --method $m: no method in the JSON"
  grep -q '"matmul_gflops":' <<<"$json" || fail "xai explain --method $m: no machine in the costs"
  [ "$(grep -c '"relevance":' <<<"$json")" -gt 5 ] || fail "xai explain --method $m: no relevance per token"
done
# The registry and this list agree: an unknown method's error names every registered one.
known=$("$xai" explain --model tests/fixtures/models/gpt2 --prompt x --target " y" --method nope 2>&1 || true)
for m in $methods; do grep -q "$m" <<<"$known" || fail "'$m' is not among the methods xai names: $known"; done

# The BOS that llama_gqa's tokenizer adds gets no score from any method unless asked for; the
# text output says so, and says what the signed column means.
for m in atman chefer input_x_gradient; do
  json=$("$xai" explain --model tests/fixtures/models/llama_gqa --prompt "Mara lives in Oslo." \
    --target " Oslo" --method "$m" --json) || fail "xai explain --method $m on llama_gqa failed"
  first=$(grep -A8 '"position": 0,' <<<"$json")
  grep -q '"explained": false' <<<"$first" || fail "$m: the BOS is explained: $first"
  grep -q '"relevance": null' <<<"$first" || fail "$m: the BOS has a relevance: $first"
  json=$("$xai" explain --model tests/fixtures/models/llama_gqa --prompt "Mara lives in Oslo." \
    --target " Oslo" --method "$m" --json --explain-special-tokens) || fail "$m --explain-special-tokens failed"
  first=$(grep -A8 '"position": 0,' <<<"$json")
  grep -q '"explained": true' <<<"$first" || fail "$m --explain-special-tokens: the BOS is not explained"
  grep -Eq '"relevance": [-0-9]' <<<"$first" || fail "$m --explain-special-tokens: no BOS relevance"
done
text=$("$xai" explain --model tests/fixtures/models/llama_gqa --prompt "Mara lives in Oslo." \
  --target " Oslo" --no-color) || fail "xai explain (text) failed"
grep -Eq "^settings: kappa 0.7 \(correlated\), square over targets" <<<"$text" || fail "no settings line: $text"
grep -Eq "^ +0 +'.*' +- +- +\(special token, not explained\)" <<<"$text" || fail "BOS row: $text"
grep -q "^signed: .*> 0 the token supports the target" <<<"$text" || fail "no sign line: $text"

rm -rf "$out"
summary=$("$xai" run configs/demo.yaml --set dataset.limit=2 --set "output=$out" \
  --set runtime.progress=off) || fail "xai run configs/demo.yaml failed"
names=$(sed -n 's/^  - name: *\([a-z_]*\).*/\1/p' configs/demo.yaml)
[ "$(wc -w <<<"$names")" -ge 12 ] || fail "found only $(wc -w <<<"$names") explainers in configs/demo.yaml"
for model in toy_gpt2 toy_llama; do
  for name in $names; do
    grep -Eq "^$name +$model .* 2 +0( .*)?\$" <<<"$summary" ||
      fail "no row '$name $model' with 2 samples and 0 failed in:
$summary"
  done
done
echo "every_method.sh: $(wc -w <<<"$methods") methods explained; demo.yaml: $(wc -w <<<"$names") explainers x 2 models, 2 samples each, no failure"
