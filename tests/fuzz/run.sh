#!/usr/bin/env bash
# Build the libFuzzer harnesses (one per C kernel family, ASan+UBSan, clang) and fuzz each family for
# SECONDS (default 15), starting from the seed corpus in tests/fuzz/corpus/<family>. Prints one line
# per family (executions, coverage, corpus) and fails on the first crash, leaving the reproducer in
# build/fuzz/crashes/<family>. Usage: tests/fuzz/run.sh [SECONDS] [FAMILY...]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${1:-15}"
shift || true
FAMILIES=("$@")
[ ${#FAMILIES[@]} -gt 0 ] || FAMILIES=(spmv spmm convert canonical select construct spgemm ewise factor amg)
B=build/fuzz
probe=$(mktemp -d)
if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' |
    clang -x c - -fsanitize=fuzzer -o "$probe/p" > /dev/null 2>&1; then
  rm -rf "$probe"
  echo "fuzz: skipped, needs clang with libFuzzer (Debian: apt-get install clang)"
  [ -z "${MSP_REQUIRE_CLANG:-}" ] && exit 0 || exit 1
fi
rm -rf "$probe"
cmake -S . -B $B -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMSP_CUDA=OFF -DMSP_FUZZ=ON \
  -DMSP_BUILD_TESTS=OFF -DMSP_SUITESPARSE=OFF -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > $B.log 2>&1 || { cat $B.log; exit 1; }
cmake --build $B -j "${JOBS:-2}" > $B.build.log 2>&1 || { grep -i error $B.build.log | head; exit 1; }
status=0
for f in "${FAMILIES[@]}"; do
  work=$B/corpus/$f crashes=$B/crashes/$f
  mkdir -p "$work" "$crashes"
  log=$B/$f.log
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$B/fuzz_$f" -max_total_time="$SECONDS_EACH" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" "$work" \
      "tests/fuzz/corpus/$f" > "$log" 2>&1; then
    echo "fuzz $f: FAILED (reproducer in $crashes/)"
    grep -E "ERROR|runtime error|SUMMARY" "$log" | head -5
    status=1
    continue
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -E "DONE|pulse|NEW" "$log" | tail -1 | grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+" || true)
  echo "fuzz $f: ${SECONDS_EACH} s, $execs inputs, $cov, no crash"
done
exit $status
