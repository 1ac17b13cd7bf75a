#!/usr/bin/env bash
# On the GPU machine: receive staged MLX CUDA wheel pieces, install MLX + mlx_sparse, run every GPU check.
#
#   bash tools/gpu_check.sh receive            copy the carried .stage/part* pieces to /tmp/mlxstage
#   bash tools/gpu_check.sh install            reassemble + verify + install MLX CUDA, build mlx_sparse
#   bash tools/gpu_check.sh test               C tests, CUDA harness, pytest -m gpu and the CPU suite
#   bash tools/gpu_check.sh test-native        C tests and the CUDA harness of every type pair
#   bash tools/gpu_check.sh test-gpu [FILES]   pytest -m gpu file by file (GPU_FILE_TIMEOUT s each)
#   bash tools/gpu_check.sh test-cpu           the whole pytest suite on the CPU
#   bash tools/gpu_check.sh sanitize           compute-sanitizer (memcheck, racecheck, initcheck, synccheck)
#                                              on the CUDA harness (f32_i32, c64_i64: its small cases and the
#                                              corrupt structures), memcheck on a small GPU pytest subset
#   bash tools/gpu_check.sh bench [ARGS]       bench/spmv.py on the GPU (ARGS passed through)
#   bash tools/gpu_check.sh receive all        everything in order (not sanitize: run it after install)
# Environment: PY (python, default python3), SITE (install target, default /tmp/site), OUT (logs).
# sanitize: SAN_BUDGET (seconds for all sanitizer runs, default 330, builds not counted), SAN_STEP (cap
# per harness tool, default 75), SAN_PYTEST_STEP (seconds kept for the pytest run, default 120),
# SAN_PYTEST (the pytest arguments, default: test_spmv.py -k "gpu and float32" -x), COMPUTE_SANITIZER
# (the tool, else found on PATH or beside nvcc).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
SITE="${SITE:-/tmp/site}"
STAGE_DIR=/tmp/mlxstage
LOG="${OUT:-/tmp}"
export PYTHONUNBUFFERED=1

receive() {
  mkdir -p "$STAGE_DIR"
  for d in .stage/part1 .stage/part2 .stage/part3 .stage/part4 .stage/part5; do
    [ -d "$d" ] && cp -v "$d"/* "$STAGE_DIR"/
  done
  ls -la "$STAGE_DIR"
}

install() {
  set -e
  cd "$STAGE_DIR"
  local base
  base=$(ls mlx_cuda_13-*.whl.part00 | sed 's/\.part00$//')
  cat "$base".part00 "$base".part01 > "$base"
  grep -v nvidia_cudss SHA256SUMS | sha256sum -c -
  cd - > /dev/null
  rm -rf "$SITE" && mkdir -p "$SITE"
  "$PY" -m pip install -q --no-deps --no-index --no-compile --target "$SITE" "$STAGE_DIR"/mlx-*.whl "$STAGE_DIR/$base"
  local nv
  nv=$("$PY" -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))")
  ln -sfn "$nv/nvidia" "$SITE/nvidia"
  # cuDSS (parts 3-5, optional): its libraries beside the other nvidia cu13 libraries, as its wheel installs them
  local cw
  cw=$(ls "$STAGE_DIR"/nvidia_cudss_cu13-*.whl.part00 2>/dev/null | sed 's/\.part00$//' || true)
  if [ -n "$cw" ] && [ -f "$cw.part02" ]; then
    cat "$cw".part00 "$cw".part01 "$cw".part02 > "$cw"
    (cd "$STAGE_DIR" && grep "$(basename "$cw")" SHA256SUMS | sha256sum -c -)
    rm -rf /tmp/cudss_x && "$PY" -m zipfile -e "$cw" /tmp/cudss_x
    mkdir -p "$SITE/nvidia/cu13/lib" "$SITE/nvidia/cu13/include"
    cp /tmp/cudss_x/nvidia/cu13/lib/libcudss* "$SITE/nvidia/cu13/lib/"
    cp /tmp/cudss_x/nvidia/cu13/include/cudss*.h "$SITE/nvidia/cu13/include/"
    echo "cuDSS installed: $(ls "$SITE"/nvidia/cu13/lib/libcudss*)"
  else
    echo "cuDSS not staged: the GPU direct-solver tests will skip"
  fi
  export PYTHONPATH="$SITE"
  "$PY" -c "import mlx.core as mx; print('MLX', mx.__version__, 'gpu available:', mx.is_available(mx.gpu)); print(mx.device_info(mx.gpu))"
  "$PY" -m pip install -q --no-build-isolation --no-deps --no-index --target "$SITE" \
    -C cmake.define.MSP_CUDA=ON -C cmake.define.MSP_CUDA_ARCHS="${MSP_CUDA_ARCHS:-90}" . 2>&1 | tail -20
  (cd /tmp && "$PY" -c "import mlx_sparse as ms; print('mlx_sparse gpu kernels:', ms.gpu_available())")
  set +e
}

# The C library (/tmp/msp_c/libmsp.a, which the CUDA harness links for its reference kernels).
build_c() {
  cmake -S . -B /tmp/msp_c -G Ninja -DMSP_CUDA=OFF > /dev/null && cmake --build /tmp/msp_c > /dev/null
}

# The CUDA harness of one type pair: build_harness F32 I32 [OUTPUT [NVCC FLAGS...]]
build_harness() {
  local v=$1 i=$2 out=${3:-/tmp/harness_$1_$2}
  shift 3 2> /dev/null || shift $#
  nvcc -std=c++17 -O2 -arch=native "$@" -DMSP_VT_"$v" -DMSP_IT_"$i" -Icsrc/include -Icsrc/cuda tests/cuda/harness.cu \
    /tmp/msp_c/libmsp.a -Xcompiler -fopenmp -o "$out"
}

# C tests and the CUDA harness of every type pair.
test_native() {
  local rc=0
  build_c && ctest --test-dir /tmp/msp_c 2>&1 | tail -3 || rc=1
  for v in F32 F16 BF16 C64; do
    for i in I32 I64; do
      build_harness $v $i &
    done
  done
  wait
  for v in F32 F16 BF16 C64; do
    for i in I32 I64; do
      /tmp/harness_${v}_$i | tail -3 || rc=1
    done
  done
  return $rc
}

# pytest -m gpu one file at a time (the named files, else every tests/test_*.py), each at most
# GPU_FILE_TIMEOUT seconds (default 300); a test running past 60 s dumps every thread's stack, so a stall
# shows where it is. Logs: $LOG/pytest_gpu_<file>.log; one summary line per file.
test_gpu() {
  export PYTHONPATH="$SITE"
  local rc=0 f name log st files=("$@")
  mkdir -p "$LOG" && LOG=$(cd "$LOG" && pwd)
  [ ${#files[@]} -gt 0 ] || files=($(cd tests && ls test_*.py))
  for f in "${files[@]}"; do
    name=${f##*/}
    log="$LOG/pytest_gpu_${name%.py}.log"
    (cd tests && MSP_BIG_TESTS=1 timeout --kill-after=10 "${GPU_FILE_TIMEOUT:-300}" "$PY" -m pytest -q -m gpu \
      -p no:cacheprovider -o faulthandler_timeout=60 --durations=3 "$name" > "$log" 2>&1)
    st=$?
    [ $st -eq 0 ] || [ $st -eq 5 ] || rc=1  # 5: no GPU test in the file
    echo "$name: rc=$st $(grep -E "[0-9]+ (passed|failed|error|skipped|deselected)" "$log" | tail -1)"
  done
  return $rc
}

test_cpu() {
  export PYTHONPATH="$SITE"
  (cd tests && "$PY" -m pytest -q -p no:cacheprovider 2>&1 | tail -3)
}

test_all() {
  local rc=0
  test_native || rc=1
  test_gpu || rc=1
  test_cpu || rc=1
  return $rc
}

# compute-sanitizer: $COMPUTE_SANITIZER, on PATH, beside nvcc, or in the CUDA toolkit's usual places.
find_sanitizer() {
  local c nv
  nv=$(command -v nvcc 2> /dev/null || true)
  for c in "${COMPUTE_SANITIZER:-}" "$(command -v compute-sanitizer 2> /dev/null || true)" \
    ${nv:+"$(dirname "$nv")/compute-sanitizer"} ${nv:+"$(dirname "$(dirname "$nv")")/compute-sanitizer/compute-sanitizer"} \
    ${CUDA_HOME:+"$CUDA_HOME/bin/compute-sanitizer"} /usr/local/cuda/bin/compute-sanitizer \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# Run a sanitizer step, at most CAP seconds and not past the deadline SAN_END (in $SECONDS): san_step
# NAME CAP LOGFILE COMMAND...; prints one line (the tool's summary, the harness's or pytest's closing
# line, the exit status, the seconds taken). Status 3: compute-sanitizer cannot run on this GPU.
san_step() {
  local name=$1 cap=$2 log=$3 t0=$SECONDS left rc
  shift 3
  left=$((SAN_END - SECONDS))
  [ "$cap" -lt "$left" ] || cap=$left
  if [ "$cap" -lt 10 ]; then
    echo "$name: SKIPPED (sanitize time budget SAN_BUDGET=${SAN_BUDGET}s spent)" | tee -a "$SAN_SUMMARY"
    return 1
  fi
  timeout --kill-after=10 "$cap" "$@" > "$log" 2>&1
  rc=$?
  local summary closing
  summary=$(grep -E "(ERROR|RACECHECK) SUMMARY" "$log" | tail -1 | sed 's/^=* *//')
  closing=$(grep -E "^harness [a-z0-9_]+: [0-9]+ passed|[0-9]+ (passed|failed)" "$log" | tail -1)
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    summary="TIMEOUT after ${cap}s${summary:+ ($summary)}"
  fi
  echo "$name: ${summary:-no sanitizer summary} | ${closing:-no test summary} | rc=$rc | $((SECONDS - t0))s | $log" |
    tee -a "$SAN_SUMMARY"
  if grep -qE "Device not supported|Unable to find injection library|error 999" "$log"; then
    echo "$name: compute-sanitizer could not attach to this GPU (a gVisor machine refuses it); see $log" |
      tee -a "$SAN_SUMMARY"
    return 3
  fi
  return $rc
}

# The CUDA harness (f32_i32 and c64_i64, mode "small": the small valid cases and every kernel on corrupt
# structures) under memcheck, racecheck, initcheck and synccheck, then memcheck on a small GPU pytest
# subset (memcheck slows kernels 10-50x: SAN_BUDGET bounds the whole). Logs: $LOG/sanitize_*.log and the
# summary $LOG/sanitize_summary.txt. Needs `install` first (the pytest part imports the installed build).
sanitize() {
  export PYTHONPATH="$SITE"
  mkdir -p "$LOG" && LOG=$(cd "$LOG" && pwd)  # absolute: the pytest step runs in tests/
  SAN_BUDGET=${SAN_BUDGET:-330}
  local step=${SAN_STEP:-75} pystep=${SAN_PYTEST_STEP:-120} rc=0 cs tool pair st gone=0
  SAN_SUMMARY="$LOG/sanitize_summary.txt"
  : > "$SAN_SUMMARY"
  if ! cs=$(find_sanitizer); then
    echo "sanitize: compute-sanitizer not found (set COMPUTE_SANITIZER)" | tee -a "$SAN_SUMMARY"
    return 2
  fi
  echo "sanitize: $cs ($("$cs" --version 2>&1 | grep -iE "version" | head -1))" | tee -a "$SAN_SUMMARY"
  build_c || { echo "sanitize: the C library did not build" | tee -a "$SAN_SUMMARY"; return 1; }
  local pairs="F32_I32 C64_I64" pids=""
  for pair in $pairs; do  # -lineinfo: source lines in the reports, same machine code otherwise
    build_harness "${pair%_*}" "${pair#*_}" "/tmp/harness_san_$pair" -lineinfo > "$LOG/sanitize_build_$pair.log" 2>&1 &
    pids="$pids $!"
  done
  for p in $pids; do wait "$p" || rc=1; done
  if [ $rc -ne 0 ]; then
    echo "sanitize: the CUDA harness did not build (see $LOG/sanitize_build_*.log)" | tee -a "$SAN_SUMMARY"
    return 1
  fi
  SAN_T0=$SECONDS
  SAN_END=$((SAN_T0 + SAN_BUDGET - pystep))  # the harness runs leave the pytest run its share
  for tool in memcheck racecheck initcheck synccheck; do
    local spids=""
    for pair in $pairs; do  # the two type pairs side by side on the GPU
      san_step "harness $pair $tool" "$step" "$LOG/sanitize_${tool}_$pair.log" \
        "$cs" --tool "$tool" --error-exitcode 1 "/tmp/harness_san_$pair" small &
      spids="$spids $!"
    done
    for p in $spids; do
      wait "$p"
      st=$?
      [ $st -eq 0 ] || rc=1
      [ $st -ne 3 ] || gone=1
    done
    [ $gone -eq 0 ] || return 3
  done
  SAN_END=$((SAN_T0 + SAN_BUDGET))
  # MLX's own CUDA calls (and the driver's) may fail on purpose (feature probes): only kernel accesses
  # are errors here (--report-api-errors no); the harness runs above keep the default.
  local -a pyargs
  if [ -n "${SAN_PYTEST:-}" ]; then
    eval "pyargs=($SAN_PYTEST)"  # shell words, so that -k "a and b" stays one argument
  else
    pyargs=(test_spmv.py -k "gpu and float32" -x)
  fi
  (cd tests && san_step "pytest memcheck (${pyargs[*]})" "$pystep" "$LOG/sanitize_pytest_memcheck.log" \
    "$cs" --tool memcheck --error-exitcode 1 --report-api-errors no \
    "$PY" -m pytest -q -m gpu -p no:cacheprovider "${pyargs[@]}") || rc=1
  echo "sanitize: $([ $rc -eq 0 ] && echo clean || echo FAILED) in $((SECONDS - SAN_T0))s of sanitizer runs" |
    tee -a "$SAN_SUMMARY"
  return $rc
}

bench() {
  export PYTHONPATH="$SITE"
  "$PY" bench/spmv.py --device gpu --json "$LOG/bench_spmv_gpu.json" "$@"
}

cmd="${1:-all}"
shift || true
case "$cmd" in
  receive)
    receive
    if [ "${1:-}" = all ]; then install && test_all; bench; fi ;;
  install) install ;;
  test) test_all ;;
  test-native) test_native ;;
  test-gpu) test_gpu "$@" ;;
  test-cpu) test_cpu ;;
  sanitize) sanitize ;;
  bench) bench "$@" ;;
  all) install && test_all; bench ;;
  *) echo "usage: $0 receive|install|test|sanitize|bench|all" >&2; exit 2 ;;
esac
