"""The one dispatcher: (op, value dtype, index dtype, stream) -> a native kernel node, from the kernel table.

The table (``csrc/include/mlx_sparse/ops.def``, exported by the extension) declares each op once:
its operands with their types and lengths, its named sizes and flags, the GPU launch rule, the
module variants and the devices that have a kernel. A family module names its operands and sizes;
this module checks them, orders them, splits 64-bit sizes for the GPU and sizes the grid.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import mlx.core as mx

from . import _ext
from ._device import is_gpu

# ---- the user's operation -------------------------------------------------------------------
# Errors name the operation the user called. An operation built from others (A @ B converts B with
# tocsr; A + B sums duplicates) runs them inside ``user_op(...)``: the nodes they build then report
# "matmul (in tocsr): ..." rather than only the inner step. The outermost scope wins; per thread.
_USER_OP: contextvars.ContextVar = contextvars.ContextVar("mlx_sparse_user_op", default=None)


class user_op:
    """``with user_op("matmul"): ...`` or ``@user_op("matmul")``: the kernel nodes built inside name
    ``"matmul"`` in their errors (see :func:`op_name`); an enclosing scope's name is kept."""

    __slots__ = ("name", "_token")

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self._token = _USER_OP.set(_USER_OP.get() or self.name)
        return self

    def __exit__(self, *exc):
        _USER_OP.reset(self._token)
        return False

    def __call__(self, fn: Callable) -> Callable:
        name = self.name

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if _USER_OP.get() is not None:
                return fn(*args, **kwargs)
            token = _USER_OP.set(name)
            try:
                return fn(*args, **kwargs)
            finally:
                _USER_OP.reset(token)

        return wrapped


def op_name(op: str) -> str:
    """``op`` as errors name it: "<user's op> (in <op>)" inside another operation's scope."""
    outer = _USER_OP.get()
    if outer is None or op == outer or op.startswith(outer + " (in "):
        return op
    return f"{outer} (in {op})"


# ---- the type pairs and constants (msp.h) ----------------------------------------------------
_DTYPE_OF = {"f32": mx.float32, "f64": mx.float64, "f16": mx.float16, "bf16": mx.bfloat16, "c64": mx.complex64,
             "i32": mx.int32, "i64": mx.int64}
_PAIRS = [tuple(p) for p in _ext.type_pairs()]
VALUE_TYPES = {_DTYPE_OF[v]: v for v, _, _ in _PAIRS}
INDEX_TYPES = {_DTYPE_OF[i]: i for _, i, _ in _PAIRS}
GPU_VALUE_TYPES = {v for v, _, d in _PAIRS if d == "BOTH"}
GPU_DTYPES = {d for d, v in VALUE_TYPES.items() if v in GPU_VALUE_TYPES}
CONSTANTS = dict(_ext.constants())
GPU_BLOCK = CONSTANTS["gpu_block"]
MERGE_ITEMS = CONSTANTS["merge_items"]

_KERNEL_DIR = os.path.join(os.path.dirname(__file__), "kernels")


# ---- the op table (ops.def) --------------------------------------------------------------------
@dataclass(frozen=True)
class Operand:
    name: str
    kind: str  # I index, V value, A accumulator, D int16
    length: str  # an expression of the sizes


@dataclass(frozen=True)
class OpSig:
    family: str
    op: str
    devices: str  # CPU, GPU or BOTH
    inputs: tuple
    outputs: tuple
    sizes: tuple
    flags: tuple
    grid: str
    init: Optional[float]
    params: tuple
    variants: tuple

    @property
    def name(self) -> str:
        return f"{self.family}_{self.op}"


def _operands(spec: str) -> tuple:
    return tuple(Operand(*re.fullmatch(r"(\w+):([IVAD])\[([\w+*]+)\]", t).groups()) for t in spec.split())


def _sig(e: dict) -> OpSig:
    gpu = dict(t.partition("=")[::2] for t in e["gpu"].split())
    return OpSig(e["family"], e["op"], e["devices"], _operands(e["inputs"]), _operands(e["outputs"]),
                 tuple(e["sizes"].split()), tuple(e["flags"].split()), gpu.get("grid", ""),
                 float(gpu["init"]) if "init" in gpu else None, tuple(p for p in gpu.get("params", "").split(",") if p),
                 tuple(v for v in gpu.get("variants", "").split(",") if v))


OPS: dict[str, OpSig] = {f"{e['family']}_{e['op']}": _sig(e) for e in _ext.op_table()}


def _eval(expr: str, env: dict) -> int:
    """An element count or grid expression: sums of products of names and integers."""
    return sum(math.prod(int(f) if f.isdigit() else int(env[f]) for f in term.split("*")) for term in expr.split("+"))


def split64(v: int) -> list[int]:
    """An int64 as the (lo, hi) pair of 32-bit ints the CUDA kernels take."""
    v = int(v) & 0xFFFFFFFFFFFFFFFF
    lo, hi = v & 0xFFFFFFFF, v >> 32
    return [lo - (1 << 32) if lo >= 1 << 31 else lo, hi - (1 << 32) if hi >= 1 << 31 else hi]


def grid_threads(work_items: int, cap_blocks: int = 1 << 20) -> int:
    """Threads to launch (a multiple of the block) for grid-stride kernels."""
    blocks = -(-max(int(work_items), 1) // GPU_BLOCK)
    return min(max(blocks, 1), cap_blocks) * GPU_BLOCK


def gpu_available() -> bool:
    """True when this build carries CUDA kernels and MLX has a GPU backend."""
    return os.path.isdir(_KERNEL_DIR) and mx.is_available(mx.gpu)


@functools.lru_cache(maxsize=None)
def _arch() -> str:
    info = mx.device_info(mx.gpu)
    return str(info.get("architecture", ""))


@functools.lru_cache(maxsize=None)
def _blob(stem: str) -> bytes:
    """The compiled module ``stem`` (= its kernel's name without the prefix): a cubin for this GPU, else PTX."""
    cubin = os.path.join(_KERNEL_DIR, f"{stem}.{_arch()}.cubin")
    if os.path.exists(cubin):
        with open(cubin, "rb") as f:
            return f.read()
    ptx = [p for p in sorted(os.listdir(_KERNEL_DIR)) if p.startswith(stem + ".") and p.endswith(".ptx")]
    if not ptx:
        raise RuntimeError(f"mlx_sparse: no CUDA module {stem} for {_arch()} in this build")
    with open(os.path.join(_KERNEL_DIR, ptx[-1]), "rb") as f:
        return f.read() + b"\0"


# Output bytes up to which a node takes our native route. Our node allocates its outputs through
# MLX's exported allocator::malloc, which (when its cache holds no buffer of the size) hands out
# unified memory, or moves a cached device buffer to unified memory; MLX's own nodes use a
# stream-ordered device allocation that the wheel does not export. Small outputs are cached and
# reused (the launch saving matters there); a large one paid for it: the GPU product's fill node
# (436 MB of output) took 22 ms a call on the native route against 2.9 ms on the public one (H200).
_NATIVE_MAX_OUT = 16 << 20


@functools.lru_cache(maxsize=None)
def _native_launch():
    """The native GPU launch (our kernel node in the CUDA glue module _ext_cuda), or None: MLX's public
    ``precompiled_cuda_kernel`` then launches our kernels. MLX_SPARSE_GPU_LAUNCH=public picks the public
    route (for comparisons); a build without the glue module has only that one."""
    if os.environ.get("MLX_SPARSE_GPU_LAUNCH", "native") == "public":
        return None
    try:
        from . import _ext_cuda
    except ImportError:
        return None
    return _ext_cuda if hasattr(_ext_cuda, "launch") else None


@functools.lru_cache(maxsize=None)
def _native_kernel(kname: str, stem: str):
    return _native_launch().kernel(kname, _blob(stem))


def type_names(op: str, dtype: mx.Dtype, index_dtype: mx.Dtype) -> tuple[str, str]:
    if dtype not in VALUE_TYPES:
        raise TypeError(f"{op}: unsupported value dtype {dtype}; use one of {', '.join(map(str, VALUE_TYPES))}")
    if index_dtype not in INDEX_TYPES:
        raise TypeError(f"{op}: unsupported index dtype {index_dtype}; use int32 or int64")
    return VALUE_TYPES[dtype], INDEX_TYPES[index_dtype]


def accumulator(dtype: mx.Dtype, gpu: bool) -> mx.Dtype:
    """The table's A type: float32 for 16-bit values on the GPU, else the value type."""
    return mx.float32 if gpu and dtype in (mx.float16, mx.bfloat16) else dtype


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


class Node:
    """A prepared kernel node: call it with the op's operands by name (``node(indptr=..., x=...)``)
    to add one node to the graph; it returns the outputs in table order. ``node.bind(**fixed)``
    returns a function of the one remaining operand (checked once now: the fast path of repeated
    products; ``first=True``: it returns the first output only). ``node.launch(list)`` takes the operands in table order (the transforms' relaunch)."""

    __slots__ = ("sig", "names", "launch", "raw", "check", "expect", "out_dtypes")

    def __call__(self, **operands) -> list[mx.array]:
        try:
            return self.launch([operands[n] for n in self.names])
        except KeyError as e:
            raise TypeError(f"{self.sig.name}: missing operand {e}") from None

    def bind(self, first: bool = False, **fixed) -> Callable[[mx.array], Any]:
        free = [n for n in self.names if n not in fixed]
        if len(free) != 1 or len(fixed) != len(self.names) - 1:
            raise TypeError(f"{self.sig.name}: bind takes all operands but one of {self.names}, got {tuple(fixed)}")
        slot = self.names.index(free[0])
        template = [fixed.get(n) for n in self.names]
        self.check(template, skip=slot)
        raw, check = self.raw, self.check
        count = self.expect[slot][0]

        def run(v):  # the size is checked per call; the dtype (0.4 us to compare) by the callers' promotion
            if v.size != count:
                check((v,), only=slot)  # raises, naming the operand
            args = template.copy()
            args[slot] = v
            return raw(args)

        def run_first(v):  # the same, returning the first output (single-output products)
            if v.size != count:
                check((v,), only=slot)
            args = template.copy()
            args[slot] = v
            return raw(args)[0]

        return run_first if first else run


def prepare(
    op: str,
    kernel: str,
    dtype: mx.Dtype,
    index_dtype: mx.Dtype,
    stream: mx.Stream,
    sizes: dict,
    *,
    flags: Optional[dict] = None,
    params: Optional[dict] = None,
    launch: Optional[dict] = None,
    variant: str = "",
    shapes: Optional[dict] = None,
    vjp=None,
    jvp=None,
    vmap=None,
) -> Node:
    """The node of table op ``kernel`` ("<family>_<op>") for value ``dtype`` / ``index_dtype`` on
    ``stream``. ``sizes``/``flags``/``params`` by name as the table declares them; ``launch``: extra
    names the GPU grid rule uses; ``variant``: the GPU module variant; ``shapes``: output shapes by
    name where not 1-D (their element counts are checked against the table). ``op`` names the user's
    call in errors (inside a :class:`user_op` scope, with the user's operation first: :func:`op_name`);
    ``vjp``/``jvp``/``vmap``: the node's transform rules (see :class:`Rules`)."""
    op = op_name(op)
    sig = OPS[kernel]
    vt, it = type_names(op, dtype, index_dtype)
    gpu = is_gpu(stream)
    flags, params, launch, shapes = flags or {}, params or {}, launch or {}, shapes or {}
    if set(sizes) != set(sig.sizes) or set(flags) != set(sig.flags):
        raise TypeError(f"{op}: {kernel} takes sizes {sig.sizes} and flags {sig.flags}, got {tuple(sizes)} / {tuple(flags)}")
    kinds = {"I": index_dtype, "V": dtype, "A": accumulator(dtype, gpu), "D": mx.int16}
    out_shapes, out_dtypes = [], []
    for o in sig.outputs:
        count = _eval(o.length, sizes)
        sh = tuple(int(d) for d in shapes.get(o.name, (count,)))
        if math.prod(sh) != count:
            raise ValueError(f"{op}: {kernel} output {o.name} of shape {sh} must hold {o.length} = {count} elements")
        out_shapes.append(sh)
        out_dtypes.append(kinds[o.kind])
    check_outputs(op, [o.name for o in sig.outputs], out_shapes, out_dtypes, gpu)
    expect = [(_eval(i.length, sizes), kinds[i.kind], i.name) for i in sig.inputs]

    def check(inputs, skip=-1, only=-1):
        """Operand sizes and dtypes against the table (all; all but ``skip``; or ``inputs`` = (the
        operand at ``only``,))."""
        for k, a in enumerate(inputs):
            count, dt, name = expect[only if only >= 0 else k]
            if k != skip and (a.size != count or a.dtype != dt):
                raise ValueError(f"{op}: {kernel} operand {name} must be {count} x {dt}, got {tuple(a.shape)} {a.dtype}")

    node = Node()
    node.sig, node.names, node.out_dtypes, node.check = sig, tuple(i.name for i in sig.inputs), out_dtypes, check
    node.expect = expect
    if not gpu:
        if sig.devices == "GPU":
            raise RuntimeError(f"{op}: {kernel} has no CPU kernel")
        name = f"{kernel}_{vt}_{it}"
        iargs = [int(sizes[s]) for s in sig.sizes] + [int(bool(flags[f])) for f in sig.flags]
        shp = [list(sh) for sh in out_shapes]
        gathered = node.names.index(GATHERED[kernel]) if kernel in GATHERED else -1

        def raw(inputs):
            outs = _ext.cpu_call(name, op, inputs, shp, out_dtypes, iargs, [], stream, gathered)
            return _detach_structure(_ext.with_rules(outs, rules, op), out_dtypes, stream)
    else:
        if sig.devices == "CPU":
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
        if (variant or sig.variants) and variant not in sig.variants:
            raise ValueError(f"{op}: {kernel} has GPU variants {sig.variants}, not {variant!r}")
        stem = f"{kernel}{'_' + variant if variant else ''}_{vt}_{it}"
        kname, blob = f"mspcu_{stem}", _blob(stem)
        scalars = [w for s in sig.sizes for w in split64(sizes[s])] + [bool(flags[f]) for f in sig.flags]
        scalars += [int(params[p]) for p in sig.params]
        grid = (grid_threads(_eval(sig.grid, {**sizes, **params, **launch})), 1, 1)

        # zero-filled outputs, and large ones, take the public route (see _NATIVE_MAX_OUT)
        out_bytes = sum(math.prod(sh) * d.size for sh, d in zip(out_shapes, out_dtypes))
        native = _native_launch() if sig.init is None and out_bytes <= _NATIVE_MAX_OUT else None
        if native is not None:  # our kernel node (_ext_cuda): the module loaded once, no per-launch hashing
            kern = _native_kernel(kname, stem)
            ints = [int(v) for v in scalars]
            is_bool = [int(isinstance(v, bool)) for v in scalars]
            shp = [list(sh) for sh in out_shapes]

            def launch_gpu(inputs):
                return native.launch(kern, op, inputs, shp, out_dtypes, ints, is_bool, grid[0], GPU_BLOCK, stream)
        else:
            def launch_gpu(inputs):
                return mx.fast.precompiled_cuda_kernel(
                    name=kname, compiled_source=blob, inputs=inputs, output_shapes=out_shapes,
                    output_dtypes=out_dtypes, scalars=scalars, grid=grid, threadgroup=(GPU_BLOCK, 1, 1),
                    init_value=sig.init, ensure_row_contiguous=True, stream=stream,
                )

        def raw(inputs):
            return _detach_structure(_ext.with_rules(launch_gpu(inputs), rules, op), out_dtypes, stream)

    def run(inputs):
        inputs = list(inputs)
        check(inputs)
        return raw(inputs)

    rules = Rules(op, run, out_dtypes, vjp, jvp, vmap)  # vmap's fallback relaunches the same node
    node.launch, node.raw = run, raw
    return node


# The operand each product kernel reads at random rows (by column index): the CPU node collapses a large
# one into transparent huge pages first (kernel_node.cpp, collapse_huge_pages).
GATHERED = {"spmv_csr": "x", "spmv_csr_d16": "x", "spmm_csr": "x", "spmv_cg_matvec": "u"}

MAX_AXIS = 2**31 - 1  # MLX's longest axis (its shapes are 32-bit)


@functools.lru_cache(maxsize=None)
def host_memory() -> int:
    """Physical memory plus swap in bytes (0 when unknown): no CPU allocation larger than this succeeds."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0
    try:
        with open("/proc/meminfo") as f:
            total += next((int(line.split()[1]) * 1024 for line in f if line.startswith("SwapTotal:")), 0)
    except (OSError, ValueError):
        pass
    return total


def check_outputs(op: str, names, shapes, dtypes, gpu: bool) -> None:
    """Outputs MLX cannot hold raise here, when the node is built, with the user's op: more bytes than
    the host has (MemoryError; MLX's CPU allocator would crash the process), or an axis longer than
    MLX's 2^31 - 1 (ValueError; nanobind would reject the shape with a bare TypeError)."""
    need = sum(math.prod(sh) * dt.size for sh, dt in zip(shapes, dtypes))
    have = 0 if gpu else host_memory()
    if have and need > have:
        raise MemoryError(f"{op}: the result needs {need / 2**30:.1f} GiB, more than this machine's memory "
                          f"({have / 2**30:.1f} GiB with swap)")
    for name, sh in zip(names, shapes):
        if any(d > MAX_AXIS for d in sh):
            raise ValueError(f"{op}: output {name} would hold {math.prod(sh)} elements along one axis, more than "
                             f"MLX's limit of 2^31 - 1")


def _detach_structure(outs: list[mx.array], dtypes, stream: mx.Stream) -> list[mx.array]:
    """Index outputs of a node that also computes values (a sort) leave the differentiable graph, as
    MLX asks of integer results (otherwise a derivative of the values would reach them and raise)."""
    if len(outs) == 1:
        return outs
    n_index = sum(d in INDEX_TYPES for d in dtypes)
    if n_index == 0 or n_index == len(dtypes):
        return outs
    return [mx.stop_gradient(o, stream=stream) if _is_index(o) else o for o in outs]


def value_permuting(op: str, kernel: str, operands: dict, value: str, out_value: str, sizes: dict, s: mx.Stream) -> dict:
    """A CPU node whose value output ``out_value`` is a permutation of its value operand ``value``
    (a sort), with derivative rules: the permutation is read off the same node run on 0..nnz-1 as
    float64 (exact), so the vjp is a scatter and the jvp the node itself on the tangent. Returns the
    outputs by name."""
    sig = OPS[kernel]
    names = [i.name for i in sig.inputs]
    vi, vo = names.index(value), [o.name for o in sig.outputs].index(out_value)
    index_t = operands[names[0]].dtype if sig.inputs[0].kind == "I" else None

    def run(xs, **rules):
        return prepare(op, kernel, xs[vi].dtype, index_t, s, sizes, **rules).launch(xs)

    def vjp(primals, cotangents, outputs):
        xs, nnz = list(primals), int(primals[vi].size)
        xs[vi] = mx.arange(nnz, dtype=mx.float64, stream=s)
        perm = run(xs)[vo].astype(mx.int64, stream=s)
        ct = cotangents[vo]
        with mx.stream(s):
            g = mx.zeros((nnz,), dtype=ct.dtype).at[perm].add(ct)
        return [g if i == vi else None for i in range(len(primals))]

    def jvp(primals, tangents):
        xs = list(primals)
        xs[vi] = tangents[vi].astype(primals[vi].dtype, stream=s)
        return [o if i == vo else mx.zeros_like(o, stream=s) for i, o in enumerate(run(xs, vjp=vjp, jvp=jvp))]

    outs = run([operands[n] for n in names], vjp=vjp, jvp=jvp)
    return dict(zip((o.name for o in sig.outputs), outs))


def value_gathering(op: str, kernel: str, operands: dict, sizes: dict, s: mx.Stream, flags: Optional[dict] = None,
                    value: str = "data", src: str = "src", out_value: str = "out_data") -> dict:
    """A node that copies values to the entries it selects: ``out_value[p] = value[src[p]]`` with
    ``src`` another output (row and column gathers, subsets). The kernel writes the values itself (one
    pass, not a separate gather); the derivative rules are those of a gather: the vjp scatters the
    cotangent back at ``src``, the jvp runs the node on the tangent. Returns the outputs by name."""
    sig = OPS[kernel]
    names = [i.name for i in sig.inputs]
    outs_names = [o.name for o in sig.outputs]
    vi, si, vo = names.index(value), outs_names.index(src), outs_names.index(out_value)
    index_t = operands[names[0]].dtype

    def run(xs, **rules):
        return prepare(op, kernel, xs[vi].dtype, index_t, s, sizes, flags=flags, **rules).launch(xs)

    def vjp(primals, cotangents, outputs):
        pos = outputs[si]
        if pos.dtype == mx.int64 and is_gpu(s):  # MLX's GPU scatter takes int32 indices
            pos = pos.astype(mx.int32, stream=s)
        ct = cotangents[vo]
        with mx.stream(s):
            g = mx.zeros((int(primals[vi].size),), dtype=ct.dtype).at[pos].add(ct)
        return [g if i == vi else None for i in range(len(primals))]

    def jvp(primals, tangents):
        xs = list(primals)
        xs[vi] = tangents[vi].astype(primals[vi].dtype, stream=s)
        return [o if i == vo else mx.zeros_like(o, stream=s) for i, o in enumerate(run(xs, vjp=vjp, jvp=jvp))]

    # the other operands are structure (counts of a node that read the values, too): no derivative
    xs = [operands[n] if i == vi else mx.stop_gradient(operands[n], stream=s) for i, n in enumerate(names)]
    outs = run(xs, vjp=vjp, jvp=jvp)
    return dict(zip(outs_names, outs))


def bilinear_jvp(run: Callable, x: int, y: int, count: int, index_dtype, dtype, s: mx.Stream, vjp,
                 scratch: int = 0) -> Callable:
    """The jvp of a node (structure, values) whose values are bilinear in its value inputs at slots
    x and y (a product): d f(a, b) = f(da, b) + f(a, db), each term the node run on a tangent
    (``run(a, b, vjp=, jvp=)``, the values its last output); the structure output gets zeros
    (``count`` of ``index_dtype``; ``count`` None: the node has only the values), and so does a
    first output of ``scratch`` (> 0) index entries."""

    def jvp(primals, tangents):
        parts = []
        if tangents[x] is not None:
            parts.append(run(tangents[x].astype(dtype, stream=s), primals[y], vjp=vjp, jvp=jvp)[-1])
        if tangents[y] is not None:
            parts.append(run(primals[x], tangents[y].astype(dtype, stream=s), vjp=vjp, jvp=jvp)[-1])
        d = parts[0] if len(parts) == 1 else mx.add(parts[0], parts[1], stream=s)
        outs = [d] if count is None else [mx.zeros((count,), dtype=index_dtype, stream=s), d]
        return [mx.zeros((scratch,), dtype=index_dtype, stream=s)] + outs if scratch else outs

    return jvp


def set_num_threads(n: int) -> None:
    """Threads for CPU kernels (0 restores the default: MLX_SPARSE_NUM_THREADS or all cores)."""
    _ext.set_num_threads(int(n))


def get_num_threads() -> int:
    return int(_ext.get_num_threads())
