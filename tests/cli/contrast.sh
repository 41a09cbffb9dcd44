#!/usr/bin/env bash
# Contrastive explanations through `xai explain --foil`, end to end:
#   1. a language model (toy GPT-2): " Rome" against " Lima": the header says so, --json carries the
#      foil's ids, and AtMan's signed scores give the answer's city a positive and the foil's city
#      a negative score (suppressing it favours the answer over the foil);
#   2. a foil of another token count is a one-line error naming the sample;
#   3. a classifier (toy BERT): one class against another, by name.
# usage: contrast.sh XAI   (run from the repository root)
set -euo pipefail
xai=$1
fail() { echo "contrast.sh: $*" >&2; exit 1; }
toy=datasets/toy/models/toy_gpt2
prompt=$(printf 'Mara lives in Oslo. Ben works in Lima. Mara works in Rome.\nQuestion: Where does Mara work?\nAnswer:')

out=$("$xai" explain --model "$toy" --prompt "$prompt" --target " Rome" --foil " Lima" \
  --set kappa=off --no-color) || fail "explain --foil failed"
grep -q "^contrast: against the foil ' Lima' (1 token(s)): each score is f(target) - f(foil)" \
  <<<"$out" || fail "no contrast line: $out"
# The answer's city supports the contrast and the foil's city opposes it (its signed score < 0).
grep -Eq "^ +14 +' Rome' +[0-9.e+-]+ +\+[0-9]" <<<"$out" || fail "' Rome' does not support it: $out"
grep -Eq "^ +9 +' Lima' +[0-9.e+-]+ +-[0-9]" <<<"$out" || fail "' Lima' does not oppose it: $out"

json=$("$xai" explain --model "$toy" --prompt "$prompt" --target " Rome" --foil " Lima" \
  --method input_x_gradient --json) || fail "explain --foil --json failed"
grep -q '"foil": " Lima"' <<<"$json" || fail "--json: no foil"
grep -q '"foil_ids": \[' <<<"$json" || fail "--json: no foil_ids"
grep -q '"foils": \[' <<<"$json" || fail "--json: no foils"

if err=$("$xai" explain --model "$toy" --prompt "$prompt" --target " Rome" \
  --foil " Lima or Oslo" 2>&1); then
  fail "a foil of another length was accepted"
fi
[ "$(wc -l <<<"$err")" -eq 1 ] || fail "the error is not one line: $err"
grep -q "sample 'cli': the foil ' Lima or Oslo' encodes to 4 token(s) and the target to 1" \
  <<<"$err" || fail "the error does not say why: $err"

out=$("$xai" explain --model datasets/toy/models/toy_bert --prompt "the film was truly wonderful" \
  --target positive --foil negative --method saliency --no-color) ||
  fail "explain --foil on a classifier failed"
grep -q "contrast: against the foil 'negative'" <<<"$out" || fail "classifier: no contrast line: $out"
echo "contrast.sh: ok"
