#!/usr/bin/env bash
# End to end on a real one-node Slurm (tests/slurm/cluster.sh): xai submit of the demo experiment,
# a 4-point sweep on the toy models (job array + dependent collect job), a bad partition, and a
# sweep with one array task cancelled midway and resumed, compared with the uninterrupted sweep.
#   e2e.sh XAI COMPARE WORK_DIR        (run from the repository root, as root)
set -uo pipefail
XAI=${1:?usage: e2e.sh XAI COMPARE WORK_DIR}
COMPARE=${2:?}
W=${3:?}
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=$W/cluster
TIMEOUT=${XAI_SLURM_TEST_TIMEOUT:-240}

fail() { echo "FAIL: $*" >&2; exit 1; }
# Only a cluster this run started is cleaned up: with another run's cluster up (a second checkout's
# make test on the same machine), scancel would cancel that run's jobs.
ours=0
cleanup() {
  [ "$ours" = 1 ] || return 0
  scancel --quiet --user=root 2>/dev/null || true
  "$HERE/cluster.sh" stop "$STATE"
}
# Waits (at most TIMEOUT s) until the command succeeds.
wait_for() {
  local what=$1; shift
  for _ in $(seq $((TIMEOUT * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  squeue 2>&1 | sed 's/^/  squeue: /' >&2
  fail "timed out after ${TIMEOUT}s waiting for $what"
}
queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }
complete() { grep -q '"complete": true' "$1/results.json"; }
journal_lines() { cat "$1"/shards/*.journal 2>/dev/null | wc -l; }

rm -rf "$W"; mkdir -p "$W"
trap cleanup EXIT
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
  fail "a slurmctld or slurmd is already running on this machine (another run's cluster?); stop it first"
fi
ours=1
"$HERE/cluster.sh" start "$STATE" || fail "the Slurm cluster did not start (see above)"
echo "cluster up: $(sinfo -h -o '%P %D %c %T')"

# ---- 1. one experiment: xai submit --------------------------------------------------------------
out=$("$XAI" submit configs/demo.yaml --profile local --set dataset.limit=3 --set runtime.threads=1 \
      --out "$W/demo") || fail "xai submit: $out"
echo "$out"
echo "$out" | grep -q '^submitted job [0-9]' || fail "submit printed no job id"
wait_for "the demo job" complete "$W/demo"
test -s "$W/demo/results.h5" || fail "demo: no results.h5"
grep -q '"SLURM_JOB_ID"' "$W/demo/results.json" || fail "demo: no Slurm job id in the provenance"
"$XAI" status "$W/demo" | grep -q ' done ' || fail "status of the demo run is not done"

# ---- 2. bad input: nothing submitted --------------------------------------------------------------
before=$(squeue -h | wc -l)
if err=$("$XAI" submit configs/demo.yaml --profile local --partition no_such_part --out "$W/bad" 2>&1); then
  fail "a bad partition was accepted"
fi
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "bad partition: not one line: $err"
echo "$err" | grep -qi 'partition' || fail "bad partition: the error does not name it: $err"
[ "$(squeue -h | wc -l)" -eq "$before" ] || fail "bad partition: something was submitted"
err=$("$XAI" sweep configs/sweeps/toy.yaml --set max_concurent=2 2>&1) && fail "a misspelt sweep key was accepted"
echo "$err" | grep -q "did you mean 'max_concurrent'" || fail "misspelt sweep key: $err"

# ---- 3. an uninterrupted sweep: array + dependent collect ----------------------------------------
# The second explainer becomes attattr (about 0.15 s a sample on the toy models, 6 s a point), so
# the task cancelled in part 4 is reliably still running when scancel arrives (chefer finishes
# 40 samples in well under a second, faster than the poll).
SW=(--set grid.datasets[0].limit=40 --set set.runtime.flush_every=1
    --set grid.explainers[1].name=attattr --set grid.explainers[1].steps=40)
"$XAI" sweep configs/sweeps/toy.yaml --profile local "${SW[@]}" --set output="$W/a" \
  | tee "$W/a.log" || fail "xai sweep (a) failed"
grep -q 'submitted job array [0-9]* (4 tasks, --array=0-3%2) and collect job' "$W/a.log" \
  || fail "sweep (a): no array of 4 with a collect job"
wait_for "sweep (a) to be collected" test -s "$W/a/index.json"
wait_for "the queue to empty" queue_empty
[ "$(tail -n +2 "$W/a/results.csv" | wc -l)" -eq 4 ] || fail "sweep (a): results.csv has not 4 rows"
grep -q 'toy_llama-toy20-attattr' "$W/a/results.txt" || fail "sweep (a): results.txt lacks a point"
for d in "$W"/a/points/*/; do
  test -s "$d/results.h5" || fail "sweep (a): no $d/results.h5"
done

# ---- 4. the same sweep, one array task cancelled midway, then resumed ----------------------------
"$XAI" sweep configs/sweeps/toy.yaml --profile local "${SW[@]}" --set output="$W/b" \
  --max-concurrent 1 | tee "$W/b.log" || fail "xai sweep (b) failed"
array=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' "$W/b.log")
victim=$(sed -n 2p "$W/b/jobs/array-1.points")
running_midway() {
  squeue -h -o '%i %T' | grep -q "^${array}_1 RUNNING" && [ "$(journal_lines "$W/b/points/$victim")" -ge 2 ]
}
wait_for "array task ${array}_1 to be running with samples done" running_midway
scancel "${array}_1"
echo "cancelled ${array}_1 ($victim) after $(journal_lines "$W/b/points/$victim") samples"
wait_for "the queue to empty (the collect job dropped: afterok cannot be met)" queue_empty
complete "$W/b/points/$victim" && fail "the cancelled point has complete results"
"$XAI" status "$W/b" | tee "$W/b.status"
grep -q "$victim *| failed" "$W/b.status" || fail "status does not show the cancelled point as failed"
test -e "$W/b/index.json" && fail "the collect job ran although a task was cancelled"

"$XAI" sweep configs/sweeps/toy.yaml --profile local "${SW[@]}" --set output="$W/b" | tee "$W/b2.log" \
  || fail "re-running sweep (b) failed"
grep -q '4 points, 3 done, 1 to submit' "$W/b2.log" || fail "the re-run did not submit only the cancelled point"
wait_for "sweep (b) to be collected" test -s "$W/b/index.json"
wait_for "the queue to empty" queue_empty
"$XAI" status "$W/b" | grep -q '4 point(s): 4 done;' || fail "status after the re-run is not all done"
"$XAI" sweep configs/sweeps/toy.yaml --profile local "${SW[@]}" --set output="$W/b" | grep -q 'nothing to submit' \
  || fail "a finished sweep submitted again"

# ---- 5. equal to the uninterrupted sweep ----------------------------------------------------------
for d in "$W"/a/points/*/; do
  id=$(basename "$d")
  "$COMPARE" "$W/a/points/$id/results.h5" "$W/b/points/$id/results.h5" || fail "point $id differs"
done
# The table's metrics (not times, not paths) agree too.
cut -d, -f1-9 "$W/a/results.csv" > "$W/a.cut"; cut -d, -f1-9 "$W/b/results.csv" > "$W/b.cut"
cmp "$W/a.cut" "$W/b.cut" || fail "the collected tables differ"
echo "PASS: submit, bad partition, sweep with array + collect, cancel + resume == uninterrupted"
