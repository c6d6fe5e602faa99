#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR/tests/fuzz for SECONDS each,
# starting from the seeds in tests/fuzz/corpus/<target>/ (read only; new
# inputs go to BUILD_DIR/fuzz-corpus/<target>/). A crash, leak or
# sanitizer report stops that target and leaves its input in
# BUILD_DIR/fuzz-artifacts/; the script then exits 1 after the others ran.
#   scripts/fuzz.sh build-fuzz 60
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS}
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS}
root=$(cd "$(dirname "$0")/.." && pwd)
targets=(config_fuzz acquire_fuzz rpc_fuzz redis_reply_fuzz)
mkdir -p "$build/fuzz-artifacts"
failed=()
for t in "${targets[@]}"; do
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  echo "== $t: ${seconds}s" >&2
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$t-" \
      "$work" "$root/tests/fuzz/corpus/${t%_fuzz}" \
      > "$build/fuzz-artifacts/$t.log" 2>&1; then
    failed+=("$t")
    tail -n 40 "$build/fuzz-artifacts/$t.log" >&2
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE" "$build/fuzz-artifacts/$t.log" | tail -n 2 >&2
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs and logs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, nothing found" >&2
