#!/usr/bin/env bash
# The demo's report in a real browser (ctest report.browser): runs configs/demo.yaml on a few
# samples, writes the report, opens it in headless Chromium (Debian's `chromium`), and fails on
# any console message or script error, on a page that did not finish drawing, or on a missing
# table or plot; keeps a screenshot as the test's artefact.
#   tests/cli/report_browser.sh XAI_BINARY WORK_DIR ARTEFACT_DIR
set -euo pipefail
xai=$1 work=$2 artefacts=$3
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "report.browser: no chromium (HINT: make test installs it: scripts/deps.sh browser)" >&2
  exit 1
fi
rm -rf "$work" && mkdir -p "$work" "$artefacts"
"$xai" run configs/demo.yaml --set output="$work/demo" --set dataset.limit=6 \
  --set runtime.progress=off > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
"$xai" report "$work/demo" > "$work/report.log"
page="$work/demo/report.html"
grep -q "report: $page" "$work/report.log"
# --out and --samples: another file, 2 samples per model with a per-sample view.
"$xai" report "$work/demo" --out "$work/two.html" --samples 2 > /dev/null
[ "$(grep -o '"samples_shown":2' "$work/two.html" | wc -l)" -eq 2 ] || {
  echo "report.browser: --samples 2 did not cap the per-sample views" >&2; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
       --user-data-dir="$work/profile" --enable-logging=stderr --v=0)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" > "$work/dom.html" 2> "$work/console.log"
timeout 120 "$browser" "${flags[@]}" --window-size=1400,2400 \
  --screenshot="$artefacts/report_demo.png" "file://$page" > /dev/null 2>> "$work/console.log"

fail() { echo "report.browser: $*" >&2; exit 1; }
# Chromium prints every console message of the page (console.error, uncaught errors) as CONSOLE.
if grep -q "CONSOLE" "$work/console.log"; then
  grep "CONSOLE" "$work/console.log" >&2
  fail "the page wrote to the console"
fi
grep -q 'data-rendered="ok"' "$work/dom.html" || fail "the page did not finish drawing"
if grep -q '<pre id="xai-errors">' "$work/dom.html"; then  # shown: it holds an error
  sed -n '/<pre id="xai-errors">/,/<\/pre>/p' "$work/dom.html" >&2
  fail "the page's script reported an error"
fi
# The tables and plots exist, with content: the summary's rows (2 models x 14 explainers), the
# box plot, the three curves, the heatmap, the cost bars, samples with heat-coloured tokens, the
# paired tests and the provenance.
count() { grep -o "$1" "$work/dom.html" | wc -l; }
for id in summary-table plot-box plot-curves plot-corr plot-cost samples-list comparisons-table \
          provenance-table config; do
  grep -q "id=\"$id\"" "$work/dom.html" || fail "no #$id in the page"
done
summary_rows=$(awk 'BEGIN { RS = "</table>" } /id="summary-table"/ { print; exit }' "$work/dom.html" |
  grep -o '<tr' | wc -l)
[ "$summary_rows" -eq 29 ] || fail "the summary table has $summary_rows rows, not 1 + 28"
[ "$(count 'class="boxplot"')" -eq 1 ] || fail "no box plot"
[ "$(count 'class="curve"')" -eq 3 ] || fail "not the three deletion/insertion curves"
[ "$(count '<polyline')" -ge 30 ] || fail "curves without their 14 lines each"
[ "$(count 'class="heatmap"')" -eq 1 ] || fail "no correlation heatmap"
[ "$(count 'class="bars"')" -eq 2 ] || fail "not the time and memory bars"
[ "$(count 'class="sample"')" -eq 4 ] || fail "not 4 samples on the first page"
[ "$(count 'class="tok')" -ge 400 ] || fail "too few tokens drawn"
[ "$(count 'background: rgba')" -ge 100 ] || fail "tokens without heat colours"
[ "$(count 'class="tok seg')" -ge 16 ] || fail "atman_sentence's segments are not marked"
png_bytes=$(stat -c %s "$artefacts/report_demo.png")
[ "$png_bytes" -gt 50000 ] || fail "screenshot of $png_bytes bytes: blank?"
echo "report.browser: ok; page $page ($(stat -c %s "$page") bytes), screenshot $artefacts/report_demo.png"
