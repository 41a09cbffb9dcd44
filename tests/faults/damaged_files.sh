#!/usr/bin/env bash
# Damaged shard and journal between runs: a garbled journal line costs only the sample it named
# (the shard's other samples are kept), a truncated shard is set aside with a message, and either
# way --resume finishes equal to a run that never met the fault.
# usage: damaged_files.sh XAI COMPARE OUT_DIR
set -euo pipefail
xai=$1; compare=$2; d=$3
. "$(dirname "$0")/common.sh"
yaml=tests/fixtures/experiments/tiny.yaml
rm -rf "$d"; mkdir -p "$d"
"$xai" run "$yaml" --set output="$d/ref" --set dataset.limit=5 > "$d/ref.log" 2>&1

# A journal line garbled (a stray byte sequence where a key was).
"$xai" run "$yaml" --set output="$d/journal" --set dataset.limit=3 > /dev/null 2>&1
j="$d/journal/shards/rank-00000.journal"
total=$(wc -l < "$j")
sed -i '2s/.*/\\q\tbroken\tline/' "$j"
"$xai" run "$yaml" --set output="$d/journal" --set dataset.limit=5 --resume > "$d/journal.log" 2>&1 \
  || { cat "$d/journal.log"; fail "resume after a damaged journal line failed"; }
grep -q "damaged line(s) 2 dropped; the $((total - 1)) other finished samples are kept" "$d/journal.log" \
  || { cat "$d/journal.log"; fail "the damaged line was not said in user words"; }
grep -q "($((total - 1)) already done)" "$d/journal.log" || fail "the shard's other samples were not kept"
if grep -Eq "quarantine|scan_shards|set aside" "$d/journal.log"; then fail "the whole shard was set aside, or internals were named"; fi
"$compare" "$d/ref/results.h5" "$d/journal/results.h5"
echo "damaged journal line: $((total - 1)) of $total samples kept, the rest computed again"

# A truncated shard: set aside with its reason, its samples computed again.
"$xai" run "$yaml" --set output="$d/shard" --set dataset.limit=3 > /dev/null 2>&1
truncate -s 3000 "$d/shard/shards/rank-00000.h5"
"$xai" run "$yaml" --set output="$d/shard" --set dataset.limit=5 --resume > "$d/shard.log" 2>&1 \
  || { cat "$d/shard.log"; fail "resume after a truncated shard failed"; }
grep -q "damaged shard set aside: .*rank-00000.h5.corrupt-1" "$d/shard.log" || { cat "$d/shard.log"; fail "the truncated shard was not said"; }
[ -e "$d/shard/shards/rank-00000.h5.corrupt-1.reason" ] || fail "no reason file beside the set-aside shard"
"$compare" "$d/ref/results.h5" "$d/shard/results.h5"
echo "truncated shard: set aside with its reason; resume equals the reference"
