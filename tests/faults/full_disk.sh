#!/usr/bin/env bash
# Full disk: the run says so in one line naming the folder, exits non-zero without a crash, and
# keeps every sample it flushed before; --resume (with space again) keeps them and finishes, equal
# to a run that never met the fault. Three ways to fill the disk:
#   1. the fault layer (enospc_preload.c, any container): a byte budget for the output folder,
#      with the run's free-space reserve (runtime.disk_headroom_mb) on: the clean stop;
#   2. the same with the reserve and the check off (disk_headroom_mb: 0): the disk fills in the
#      middle of a flush; the run still says so and ends cleanly, and resume repairs or sets the
#      shard aside, never mixing or losing what the journal and the repaired shard agree on;
#   3. a real tmpfs of 1.6 MB (1 MB of it the reserve) when this machine lets us mount one (root; skipped otherwise).
# usage: full_disk.sh XAI COMPARE PRELOAD_SO OUT_DIR
set -euo pipefail
xai=$1; compare=$2; preload=$3; d=$4
. "$(dirname "$0")/common.sh"
yaml=tests/fixtures/experiments/tiny.yaml
limit=60
rm -rf "$d"; mkdir -p "$d"
"$xai" run "$yaml" --set output="$d/ref" --set dataset.limit=$limit > "$d/ref.log" 2>&1

# resume_and_compare OUT: resumes on a disk with space and compares with the reference.
resume_and_compare() {
  "$xai" run "$yaml" --set output="$1" --set dataset.limit=$limit --resume > "$1.resume.log" 2>&1 \
    || { cat "$1.resume.log"; fail "resume of $1 failed"; }
  "$compare" "$d/ref/results.h5" "$1/results.h5"
}

# 1. The fault layer with the reserve on: a clean stop before the shard is touched.
mkdir -p "$d/shim"
rc=0
XAI_FAULT_DIR="$d/shim" XAI_FAULT_BYTES=2500000 LD_PRELOAD="$preload" \
  "$xai" run "$yaml" --set output="$d/shim/o" --set dataset.limit=$limit \
  --set runtime.flush_every=1 --set runtime.disk_headroom_mb=1 > "$d/shim.log" 2>&1 || rc=$?
expect_clean_error "$d/shim.log" $rc "no space left on device \(.* free where $d/shim/o/shards is\)"
saved=$(journal_lines "$d/shim/o")
[ "$saved" -ge 1 ] || fail "nothing was saved before the disk filled (raise the budget)"
[ "$saved" -lt $((2 * limit)) ] || fail "the run finished: the disk never filled (lower the budget)"
grep -q "the $saved sample(s) saved before by this run are kept" "$d/shim.log" \
  || fail "the message does not count the $saved saved samples"
[ ! -e "$d/shim/o/shards/rank-00000.flushing" ] || fail "the clean stop left a flush unfinished"
resume_and_compare "$d/shim/o"
grep -q "($saved already done)" "$d/shim/o.resume.log" || { cat "$d/shim/o.resume.log"; fail "resume did not keep the $saved saved samples"; }
if grep -Eq "set aside|repaired" "$d/shim/o.resume.log"; then fail "the clean stop damaged the shard"; fi
echo "fault layer, reserve on: stopped cleanly with $saved samples saved; resume kept them all"

# 2. The same without the reserve: the disk fills inside a flush.
for budget in 700000 3000000; do
  o="$d/mid$budget"
  mkdir -p "$o"
  rc=0
  XAI_FAULT_DIR="$o" XAI_FAULT_BYTES=$budget LD_PRELOAD="$preload" \
    "$xai" run "$yaml" --set output="$o/o" --set dataset.limit=$limit \
    --set runtime.flush_every=2 --set runtime.disk_headroom_mb=0 > "$o.log" 2>&1 || rc=$?
  expect_clean_error "$o.log" $rc "no space left on device"
  saved=$(journal_lines "$o/o")
  resume_and_compare "$o/o"
  kept=$(sed -n 's/.*(\([0-9]*\) already done).*/\1/p' "$o/o.resume.log"); kept=${kept:-0}
  echo "fault layer, reserve off, budget $budget: $saved journaled at the fault, $kept kept by resume ($(grep -oE 'repaired|set aside' "$o/o.resume.log" | head -1 || echo intact))"
done

# 3. A real small tmpfs, where mounting one is allowed.
mnt="$d/tmpfs"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=1600k tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null || true' EXIT
  rc=0
  "$xai" run "$yaml" --set output="$mnt/o" --set dataset.limit=120 \
    --set runtime.flush_every=1 --set runtime.disk_headroom_mb=1 > "$d/tmpfs.log" 2>&1 || rc=$?
  expect_clean_error "$d/tmpfs.log" $rc "no space left on device \(.* free where $mnt/o/shards is\)"
  saved=$(journal_lines "$mnt/o")
  [ "$saved" -ge 1 ] || fail "tmpfs: nothing was saved"
  cp -r "$mnt/o" "$d/tmpfs-o"
  umount "$mnt"; trap - EXIT
  "$xai" run "$yaml" --set output="$d/tmpfs-o" --set dataset.limit=120 --resume \
    > "$d/tmpfs-o.resume.log" 2>&1 || { cat "$d/tmpfs-o.resume.log"; fail "tmpfs: resume failed"; }
  grep -q "($saved already done)" "$d/tmpfs-o.resume.log" || fail "tmpfs: resume lost saved samples"
  "$xai" run "$yaml" --set output="$d/ref120" --set dataset.limit=120 > /dev/null 2>&1
  "$compare" "$d/ref120/results.h5" "$d/tmpfs-o/results.h5"
  echo "tmpfs: stopped cleanly with $saved samples saved; resume kept them all"
else
  echo "tmpfs: skipped (mounting needs root in a container that allows it); the fault layer covered it"
fi
