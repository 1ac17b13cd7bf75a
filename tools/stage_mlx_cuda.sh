#!/usr/bin/env bash
# Stage MLX's CUDA wheels (Python 3.12, x86-64) for a GPU machine without network, in pieces.
#
# The CUDA wheel (~90 MB) is larger than one transfer to the GPU machine may carry (64 MiB), so it
# is split into .stage/part1 and .stage/part2 (each < 50 MB). Carry .stage/part1 in one call and
# run `bash tools/gpu_check.sh receive`, then carry .stage/part2 in the next call and run
# `bash tools/gpu_check.sh receive all`: the pieces are gathered in /tmp/mlxstage there
# (kept between calls while the machine stays warm), checked, reassembled and installed.
set -euo pipefail
cd "$(dirname "$0")/.."
MLX_VERSION="${MLX_VERSION:-0.32.4}"
STAGE=.stage
rm -rf "$STAGE" && mkdir -p "$STAGE/dl" "$STAGE/part1" "$STAGE/part2"
grep -qx '/.stage/' .git/info/exclude 2>/dev/null || echo '/.stage/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$STAGE/dl" "mlx==$MLX_VERSION" "mlx-cuda-13==$MLX_VERSION"
cuda_whl=$(ls "$STAGE"/dl/mlx_cuda_13-*.whl)
base=$(basename "$cuda_whl")
( cd "$STAGE/dl" && sha256sum ./*.whl > SHA256SUMS )
split -n 2 -d "$cuda_whl" "$STAGE/part1/$base.part"
mv "$STAGE/part1/$base.part01" "$STAGE/part2/"
cp "$STAGE"/dl/mlx-*.whl "$STAGE/dl/SHA256SUMS" "$STAGE/part2/"
du -sh "$STAGE"/part1 "$STAGE"/part2
