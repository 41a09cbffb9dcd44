#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) into build-fuzz/ with clang, prepares their corpora
# from the committed fixtures, and runs each for FUZZ_SECONDS; exits non-zero on any crash,
# sanitizer report, leak, timeout or OOM, printing the reproducer and the one-line reason.
#
#   scripts/fuzz.sh                          # every target, FUZZ_SECONDS (20) each: make fuzz, CI
#   FUZZ_SECONDS=600 scripts/fuzz.sh tokenizer
#   build-fuzz/fuzz_tokenizer build-fuzz/findings/tokenizer/crash-...   # replay a finding
#
# Settings (environment): FUZZ_SECONDS per target (20), FUZZ_TIMEOUT per input in seconds (10),
# FUZZ_RSS_MB memory limit (2048), FUZZ_BUILD_DIR (build-fuzz), FUZZ_JOBS build jobs (nproc), and
# FUZZ_KEEP_GOING=1 to fuzz on past findings (libFuzzer's fork mode: every crash, timeout and OOM
# is kept under build-fuzz/findings/, and the run still fails at the end).
# build-fuzz/corpus/<target> keeps what each run found, so later runs start from there.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-$(nproc)}
all_targets=(safetensors_header model_config tokenizer config jsonl image)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# Inputs a fuzzer mutates well are small; each bound still leaves room for what finds bugs in
# that format (deeply nested JSON needs tens of KB; safetensors seeds are shrunk fixtures).
max_len() {
  case "$1" in
    safetensors_header | model_config) echo 65536 ;;
    tokenizer | config) echo 32768 ;;
    *) echo 16384 ;;
  esac
}

for t in "${targets[@]}"; do
  if [[ ! " ${all_targets[*]} " == *" $t "* ]]; then
    echo "fuzz: unknown target '$t' (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

# ---- build ------------------------------------------------------------------------------------
start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
  mkdir -p "$build"
  CXX=${FUZZ_CXX:-clang++} cmake -S tests/fuzz -B "$build" -G Ninja >"$build/configure.log" 2>&1 ||
  {
    cat "$build/configure.log" >&2
    exit 1
  }
fi
cmake --build "$build" -j "$jobs"
echo "fuzz: build took $(($(date +%s) - start)) s"

# ---- corpora: the fixtures (rebuilt each time, so they follow the repository) plus any committed
# regression inputs, added to what earlier runs found ---------------------------------------------
"$build/fuzz_seed_corpus" . "$build/corpus" >/dev/null
for t in "${targets[@]}"; do
  if [ -d "tests/fuzz/regressions/$t" ]; then
    cp tests/fuzz/regressions/"$t"/* "$build/corpus/$t/"
  fi
done

# The JSONL and config targets write their input to a file; keep those in memory and remove them
# even when a target crashes before its own clean-up.
scratch=$(mktemp -d /dev/shm/xai-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# LeakSanitizer stays on: yaml-cpp, PCRE2 (JIT included) and utf8proc free everything they
# allocate for these entry points. Symbolized stacks when llvm-symbolizer is installed.
asan=detect_leaks=1:strict_string_checks=1:check_initialization_order=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Runaway memory aborts at once in the target (tests/fuzz/heap_limit.cpp) with the allocating
# stack; libFuzzer's own -rss_limit_mb report can take minutes to print its heap profile.
export XAI_FUZZ_HEAP_LIMIT_MB=${XAI_FUZZ_HEAP_LIMIT_MB:-$((rss_mb / 4))}

# ---- run -----------------------------------------------------------------------------------------
failed=0
summary=()
for t in "${targets[@]}"; do
  findings="$build/findings/$t"
  mkdir -p "$findings"
  log="$build/logs/$t.log"
  mkdir -p "$(dirname "$log")"
  echo "fuzz: $t for ${seconds} s (max_len $(max_len "$t"), timeout ${timeout} s, rss ${rss_mb} MB)"
  keep_going=()
  if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  touch "$log.start"
  rc=0
  # The outer timeout is a backstop only: libFuzzer stops itself after -max_total_time.
  TMPDIR=$scratch timeout -k 30 $((seconds + 120)) "$build/fuzz_$t" "$build/corpus/$t" \
    "${keep_going[@]}" \
    -dict="tests/fuzz/dict/$t.dict" -max_len="$(max_len "$t")" -max_total_time="$seconds" \
    -timeout="$timeout" -rss_limit_mb="$rss_mb" -print_final_stats=1 \
    -artifact_prefix="$findings/" >"$log" 2>&1 || rc=$?
  # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E rss: R" (fork mode:
  # "#N: cov: C ft: F corp: K exec/s E oom/timeout/crash: O/T/X time: S job: J").
  status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)
  if [ ${#keep_going[@]} -gt 0 ]; then
    # Fork mode counts coverage its own way: replay the corpus once for comparable numbers.
    execs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$status")
    eps=$((execs / seconds))
    replay=$(TMPDIR=$scratch "$build/fuzz_$t" -runs=0 -artifact_prefix="$findings/replay-" \
      "$build/corpus/$t" 2>&1 | grep INITED || true)
    if [ -n "$replay" ]; then
      cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$replay")
      ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$replay")
    fi
    found=$(find "$findings" -type f -newer "$log.start" 2>/dev/null | wc -l)
    [ "$found" -eq 0 ] || rc=1
  fi
  line=$(printf '%-19s %8s runs %7s exec/s  cov %5s  ft %6s' "$t" "${execs:-?}" "${eps:-?}" \
    "${cov:-?}" "${ft:-?}")
  if [ "$rc" -ne 0 ]; then
    failed=1
    artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
    # The first line that says what went wrong: a sanitizer's or libFuzzer's ERROR line, an
    # uncaught exception, or a broken promise from the target itself.
    reason=$(grep -m1 -E "==ERROR:|ERROR: libFuzzer|^SUMMARY: UndefinedBehaviorSanitizer|\
runtime error:|terminate called|xai-fuzz: BUG" "$log" || true)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      reason="killed after $((seconds + 120)) s: the fuzzer hung (${reason:-no report})"
    fi
    what=$(grep -m1 -E '^  what\(\):' "$log" || true)
    summary+=("$line  FAILED")
    echo "fuzz: $t FAILED: ${reason:-exit code $rc}${what:+ $what}" >&2
    if [ ${#keep_going[@]} -gt 0 ]; then
      echo "fuzz:   reproducers: $found new files in $findings/" >&2
    else
      echo "fuzz:   reproducer: ${artifact:-none written}" \
        "(replay: $build/fuzz_$t ${artifact:-INPUT})" >&2
    fi
    echo "fuzz:   log: $log" >&2
  else
    summary+=("$line  ok")
  fi
done

echo "fuzz: summary (${seconds} s per target)"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; reproducers are under $build/findings/ (HINT: replay one with" \
    "$build/fuzz_<target> FILE; XAI_FUZZ_VERBOSE=1 prints the xai::Errors it raises)" >&2
  exit 1
fi
