"""The one dispatcher: (family, op, value dtype, index dtype, stream) -> a native kernel node."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import mlx.core as mx

from . import _ext
from ._device import is_gpu

VALUE_TYPES = {
    mx.float32: "f32",
    mx.float64: "f64",
    mx.float16: "f16",
    mx.bfloat16: "bf16",
    mx.complex64: "c64",
}
INDEX_TYPES = {mx.int32: "i32", mx.int64: "i64"}
GPU_VALUE_TYPES = {"f32", "f16", "bf16", "c64"}
GPU_DTYPES = {d for d, v in VALUE_TYPES.items() if v in GPU_VALUE_TYPES}
GPU_BLOCK = 256

_KERNEL_DIR = os.path.join(os.path.dirname(__file__), "kernels")


@dataclass
class Gpu:
    """How to launch the CUDA kernel of an op: name suffix, threads, int scalars, output fill."""

    threads: int
    scalars: Sequence[int] = field(default_factory=list)
    suffix: str = ""  # kernel variant: names both the kernel and its module
    init_value: Optional[float] = None
    module: Optional[str] = None  # module variant when it differs from the kernel's suffix


def split64(v: int) -> list[int]:
    """An int64 as the (lo, hi) pair of 32-bit ints the CUDA kernels take."""
    v = int(v) & 0xFFFFFFFFFFFFFFFF
    lo, hi = v & 0xFFFFFFFF, v >> 32
    return [lo - (1 << 32) if lo >= 1 << 31 else lo, hi - (1 << 32) if hi >= 1 << 31 else hi]


def grid_threads(work_items: int, items_per_thread: int = 1, cap_blocks: int = 1 << 20) -> int:
    """Threads to launch (a multiple of the block) for grid-stride kernels."""
    blocks = -(-max(int(work_items), 1) // (GPU_BLOCK * items_per_thread))
    return min(max(blocks, 1), cap_blocks) * GPU_BLOCK


def gpu_available() -> bool:
    """True when this build carries CUDA kernels and MLX has a GPU backend."""
    return os.path.isdir(_KERNEL_DIR) and mx.is_available(mx.gpu)


@functools.lru_cache(maxsize=None)
def _arch() -> str:
    info = mx.device_info(mx.gpu)
    return str(info.get("architecture", ""))


@functools.lru_cache(maxsize=None)
def _blob(family: str, vt: str, it: str, variant: str = "") -> bytes:
    """The compiled module of one kernel family (variant) for one type pair: a cubin for this GPU, else PTX."""
    stem = f"{family}_{vt}_{it}{variant}"
    cubin = os.path.join(_KERNEL_DIR, f"{stem}.{_arch()}.cubin")
    if os.path.exists(cubin):
        with open(cubin, "rb") as f:
            return f.read()
    ptx = [p for p in sorted(os.listdir(_KERNEL_DIR)) if p.startswith(stem + ".") and p.endswith(".ptx")]
    if not ptx:
        raise RuntimeError(f"mlx_sparse: no CUDA module {stem} for {_arch()} in this build")
    with open(os.path.join(_KERNEL_DIR, ptx[-1]), "rb") as f:
        return f.read() + b"\0"


def type_names(op: str, dtype: mx.Dtype, index_dtype: mx.Dtype) -> tuple[str, str]:
    if dtype not in VALUE_TYPES:
        raise TypeError(f"{op}: unsupported value dtype {dtype}; use one of {', '.join(map(str, VALUE_TYPES))}")
    if index_dtype not in INDEX_TYPES:
        raise TypeError(f"{op}: unsupported index dtype {index_dtype}; use int32 or int64")
    return VALUE_TYPES[dtype], INDEX_TYPES[index_dtype]


def launch(
    op: str,
    family: str,
    kernel: str,
    dtype: mx.Dtype,
    index_dtype: mx.Dtype,
    stream: mx.Stream,
    inputs: Sequence[mx.array],
    shapes: Sequence[Sequence[int]],
    dtypes: Sequence[mx.Dtype],
    iargs: Sequence[int] = (),
    gpu: Optional[Gpu] = None,
) -> list[mx.array]:
    """Add the node for ``family_kernel_<vt>_<it>`` on ``stream``; ``op`` names the user's call in errors."""
    vt, it = type_names(op, dtype, index_dtype)
    if not is_gpu(stream):
        return _ext.cpu_call(
            f"{family}_{kernel}_{vt}_{it}", list(inputs), [list(s) for s in shapes], list(dtypes),
            [int(a) for a in iargs], [], stream,
        )
    if gpu is None:
        raise RuntimeError(f"{op}: no GPU kernel for this operation (dtype {dtype}, index {index_dtype}); run it on the CPU")
    if vt not in GPU_VALUE_TYPES:
        raise RuntimeError(
            f"{op}: dtype {dtype} is not supported on the GPU (device {stream.device}); "
            "use float32, float16, bfloat16 or complex64, or run on the CPU"
        )
    if not os.path.isdir(_KERNEL_DIR):
        raise RuntimeError(
            f"{op}: this build of mlx_sparse has no CUDA kernels (it was built without nvcc); "
            "reinstall with the CUDA toolkit on PATH, or run on the CPU (ms.use_cpu())"
        )
    return mx.fast.precompiled_cuda_kernel(
        name=f"mspcu_{family}_{kernel}_{vt}_{it}{gpu.suffix}",
        compiled_source=_blob(family, vt, it, gpu.suffix if gpu.module is None else gpu.module),
        inputs=list(inputs),
        output_shapes=[tuple(s) for s in shapes],
        output_dtypes=list(dtypes),
        scalars=[s if isinstance(s, bool) else int(s) for s in gpu.scalars],
        grid=(int(gpu.threads), 1, 1),
        threadgroup=(GPU_BLOCK, 1, 1),
        init_value=gpu.init_value,
        ensure_row_contiguous=True,
        stream=stream,
    )


def set_num_threads(n: int) -> None:
    """Threads for CPU kernels (0 restores the default: MLX_SPARSE_NUM_THREADS or all cores)."""
    _ext.set_num_threads(int(n))


def get_num_threads() -> int:
    return int(_ext.get_num_threads())
