#!/usr/bin/env bash
# Segments through `xai explain`, end to end on the toy GPT-2:
#   1. --generate 3 --granularity sentence (AtMan, single-token suppression): the answer the model
#      generates, the context's sentences as segments, and the sentence that holds the answer the
#      most relevant one (the longest bar of the table);
#   2. --json lists the segments with their byte spans, the text at those bytes of the prompt;
#   3. every method runs at word granularity (a segment's scores summed for the gradient ones);
#   4. a granularity that does not exist is a one-line error naming the option.
# usage: segments.sh XAI   (run from the repository root)
set -euo pipefail
xai=$1
fail() { echo "segments.sh: $*" >&2; exit 1; }
toy=datasets/toy/models/toy_gpt2
prompt=$(printf 'Mara lives in Oslo. Ben works in Lima. Mara works in Rome.\nQuestion: Where does Mara work?\nAnswer:')

out=$("$xai" explain --model "$toy" --prompt "$prompt" --generate 3 --granularity sentence \
  --set kappa=off --no-color) || fail "explain --granularity sentence failed"
grep -q "generated 3 token(s) (stopped by length): ' Rome" <<<"$out" || fail "no answer: $out"
grep -q "^5 sentence segments:" <<<"$out" || fail "not 5 sentences: $out"
top=$(grep -E "'[^']*' +[0-9.e+-]+ +[+-][0-9.e+-]+ +#{30}$" <<<"$out") || fail "no longest bar: $out"
grep -q "'Mara works in Rome.'" <<<"$top" || fail "the answer's sentence is not the most relevant: $top"
grep -q "settings: single-token, square over targets, sentence segments" <<<"$out" ||
  fail "the settings line does not name the granularity: $out"

json=$("$xai" explain --model "$toy" --prompt "$prompt" --target " Rome" --granularity sentence \
  --json) || fail "explain --json failed"
grep -q '"granularity": "sentence"' <<<"$json" || fail "--json: no granularity"
[ "$(grep -c '"index": ' <<<"$json")" -eq 5 ] || fail "--json: not 5 segments"
# The third sentence: bytes 39..58 of the prompt.
grep -A3 '"index": 2' <<<"$json" | tr -d '\n' | grep -Eq '"text": "Mara works in Rome.", +"begin": 39, +"end": 58' ||
  fail "--json: the third segment is not bytes 39..58: $(grep -A4 '"index": 2' <<<"$json")"
grep -q '"segment_relevance"' <<<"$json" && fail "--json: the segment extras are listed twice"

for m in atman attnlrp chefer_lrp attention rollout chefer attattr saliency input_x_gradient \
  integrated_gradients occlusion random; do
  extra=()
  case $m in integrated_gradients | attattr) extra=(--set steps=4) ;; esac
  out=$("$xai" explain --model "$toy" --prompt "$prompt" --target " Rome" --method "$m" \
    --granularity word "${extra[@]}" --no-color) || fail "explain --method $m --granularity word failed"
  grep -q "^24 word segments:" <<<"$out" || fail "$m: not 24 words: $(grep segments <<<"$out")"
done

if err=$("$xai" explain --model "$toy" --prompt "$prompt" --target " Rome" --granularity lines 2>&1); then
  fail "an unknown granularity was accepted"
fi
[ "$(wc -l <<<"$err")" -eq 1 ] || fail "the error is not one line: $err"
grep -q "explain: --granularity: granularity 'lines' is not one of token, word, sentence" <<<"$err" ||
  fail "the error does not name the option: $err"
echo "segments.sh: ok"
