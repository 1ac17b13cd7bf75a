"""The one dispatcher: (family, op, value dtype, index dtype, stream) -> a native kernel node."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

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


def _is_index(a: mx.array) -> bool:
    return not (mx.issubdtype(a.dtype, mx.floating) or mx.issubdtype(a.dtype, mx.complexfloating))


class Rules:
    """The transforms of one kernel node, called by its primitive (``_ext.with_rules``).

    ``vjp(primals, cotangents, outputs)`` returns one cotangent per *value* input (index inputs get
    ``None``); ``jvp(primals, tangents)`` takes a tangent per input (``None`` where not requested) and
    returns one per output; ``vmap(inputs, axes)`` may return ``None`` to use the generic rule (one
    node per batch entry, stacked). Without a vjp/jvp the node is not differentiable. A derivative
    requested of an index input (the sparse structure) raises ``ValueError``."""

    def __init__(self, op: str, relaunch: Callable, out_dtypes, vjp=None, jvp=None, vmap=None):
        self.op, self.relaunch, self.out_dtypes = op, relaunch, list(out_dtypes)
        self._vjp, self._jvp, self._vmap = vjp, jvp, vmap

    def _check(self, primals, argnums, how):
        for a in argnums:
            if _is_index(primals[a]):
                raise ValueError(
                    f"{self.op}: {how} with respect to a sparse array's index arrays (its structure) are not "
                    "defined; differentiate with respect to the values or the dense operand"
                )
        if (self._vjp if how == "gradients" else self._jvp) is None:
            raise ValueError(f"{self.op}: this operation is not differentiable with respect to its values")

    def vjp(self, primals, cotangents, argnums, outputs):
        self._check(primals, argnums, "gradients")
        cts = self._vjp(primals, cotangents, outputs)
        out = []
        for a in argnums:  # dtype and shape of the primal (paged value buffers are 2-D)
            c = cts[a].astype(primals[a].dtype) if cts[a].dtype != primals[a].dtype else cts[a]
            out.append(c.reshape(primals[a].shape) if c.shape != primals[a].shape else c)
        return out

    def jvp(self, primals, tangents, argnums):
        self._check(primals, argnums, "derivatives")
        full = [None] * len(primals)
        for t, a in zip(tangents, argnums):
            full[a] = t
        return self._cast(self._jvp(primals, full))

    def _cast(self, outs):
        return [o.astype(t) if o.dtype != t else o for o, t in zip(outs, self.out_dtypes)]

    def vmap(self, inputs, axes):
        axes = [None if a < 0 else a for a in axes]
        if self._vmap is not None:
            out = self._vmap(inputs, axes)
            if out is not None:
                return self._cast(out[0]), out[1]
        b = next(x.shape[a] for x, a in zip(inputs, axes) if a is not None)
        per = [
            self.relaunch([x if a is None else mx.take(x, i, axis=a) for x, a in zip(inputs, axes)]) for i in range(b)
        ]
        return [mx.stack(list(o)) for o in zip(*per)], [0] * len(per[0])


def launch(op: str, family: str, kernel: str, dtype: mx.Dtype, index_dtype: mx.Dtype, stream: mx.Stream,
           inputs: Sequence[mx.array], *args, **rules) -> list[mx.array]:
    """Add the node for ``family_kernel_<vt>_<it>`` on ``stream`` for ``inputs``; the other arguments
    are :func:`prepare`'s (output shapes and dtypes, int args, GPU launch, transform rules)."""
    return prepare(op, family, kernel, dtype, index_dtype, stream, *args, **rules)(inputs)


def prepare(
    op: str,
    family: str,
    kernel: str,
    dtype: mx.Dtype,
    index_dtype: mx.Dtype,
    stream: mx.Stream,
    shapes: Sequence[Sequence[int]],
    dtypes: Sequence[mx.Dtype],
    iargs: Sequence[int] = (),
    gpu: Optional[Gpu] = None,
    vjp=None,
    jvp=None,
    vmap=None,
) -> Callable[[Sequence[mx.array]], list[mx.array]]:
    """The node for ``family_kernel_<vt>_<it>`` on ``stream`` in two steps: the checks, names and
    launch parameters now; the returned function adds one node per call for given inputs (same
    shapes and dtypes). ``op`` names the user's call in errors; ``vjp``/``jvp``/``vmap``: the node's
    transform rules (see :class:`Rules`)."""
    vt, it = type_names(op, dtype, index_dtype)
    name = f"{family}_{kernel}_{vt}_{it}"
    shapes, dtypes = [tuple(int(d) for d in sh) for sh in shapes], list(dtypes)
    if not is_gpu(stream):
        cpu_shapes, cpu_iargs = [list(sh) for sh in shapes], [int(a) for a in iargs]

        def run(inputs):
            outs = _ext.cpu_call(name, list(inputs), cpu_shapes, dtypes, cpu_iargs, [], stream)
            return _detach_structure(_ext.with_rules(outs, rules, name), dtypes, stream)
    else:
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
        kname, blob = f"mspcu_{name}{gpu.suffix}", _blob(family, vt, it, gpu.suffix if gpu.module is None else gpu.module)
        scalars = [s if isinstance(s, bool) else int(s) for s in gpu.scalars]
        grid, init = (int(gpu.threads), 1, 1), gpu.init_value

        def run(inputs):
            outs = mx.fast.precompiled_cuda_kernel(
                name=kname, compiled_source=blob, inputs=list(inputs), output_shapes=shapes, output_dtypes=dtypes,
                scalars=scalars, grid=grid, threadgroup=(GPU_BLOCK, 1, 1), init_value=init,
                ensure_row_contiguous=True, stream=stream,
            )
            return _detach_structure(_ext.with_rules(outs, rules, name), dtypes, stream)

    rules = Rules(op, run, dtypes, vjp, jvp, vmap)  # vmap's fallback relaunches the same node
    return run


def _detach_structure(outs: list[mx.array], dtypes, stream: mx.Stream) -> list[mx.array]:
    """Index outputs of a node that also computes values (a sort) leave the differentiable graph, as
    MLX asks of integer results (otherwise a derivative of the values would reach them and raise)."""
    if len(outs) == 1:
        return outs
    n_index = sum(d in INDEX_TYPES for d in dtypes)
    if n_index == 0 or n_index == len(dtypes):
        return outs
    return [mx.stop_gradient(o, stream=stream) if _is_index(o) else o for o in outs]


def set_num_threads(n: int) -> None:
    """Threads for CPU kernels (0 restores the default: MLX_SPARSE_NUM_THREADS or all cores)."""
    _ext.set_num_threads(int(n))


def get_num_threads() -> int:
    return int(_ext.get_num_threads())
