#!/usr/bin/env bash
# On the GPU machine: receive staged MLX CUDA wheel pieces, install MLX + mlx_sparse, run every GPU check.
#
#   bash tools/gpu_check.sh receive            copy the carried .stage/part* pieces to /tmp/mlxstage
#   bash tools/gpu_check.sh install            reassemble + verify + install MLX CUDA, build mlx_sparse
#   bash tools/gpu_check.sh test               C tests, CUDA harness, pytest -m gpu and the CPU suite
#   bash tools/gpu_check.sh bench [ARGS]       bench/spmv.py on the GPU (ARGS passed through)
#   bash tools/gpu_check.sh receive all        everything in order
# Environment: PY (python, default python3), SITE (install target, default /tmp/site), OUT (logs).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
SITE="${SITE:-/tmp/site}"
STAGE_DIR=/tmp/mlxstage
LOG="${OUT:-/tmp}"
export PYTHONUNBUFFERED=1

receive() {
  mkdir -p "$STAGE_DIR"
  for d in .stage/part1 .stage/part2; do
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
  sha256sum -c SHA256SUMS
  cd - > /dev/null
  rm -rf "$SITE" && mkdir -p "$SITE"
  "$PY" -m pip install -q --no-deps --no-index --no-compile --target "$SITE" "$STAGE_DIR"/mlx-*.whl "$STAGE_DIR/$base"
  local nv
  nv=$("$PY" -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))")
  ln -sfn "$nv/nvidia" "$SITE/nvidia"
  export PYTHONPATH="$SITE"
  "$PY" -c "import mlx.core as mx; print('MLX', mx.__version__, 'gpu available:', mx.is_available(mx.gpu)); print(mx.device_info(mx.gpu))"
  "$PY" -m pip install -q --no-build-isolation --no-deps --no-index --target "$SITE" \
    -C cmake.define.MSP_CUDA=ON -C cmake.define.MSP_CUDA_ARCHS="${MSP_CUDA_ARCHS:-90}" . 2>&1 | tail -20
  (cd /tmp && "$PY" -c "import mlx_sparse as ms; print('mlx_sparse gpu kernels:', ms.gpu_available())")
  set +e
}

test_all() {
  export PYTHONPATH="$SITE"
  local rc=0
  cmake -S . -B /tmp/msp_c -G Ninja -DMSP_CUDA=OFF > /dev/null && cmake --build /tmp/msp_c > /dev/null &&
    ctest --test-dir /tmp/msp_c 2>&1 | tail -3 || rc=1
  for v in F32 F16 BF16 C64; do
    for i in I32 I64; do
      nvcc -std=c++17 -O2 -arch=native -DMSP_VT_$v -DMSP_IT_$i -Icsrc/include -Icsrc/cuda tests/cuda/harness.cu \
        /tmp/msp_c/libmsp.a -Xcompiler -fopenmp -o /tmp/harness_${v}_$i &
    done
  done
  wait
  for v in F32 F16 BF16 C64; do
    for i in I32 I64; do
      /tmp/harness_${v}_$i | tail -3 || rc=1
    done
  done
  (cd tests && "$PY" -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee "$LOG/pytest_gpu.log" | tail -15) || rc=1
  (cd tests && "$PY" -m pytest -q -p no:cacheprovider 2>&1 | tail -3) || rc=1
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
  bench) bench "$@" ;;
  all) install && test_all; bench ;;
  *) echo "usage: $0 receive|install|test|bench|all" >&2; exit 2 ;;
esac
