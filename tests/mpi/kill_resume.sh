#!/bin/sh
# Kill test: a 2-rank run loses one rank to SIGKILL midway; resuming with 1 rank and with 3 ranks
# gives results equal to an uninterrupted run, and no journal lists a sample twice.
# usage: kill_resume.sh XAI COMPARE OUT_DIR EXPERIMENT.yaml MPIEXEC [MPIEXEC ARGS...]
set -eu
xai=$1; compare=$2; d=$3; yaml=$4; shift 4
limit=30
rm -rf "$d"; mkdir -p "$d"
"$xai" run "$yaml" --set output="$d/ref" --set dataset.limit=$limit > "$d/ref.log" 2>&1

"$@" -n 2 "$xai" run "$yaml" --set output="$d/run" --set dataset.limit=$limit \
  --set runtime.flush_every=1 > "$d/run.log" 2>&1 &
launcher=$!
# Wait until some samples are journaled, then SIGKILL one rank (a child of the launcher).
tries=0
while :; do
  lines=$(cat "$d"/run/shards/*.journal 2>/dev/null | wc -l)
  [ "$lines" -ge 6 ] && break
  kill -0 $launcher 2>/dev/null || { echo "the run ended before the kill (raise limit)"; exit 1; }
  tries=$((tries + 1)); [ $tries -le 1200 ] || { echo "no progress in 60 s"; kill $launcher; exit 1; }
  sleep 0.05
done
victim=$(pgrep -P $launcher | head -n 1)
[ -n "$victim" ] || { echo "no rank process found under launcher $launcher"; exit 1; }
kill -9 "$victim"
if wait $launcher; then echo "the launcher reported success after a rank was killed"; exit 1; fi
echo "killed rank pid $victim after $lines journal lines"
[ ! -e "$d/run/results.h5" ] || { echo "a killed run must not leave merged results"; exit 1; }

cp -r "$d/run" "$d/run3"
"$xai" run "$yaml" --set output="$d/run" --set dataset.limit=$limit --resume > "$d/resume1.log" 2>&1
"$@" -n 3 "$xai" run "$yaml" --set output="$d/run3" --set dataset.limit=$limit --resume \
  > "$d/resume3.log" 2>&1
for r in run run3; do
  dups=$(cat "$d/$r"/shards/*.journal | sort | uniq -d | wc -l)
  [ "$dups" -eq 0 ] || { echo "$r: $dups samples journaled twice"; exit 1; }
  total=$(cat "$d/$r"/shards/*.journal | wc -l)
  [ "$total" -eq $((2 * limit)) ] || { echo "$r: $total journal lines, expected $((2 * limit))"; exit 1; }
  "$compare" "$d/ref/results.h5" "$d/$r/results.h5"
done
