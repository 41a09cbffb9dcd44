#!/usr/bin/env bash
# Image classifiers through the user entry points, end to end:
#   1. `xai make-toy-data --task shapes` writes images, masks and a JSONL index;
#   2. `xai predict --image` on the toy ViT names the shape first (text and JSON); a text prompt
#      to an image model, and an image to a text model, are one-line errors;
#   3. `xai explain --image --overlay` on every method: one score per patch, an 8x8 grid, the
#      overlay PNG written;
#   4. `xai run` on the JSONL index with one truncated and one missing image: the bad samples are
#      recorded as failed, the others explained, the overlays written;
#   5. configs/images.yaml on 5 images: a summary row per explainer, no failure.
# usage: images.sh XAI OUT_DIR   (run from the repository root)
set -euo pipefail
xai=$1
out=$2
fail() { echo "images.sh: $*" >&2; exit 1; }
vit=datasets/toy/models/toy_vit
rm -rf "$out"
mkdir -p "$out"

"$xai" make-toy-data "$out/shapes" --task shapes --n 6 --split test >/dev/null ||
  fail "make-toy-data --task shapes failed"
[ "$(wc -l <"$out/shapes/index.jsonl")" -eq 6 ] || fail "index.jsonl has not 6 lines"
first=$(sed -n '1s/.*"image":"\([^"]*\)".*"label":"\([a-z]*\)".*/\1 \2/p' "$out/shapes/index.jsonl")
img="$out/shapes/${first% *}"
label=${first#* }
[ -f "$img" ] || fail "no image $img"

pred=$("$xai" predict --model "$vit" --image "$img") || fail "xai predict --image failed"
grep -Eq "^ +1\. '$label' +p = 0\.9" <<<"$pred" || fail "predict: $label is not first: $pred"
json=$("$xai" predict --model "$vit" --image "$img" --json) || fail "predict --image --json failed"
[ "$(grep -c '"label":' <<<"$json")" -eq 4 ] || fail "predict --json: not 4 classes: $json"
grep -q "\"predicted\": \"$label\"" <<<"$json" || fail "predict --json: not $label: $json"
err=$("$xai" predict --model "$vit" --prompt "a circle" 2>&1 || true)
grep -q "is an image model (vit): give --image PATH" <<<"$err" || fail "text to ViT: $err"
err=$("$xai" predict --model datasets/toy/models/toy_bert --image "$img" 2>&1 || true)
grep -q "predict: --image needs an image model" <<<"$err" || fail "image to BERT: $err"
printf 'not an image' >"$out/bad.png"
err=$("$xai" predict --model "$vit" --image "$out/bad.png" 2>&1 || true)
grep -q "$out/bad.png: not a PNG or JPEG image" <<<"$err" || fail "bad image: $err"
[ "$(wc -l <<<"$err")" -eq 1 ] || fail "bad image: not one line: $err"

methods="atman attnlrp chefer_lrp attention rollout chefer attattr saliency input_x_gradient integrated_gradients occlusion random"
for m in $methods; do
  extra=()
  case $m in integrated_gradients|attattr) extra=(--set steps=4) ;; esac
  json=$("$xai" explain --model "$vit" --image "$img" --target "$label" --method "$m" \
    "${extra[@]}" --overlay "$out/overlay_$m.png" --json) || fail "xai explain --image --method $m failed"
  [ "$(grep -c '"relevance":' <<<"$json")" -eq 65 ] || fail "explain --method $m: not 65 positions"
  grep -q '"grid": \[' <<<"$json" || fail "explain --method $m: no grid"
  [ -s "$out/overlay_$m.png" ] || fail "explain --method $m: no overlay"
done
text=$("$xai" explain --model "$vit" --image "$img" --target "$label" --method atman) ||
  fail "explain --image (text) failed"
grep -q "relevance per patch (8x8 grid" <<<"$text" || fail "explain --image: no grid: $text"

# A truncated image and a missing one among the good ones: recorded, the rest explained.
head -c 100 "$img" >"$out/shapes/truncated.png"
{
  echo '{"id": "cut", "image": "truncated.png", "label": "circle"}'
  echo '{"id": "gone", "image": "no-such.png", "label": "circle"}'
} >>"$out/shapes/index.jsonl"
cat >"$out/exp.yaml" <<YAML
name: images_cli
output: $out/run
models:
  - {name: toy_vit, path: $vit}
dataset: {type: jsonl, path: $out/shapes/index.jsonl}
explainers:
  - {name: atman}
  - {name: input_x_gradient}
outputs: {overlays: true}
runtime: {threads: 1, progress: off}
YAML
summary=$("$xai" run "$out/exp.yaml") || fail "xai run on the image index failed"
grep -Eq "^atman +toy_vit .* 6 +2( .*)?\$" <<<"$summary" || fail "run: not 6 done and 2 failed: $summary"
grep -q '"failures": 2' "$out/run/results.json" || fail "run: results.json has not 2 failures"
n=$(find "$out/run/overlays/toy_vit" -name '*.png' | wc -l)
[ "$n" -eq 12 ] || fail "run: $n overlays, not 12 (6 images x 2 explainers)"

summary=$("$xai" run configs/images.yaml --set dataset.limit=5 --set "output=$out/yaml" \
  --set runtime.progress=off) || fail "xai run configs/images.yaml failed"
grep -q "^method .* seg_mIoU  seg_AP  pos_acc  neg_acc" <<<"$summary" ||
  fail "images.yaml: no segmentation and perturbation columns: $summary"
grep -q '"perturbation": {' "$out/yaml/results.json" || fail "images.yaml: no perturbation summary"
grep -q '"pruning": {' "$out/yaml/results.json" || fail "images.yaml: no pruning in results.json"
[ -s "$out/yaml/pruning_toy_vit.svg" ] || fail "images.yaml: no pruning_toy_vit.svg"
err=$("$xai" run configs/images.yaml --set 'metrics.perturbation={steps: 1}' --set "output=$out/bad" 2>&1 || true)
grep -q "metrics.perturbation.steps: must be 2 to 100" <<<"$err" || fail "steps 1: $err"
err=$("$xai" run configs/images.yaml --set 'metrics.pruning={explainer: nope}' --set "output=$out/bad" 2>&1 || true)
grep -q "metrics.pruning: ranks heads by explainer 'nope'" <<<"$err" || fail "pruning nope: $err"
names=$(sed -n 's/^  - name: *\([a-z_]*\).*/\1/p' configs/images.yaml)
[ "$(wc -w <<<"$names")" -ge 12 ] || fail "found only $(wc -w <<<"$names") explainers"
for name in $names; do
  grep -Eq "^$name +toy_vit .* 5 +0( .*)?\$" <<<"$summary" ||
    fail "no row '$name toy_vit' with 5 samples and 0 failed in:
$summary"
done
echo "images.sh: $(wc -w <<<"$methods") methods on the toy ViT; a JSONL index with 2 bad images; images.yaml: $(wc -w <<<"$names") explainers, 5 images each, no failure"
