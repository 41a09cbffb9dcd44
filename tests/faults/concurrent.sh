#!/usr/bin/env bash
# Concurrent runs: while a run lives, a second run on its folder (with or without --resume) and an
# 'xai merge' are refused at once, naming the running job; the first run's results are untouched
# and equal a run that was alone. After it ends, a run without --resume is told to add it.
# usage: concurrent.sh XAI COMPARE OUT_DIR
set -euo pipefail
xai=$1; compare=$2; d=$3
. "$(dirname "$0")/common.sh"
yaml=tests/fixtures/experiments/tiny.yaml
limit=40
rm -rf "$d"; mkdir -p "$d"
"$xai" run "$yaml" --set output="$d/ref" --set dataset.limit=$limit > "$d/ref.log" 2>&1

"$xai" run "$yaml" --set output="$d/live" --set dataset.limit=$limit --set runtime.flush_every=1 \
  > "$d/first.log" 2>&1 &
first=$!
tries=0
until [ -s "$d/live/.xai-lock" ] && [ "$(journal_lines "$d/live")" -ge 2 ]; do
  kill -0 $first 2>/dev/null || fail "the first run ended before the others could try (raise limit)"
  tries=$((tries + 1)); [ $tries -le 600 ] || fail "the first run made no progress in 60 s"
  sleep 0.1
done
for args in "" "--resume"; do
  rc=0
  # shellcheck disable=SC2086
  timeout 30 "$xai" run "$yaml" --set output="$d/live" --set dataset.limit=$limit $args \
    > "$d/second.log" 2>&1 || rc=$?
  expect_clean_error "$d/second.log" $rc "in use by a running job \(pid $first on .*, xai run tiny, since "
done
rc=0
timeout 30 "$xai" merge "$d/live" > "$d/merge.log" 2>&1 || rc=$?
expect_clean_error "$d/merge.log" $rc "in use by a running job \(pid $first "
wait $first || fail "the first run failed: $(cat "$d/first.log")"
"$compare" "$d/ref/results.h5" "$d/live/results.h5"
rc=0
"$xai" run "$yaml" --set output="$d/live" --set dataset.limit=$limit > "$d/after.log" 2>&1 || rc=$?
expect_clean_error "$d/after.log" $rc "holds the shards of an earlier run. HINT: add --resume"
echo "a second run and a merge on a live folder were refused naming pid $first; the first run's results are its own"
