# Shared by the fault tests (sourced): failing with a message, and checking that a run that met a
# fault said so in one line and ended without a crash.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_clean_error LOG RC PATTERN: the run exited non-zero but not by a signal, its log holds
# exactly one 'xai ...: error:' line, it matches PATTERN, and nothing crashed or spoke internals.
expect_clean_error() {
  local log=$1 rc=$2 pattern=$3
  [ "$rc" -ne 0 ] || fail "exit 0 after the fault ($log)"
  [ "$rc" -lt 128 ] || { cat "$log"; fail "the process died by a signal (exit $rc)"; }
  local n
  n=$(grep -c '^xai [a-z-]*: error: ' "$log" || true)
  [ "$n" -eq 1 ] || { cat "$log"; fail "$n error lines in $log, expected one"; }
  grep -Eq "$pattern" "$log" || { cat "$log"; fail "$log does not match: $pattern"; }
  if grep -Eqi 'internal error|segmentation|terminate called|core dumped|HDF5-DIAG' "$log"; then
    cat "$log"
    fail "$log shows a crash or internals"
  fi
}

journal_lines() { cat "$1"/shards/*.journal 2>/dev/null | wc -l; }
