"""The spmv family (y = A x): the GPU schedule (lanes per row or merge path), 16-bit offsets, and the node."""

from __future__ import annotations

import os
import weakref
from typing import Callable

import mlx.core as mx
import numpy as np

from . import _kernels as K
from ._device import is_gpu

# os.environ's own dict (bytes keys on POSIX), which every write to os.environ updates: a plain dict
# lookup costs 0.1 us, os.environ.get of a missing variable 1-2 us (it raises and catches KeyError).
_ENV = getattr(os.environ, "_data", None)
_ENV_KEY = b"MLX_SPARSE_SPMV" if _ENV is not None and all(type(k) is bytes for k in list(_ENV)[:1]) else None


def spmv_mode() -> str:
    """MLX_SPARSE_SPMV (bench and test override of the GPU SpMV schedule), read at every product."""
    if _ENV_KEY is not None:
        v = _ENV.get(_ENV_KEY)
        return v.decode() if v else ""
    return os.environ.get("MLX_SPARSE_SPMV", "")


def lanes_per_row(avg_row: float) -> int:
    """Lanes per row of the GPU SpMV kernel, from the mean row length (H100 measurements: one lane
    per row is fastest up to ~8 nonzeros per row, four lanes around 16). MLX_SPARSE_SPMV=g<N> forces N."""
    forced = spmv_mode()
    if forced[:1] == "g" and forced[1:] in ("1", "2", "4", "8", "16", "32"):
        return int(forced[1:])
    for g, limit in ((1, 8), (4, 24), (8, 64), (16, 128)):
        if avg_row <= limit:
            return g
    return 32


# ---- the GPU schedule of a structure: lanes per row, or the merge path for uneven rows ---------
MERGE_T = K.MERGE_ITEMS  # merge items (row ends + nonzeros) per block of spmv_csr_mp (the C ABI's constant)
_PLANS: dict = {}  # id(indptr) -> (weak reference to indptr, block starts or None)
_D16: dict = {}  # id(indices) -> (weak reference to indices, weak reference to indptr, int16 column offsets)
_plan_generation = 0  # bumped by every new plan: product recipes made before are stale


def plan_generation() -> int:
    return _plan_generation


def merge_coords(ip: np.ndarray, nnz: int) -> np.ndarray:
    """Where each merge-path block starts: coords[b] = #{i < m : indptr[i+1] + i < min(b*T, m + nnz)}."""
    m = ip.size - 1
    nb = -(-(m + nnz) // MERGE_T)
    diag = ip[1:].astype(np.int64) + np.arange(m, dtype=np.int64)
    return np.searchsorted(diag, np.minimum(np.arange(nb + 1, dtype=np.int64) * MERGE_T, m + nnz), side="left")


def wants_merge(ip: np.ndarray, nnz: int) -> bool:
    """Uneven rows: the longest is over 8x the mean + 128 (H100: power-law graphs run faster by the
    merge path, and rows clustered by length run up to 4x faster; even rows run faster by lanes)."""
    m = ip.size - 1
    if m == 0 or nnz == 0 or ip[0] != 0 or ip[-1] != nnz:
        return False
    lens = np.diff(ip)
    return int(lens.min()) >= 0 and int(lens.max()) > 8 * nnz / m + 128


def plan_spmv(indptr: mx.array, ip: np.ndarray, nnz: int, force: bool = False) -> None:
    """Choose the GPU SpMV schedule of a structure from its host indptr ``ip`` (valid, nondecreasing)
    and keep it with ``indptr`` (every array sharing that buffer uses it). No synchronization."""
    coords = None
    if force or wants_merge(ip, nnz):
        coords = mx.array(merge_coords(ip, nnz).astype(np.int64 if indptr.dtype == mx.int64 else np.int32))
    key = id(indptr)
    _PLANS[key] = (weakref.ref(indptr, lambda _, key=key: _PLANS.pop(key, None)), coords)
    global _plan_generation
    _plan_generation += 1


def plan_d16(indices: mx.array, indptr: mx.array, ind: np.ndarray, ip: np.ndarray) -> bool:
    """Keep 16-bit column offsets (column - row) for a structure whose entries all lie within 32767
    of the diagonal (banded matrices, PDE stencils): SpMV (A x) then reads 2 bytes per entry in
    place of 4 or 8 (2-D Laplacian, kernel level: 2 CPU threads 13.1 -> 10.3 ms). ``ind``/``ip``:
    the host buffers (valid CSR). The offsets cost 2 bytes per entry of memory, on the device of
    the arrays. Returns True if kept."""
    global _plan_generation
    m, nnz = ip.size - 1, ind.size
    lens = np.diff(ip.astype(np.int64))
    if nnz == 0 or ip[0] != 0 or ip[-1] != nnz or lens.min() < 0:
        return False
    d = ind.astype(np.int64) - np.repeat(np.arange(m, dtype=np.int64), lens)
    if d.min() < -32768 or d.max() > 32767:
        return False
    key = id(indices)
    _D16[key] = (weakref.ref(indices, lambda _, key=key: _D16.pop(key, None)), weakref.ref(indptr),
                 mx.array(d.astype(np.int16)))
    _plan_generation += 1
    return True


def d16_of(indices: mx.array, indptr: mx.array):
    """The kept 16-bit column offsets of this structure (``plan_d16``), or None."""
    entry = _D16.get(id(indices))
    if entry is None or entry[0]() is not indices or entry[1]() is not indptr:
        return None
    return entry[2]


def merge_plan(indptr: mx.array, nnz: int):
    """The block starts of the merge path for this structure, or None (lanes per row).
    MLX_SPARSE_SPMV=merge forces the merge path (synchronizes once to plan), =rows forbids it."""
    mode = spmv_mode()
    if mode == "rows" or mode[:1] == "g":
        return None
    entry = _PLANS.get(id(indptr))
    if entry is not None and entry[0]() is indptr and (entry[1] is not None or mode != "merge"):
        return entry[1]
    if mode == "merge":
        plan_spmv(indptr, np.array(indptr).astype(np.int64), nnz, force=True)
        return _PLANS[id(indptr)][1]
    return None


def plan_host(indptr: mx.array, indices: mx.array, ip: np.ndarray, ind, nnz: int) -> None:
    """Plan a structure from its host buffers ``ip`` (and ``ind``, or None): the GPU schedule, and the
    16-bit offsets when the indices are at hand."""
    ip = ip.astype(np.int64, copy=False)
    plan_spmv(indptr, ip, nnz)
    if ind is not None and ind.ndim == 1 and ind.size == nnz and indices.ndim == 1:
        plan_d16(indices, indptr, ind, ip)


def analyze(indptr: mx.array, indices: mx.array, nnz: int, m: int) -> None:
    """Plan the schedule and keep 16-bit offsets for a flat CSR structure (synchronizes: reads it)."""
    if indptr.ndim == 1 and indptr.size == m + 1:
        plan_host(indptr, indices, np.array(indptr), np.array(indices) if indices.ndim == 1 else None, nnz)


def auto_plan(indptr: mx.array, indices: mx.array, nnz: int, m: int) -> bool:
    """Plan a structure at its first product when nobody did (arrays built from MLX arrays, without
    analyze()), but only when its buffers are already evaluated: reading them then starts no
    evaluation. Returns True when a plan was made (recipes made before are stale)."""
    entry = _PLANS.get(id(indptr))
    if entry is not None and entry[0]() is indptr:
        return False
    from . import _ext

    if indptr.ndim != 1 or not (_ext.is_available(indptr) and _ext.is_available(indices)):
        return False
    analyze(indptr, indices, nnz, m)
    return True


# ---- the transposed structure (A^T products by gathering) ---------------------------------------
_TRANSPOSED: dict = {}  # id(indices) -> (weak ref to indices, weak ref to indptr, (tindptr, tindices, perm))


_TCOUNT: dict = {}  # id(indices) -> [weak ref to indices, A^T products run on the structure]


def count_transposed(indices: mx.array) -> int:
    """Count one more A^T product on this structure; returns the count (1 for the first)."""
    key = id(indices)
    entry = _TCOUNT.get(key)
    if entry is None or entry[0]() is not indices:
        entry = _TCOUNT[key] = [weakref.ref(indices, lambda _, key=key: _TCOUNT.pop(key, None)), 0]
    entry[1] += 1
    return entry[1]


def transposed_structure(indptr: mx.array, indices: mx.array, nnz: int, m: int, n: int):
    """The CSR of A^T for a flat CSR structure of shape (m, n): (tindptr[n+1], tindices[nnz], perm[nnz])
    with A^T's entry q holding A's value perm[q], built once by our CSR -> CSC kernel on the CPU and kept
    with the structure (arrays sharing its buffers share it). False while the buffers are not evaluated
    (nothing pending is evaluated here: ask again later); None for a structure that cannot have one
    (an invalid one: the products' own kernels report it). Costs (n + 1 + 2 nnz) indices of memory."""
    key = id(indices)
    entry = _TRANSPOSED.get(key)
    if entry is not None and entry[0]() is indices and entry[1]() is indptr and entry[3] == n:
        return entry[2]
    from . import _ext

    if not (indptr.ndim == 1 and indices.ndim == 1 and indptr.size == m + 1 and indices.size == nnz and nnz > 0):
        return None
    if not (_ext.is_available(indptr) and _ext.is_available(indices)):
        return False
    from ._convert import transpose_csr

    pos = mx.arange(nnz, dtype=mx.float64, stream=mx.cpu)  # each entry's position in A (exact to 2^53)
    try:
        cs = mx.default_stream(mx.cpu)
        d, tind, tptr = transpose_csr("matmul", pos, indices, indptr, (m, n), cs)  # the CSR of A^T
        perm = d.astype(mx.int32 if nnz < 2**31 else mx.int64, stream=mx.cpu)
        mx.eval(tptr, tind, perm)
        out = (tptr, tind, perm)
    except (RuntimeError, ValueError):  # an invalid structure: the products' own kernels say so
        out = None
    _TRANSPOSED[key] = (weakref.ref(indices, lambda _, key=key: _TRANSPOSED.pop(key, None)), weakref.ref(indptr), out,
                        n)  # the column count too: arrays may share buffers under different shapes
    return out


_TVALUES: dict = {}  # id(data) -> (weak ref to data, perm, conj, stream, A^T's values)


def transposed_values(data: mx.array, perm: mx.array, conj: bool, s: mx.Stream) -> mx.array:
    """A's values in A^T's entry order (conjugated for A^H), one take per values array and kept with it
    (a new values array, a tracer under mx.grad among them, gets its own take, which carries the
    derivatives)."""
    key = id(data)
    entry = _TVALUES.get(key)
    if entry is not None and entry[0]() is data and entry[1] is perm and entry[2] == conj and entry[3] == s:
        return entry[4]
    with mx.stream(s):
        t = mx.take(data, perm)
        t = mx.conj(t) if conj else t
    try:
        _TVALUES[key] = (weakref.ref(data, lambda _, key=key: _TVALUES.pop(key, None)), perm, conj, s, t)
    except TypeError:  # not weakly referenceable: no cache
        pass
    return t


# ---- the node ------------------------------------------------------------------------------------
def prepare_spmv(op, data, indices, indptr, shape, s: mx.Stream, rules: dict) -> Callable[[mx.array], mx.array]:
    """y = A x for CSR buffers of shape (m, n): the one place the kernel is chosen. GPU: the merge
    path (two nodes) when the structure was planned for it, else lanes per row from the mean row
    length; both devices: 16-bit column offsets when analyze() kept them. ``rules``: the product's
    vjp/jvp/vmap (inputs indptr, indices, data, x)."""
    m, n = shape
    nnz = int(data.size)
    vt, it = data.dtype, indices.dtype
    sizes = dict(m=m, n=n, nnz=nnz)
    gpu = is_gpu(s)
    flat = indptr.ndim == 1
    coords = merge_plan(indptr, nnz) if gpu and flat else None
    if coords is not None:
        return _merge_product(op, data, indices, indptr, coords, shape, s, rules)
    lanes = lanes_per_row(nnz / max(m, 1)) if gpu else 0
    gpu_args = dict(variant=f"g{lanes}", launch=dict(lanes=lanes)) if gpu else {}
    deltas = d16_of(indices, indptr) if flat else None
    if deltas is not None:  # 16-bit column offsets (the structure's indices stay an input for the rules)
        node = K.prepare(op, "spmv_csr_d16", vt, it, s, sizes, **gpu_args, **extra_inputs_rules(rules))
        return node.bind(True, indptr=indptr, indices=indices, data=data, deltas=deltas)
    node = K.prepare(op, "spmv_csr", vt, it, s, sizes, **gpu_args, **rules)
    return node.bind(True, indptr=indptr, indices=indices, data=data)


def _merge_product(op, data, indices, indptr, coords, shape, s, rules) -> Callable[[mx.array], mx.array]:
    """y = A x on the GPU by the merge path: node 1 sums within equal shares of rows + nonzeros (and
    the carries of rows cut by a share's end), node 2 adds the carries. Node 2 carries the rules."""
    m, n = shape
    nnz = int(data.size)
    nb = int(coords.size) - 1
    at = K.accumulator(data.dtype, True)
    sizes = dict(m=m, n=n, nnz=nnz, nb=nb)
    # node 2's rules give the whole product's derivatives; node 1 (whose outputs only node 2 reads)
    # contributes zeros to the transforms that visit it
    zeros = {
        "vjp": lambda primals, cts, outs: [None, None, mx.zeros_like(primals[2]), mx.zeros_like(primals[3]), None],
        "jvp": lambda primals, tangents: [mx.zeros((m,), dtype=at), mx.zeros((nb,), dtype=at)],
    }
    node1 = K.prepare(op, "spmv_csr_mp", data.dtype, indices.dtype, s, sizes, **zeros)
    node2 = K.prepare(op, "spmv_csr_mpfix", data.dtype, indices.dtype, s, sizes, **extra_inputs_rules(rules))

    def run(x):
        part, carry = node1(indptr=indptr, indices=indices, data=data, x=x, coords=coords)
        return node2(indptr=indptr, indices=indices, data=data, x=x, part=part, carry=carry)[0]

    return run


def extra_inputs_rules(rules: dict) -> dict:
    """Product rules for a node whose inputs are (indptr, indices, data, x, *extras computed from them)."""
    vjp, jvp, vmap = rules["vjp"], rules["jvp"], rules["vmap"]

    def vjp6(primals, cotangents, outputs):  # the extras get zeros (their producer's share is in here)
        return vjp(primals[:4], cotangents, outputs) + [mx.zeros_like(p) for p in primals[4:]]

    # vmap: the product's own rule (the extras follow the operands; None -> one node per batch entry)
    return {"vjp": vjp6, "jvp": lambda primals, tangents: jvp(primals[:4], tangents[:4]),
            "vmap": lambda inputs, axes: vmap(inputs[:4], axes[:4])}
