#!/usr/bin/env bash
# Stage MLX's CUDA wheels (Python 3.12, x86-64) and NVIDIA cuDSS's wheel (the GPU direct solver) for a
# GPU machine without network, in pieces.
#
# The wheels (MLX CUDA ~90 MB, cuDSS ~160 MB) are larger than one transfer to the GPU machine may
# carry (64 MiB), so they are split into .stage/part1 .. part5 (each < 56 MB; parts 3-5 are cuDSS,
# optional: without them the GPU direct-solver tests skip). Carry one part per call and run
# `bash tools/gpu_check.sh receive` each time: the pieces are gathered in /tmp/mlxstage there (kept
# between calls while the machine stays warm), then `install` checks, reassembles and installs them.
# STAGE_CUDSS=0 skips cuDSS.
set -euo pipefail
cd "$(dirname "$0")/.."
MLX_VERSION="${MLX_VERSION:-0.32.4}"
STAGE=.stage
rm -rf "$STAGE" && mkdir -p "$STAGE/dl" "$STAGE/part1" "$STAGE/part2" "$STAGE/part3" "$STAGE/part4" "$STAGE/part5"
grep -qx '/.stage/' .git/info/exclude 2>/dev/null || echo '/.stage/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$STAGE/dl" "mlx==$MLX_VERSION" "mlx-cuda-13==$MLX_VERSION"
if [ "${STAGE_CUDSS:-1}" = 1 ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 -d "$STAGE/dl" \
    "nvidia-cudss-cu13==${CUDSS_VERSION:-1.0.0.35}"
fi
cuda_whl=$(ls "$STAGE"/dl/mlx_cuda_13-*.whl)
base=$(basename "$cuda_whl")
( cd "$STAGE/dl" && sha256sum ./*.whl > SHA256SUMS )
split -n 2 -d "$cuda_whl" "$STAGE/part1/$base.part"
mv "$STAGE/part1/$base.part01" "$STAGE/part2/"
cp "$STAGE"/dl/mlx-*.whl "$STAGE/dl/SHA256SUMS" "$STAGE/part2/"
for w in "$STAGE"/dl/nvidia_cudss_cu13-*.whl; do
  [ -f "$w" ] || continue
  split -n 3 -d "$w" "$STAGE/part3/$(basename "$w").part"
  mv "$STAGE/part3/$(basename "$w").part01" "$STAGE/part4/"
  mv "$STAGE/part3/$(basename "$w").part02" "$STAGE/part5/"
done
du -sh "$STAGE"/part*
