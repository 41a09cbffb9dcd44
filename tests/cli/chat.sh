#!/usr/bin/env bash
# Conversations through `xai explain --messages`, end to end on the toy GPT-2 given a chat
# template (a copy of its folder with a tokenizer_config.json):
#   1. the rendered prompt starts with the template's BOS and holds no second one; only the user
#      turn's tokens are explained (the system turn and the template's text are not), and the
#      answer's token there is the most relevant;
#   2. --json carries every token's id and `explained`;
#   3. --generate works on a conversation;
#   4. a model without a chat template, and --messages with --prompt, are one-line errors.
# usage: chat.sh XAI WORK_DIR   (run from the repository root)
set -euo pipefail
xai=$1 work=$2
fail() { echo "chat.sh: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/model"
cp datasets/toy/models/toy_gpt2/{config.json,model.safetensors,tokenizer.json} "$work/model/"
cat > "$work/model/tokenizer_config.json" <<'JSON'
{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
 "chat_template": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] | trim }}\n{% elif m['role'] == 'user' %}{{ m['content'] | trim }}\nQuestion: Where does Mara work?\n{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Answer:' }}{% endif %}"}
JSON
cat > "$work/messages.json" <<'JSON'
[{"role": "system", "content": "Leo works in Perth."},
 {"role": "user", "content": " Mara lives in Oslo. Ben works in Lima. Mara works in Rome. "}]
JSON

out=$("$xai" explain --model "$work/model" --messages "$work/messages.json" --target " Rome" \
  --set kappa=off --no-color) || fail "explain --messages failed"
[ "$(grep -c "'<|endoftext|>'" <<<"$out")" -eq 1 ] || fail "not one BOS: $out"
grep -Eq "^ +1 +'Leo' +- +- +\(not explained\)" <<<"$out" || fail "the system turn is explained: $out"
grep -Eq "^ +[0-9]+ +'Question' +- +- +\(not explained\)" <<<"$out" || fail "template text explained"
top=$(grep -E "#{30}$" <<<"$out") || fail "no longest bar: $out"
grep -q "' Rome'" <<<"$top" || fail "the answer's token is not the most relevant: $top"

json=$("$xai" explain --model "$work/model" --messages "$work/messages.json" --target " Rome" \
  --method saliency --json) || fail "explain --messages --json failed"
[ "$(grep -c '"explained": true' <<<"$json")" -eq 16 ] ||
  fail "not the user turn's 16 tokens explained: $(grep -c '"explained": true' <<<"$json")"
[ "$(grep -c '"id": ' <<<"$json")" -eq 34 ] || fail "not every token with its id"

out=$("$xai" explain --model "$work/model" --messages "$work/messages.json" --generate 2 \
  --no-color) || fail "explain --messages --generate failed"
grep -q "generated 2 token(s) (stopped by length): ' Rome" <<<"$out" || fail "no answer: $out"

if err=$("$xai" explain --model datasets/toy/models/toy_gpt2 --messages "$work/messages.json" \
  --target " Rome" 2>&1); then fail "a model without a chat template was accepted"; fi
[ "$(wc -l <<<"$err")" -eq 1 ] && grep -q "has no chat_template" <<<"$err" ||
  fail "no one-line error for a missing template: $err"
if err=$("$xai" explain --model "$work/model" --messages "$work/messages.json" --prompt x \
  --target " Rome" 2>&1); then fail "--messages with --prompt was accepted"; fi
grep -q "give --messages or --prompt, not both" <<<"$err" || fail "bad error: $err"
echo "chat.sh: ok"
