"""The canonical family: sorted indices, duplicates summed (explicit zeros kept); one sync on the new nnz.

CPU: sort_rows (sort within rows, count distinct columns) then sum_rows (COO input: the convert
family's sort by (row, col), which counts the distinct columns too, then sum_rows). GPU: MLX's argsort by
(row, col), run starts scanned with mx.cumsum, then sum_runs and the row-pointer kernel. Functions
take and return MLX buffers.
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._convert import coo_sorted_cpu, expand_rows, indptr_from_sorted_rows
from ._device import is_gpu
from ._select import scan0


def sum_duplicates(op: str, data, indices, indptr, shape, s: mx.Stream):
    """Canonical CSR buffers (data, indices, indptr) of CSR buffers; synchronizes once on the new nnz."""
    m, n = shape
    nnz = int(data.size)
    if is_gpu(s):
        return from_triplets(op, expand_rows(op, indptr, nnz, data.dtype, s), indices, data, shape, s)
    out = K.value_permuting(op, "canonical_sort_rows", dict(indptr=indptr, indices=indices, data=data), "data",
                            "sorted_data", dict(m=m, n=n, nnz=nnz), s)
    return _sum_rows(op, indptr, out["sorted_indices"], out["sorted_data"], out["uptr"], shape, s)


def sort_indices(op: str, data, indices, indptr, shape, s: mx.Stream):
    """(data, indices) of CSR buffers with each row's columns sorted (duplicates kept, adjacent); lazy,
    differentiable in the values. CPU: our sort_rows kernel; GPU: MLX's argsort by (row, col)."""
    m, n = shape
    nnz = int(data.size)
    if nnz == 0:
        return data, indices
    if is_gpu(s):
        rows = expand_rows(op, indptr, nnz, data.dtype, s)
        with mx.stream(s):
            perm = mx.stop_gradient(mx.argsort(rows.astype(mx.int64) * max(n, 1) + indices.astype(mx.int64)))
            return mx.take(data, perm), mx.take(indices, perm)
    out = K.value_permuting(op, "canonical_sort_rows", dict(indptr=indptr, indices=indices, data=data), "data",
                            "sorted_data", dict(m=m, n=n, nnz=nnz), s)
    return out["sorted_data"], out["sorted_indices"]


def coo_to_canonical(op: str, row, col, data, shape, s: mx.Stream):
    """Canonical CSR buffers of COO triplets; synchronizes once on the new nnz."""
    m, _ = shape
    if int(data.size) == 0:
        return data, col, mx.zeros((m + 1,), dtype=row.dtype, stream=s)
    if is_gpu(s):
        return from_triplets(op, row, col, data, shape, s)
    d, ind, ptr, uptr = coo_sorted_cpu(op, row, col, data, shape, s)  # sorted: only the sum remains
    return _sum_rows(op, ptr, ind, d, mx.stop_gradient(uptr), shape, s)


def _run_ids(op, indptr, ind, nnz, vt, s) -> mx.array:
    """For row-sorted entries with sorted columns: the index of each entry's run of equal (row, col)."""
    rows = expand_rows(op, indptr, nnz, vt, s)
    with mx.stream(s):
        new = mx.logical_or(rows[1:] != rows[:-1], ind[1:] != ind[:-1])
        return scan0(new.astype(mx.int64), s, op)


def _sum_rows(op, indptr, ind, val, uptr, shape, s):
    m, n = shape
    mx.eval(uptr)  # the one synchronization: the canonical nnz
    nnz2 = int(uptr[m].item())
    it, vt = ind.dtype, val.dtype
    sizes = dict(m=m, n=n, nnz=int(val.size), nnz2=nnz2)

    def run(v, **rules):
        return K.prepare(op, "canonical_sum_rows", v.dtype, it, s, sizes, **rules)(indptr=indptr, indices=ind, data=v, uptr=uptr)

    def vjp(primals, cotangents, outputs):  # each entry receives its run's cotangent
        return [None, None, mx.take(cotangents[1], _run_ids(op, primals[0], primals[1], int(primals[2].size), vt, s), stream=s), None]

    def jvp(primals, tangents):
        oind, oval = run(tangents[2].astype(vt, stream=s), vjp=vjp, jvp=jvp)
        return [mx.zeros_like(oind, stream=s), oval]

    oind, oval = run(val, vjp=vjp, jvp=jvp)
    return oval, oind, uptr


def from_triplets(op, rows, cols, data, shape, s):
    """GPU canonicalization of (row, col, value) triplets: sort by (row, col) with MLX's argsort,
    mark run starts, scan them, synchronize once on the new nnz (and the bounds check), then sum
    each run in order and build the row pointer with our kernels."""
    plan = triplet_plan(op, rows, cols, shape, s)
    return triplet_values(op, plan, data, s), plan["indices"], plan["indptr"]


def triplet_plan(op, rows, cols, shape, s) -> dict:
    """The structure of the canonical form of (row, col) pairs, kept so new values on the same pairs
    need only :func:`triplet_values` (no sort, no synchronization): the sort permutation, each
    sorted pair's output position, the output's indices and row pointer."""
    m, n = shape
    it = rows.dtype
    k = int(rows.size)
    with mx.stream(s):
        r64, c64 = rows.astype(mx.int64), cols.astype(mx.int64)
        perm = mx.argsort(r64 * max(n, 1) + c64)
        rs, cs = mx.take(rows, perm), mx.take(cols, perm)
        new = mx.logical_or(rs[1:] != rs[:-1], cs[1:] != cs[:-1])
        flags = mx.concatenate([mx.ones((1,), dtype=it), new.astype(it)])
        pos = scan0(flags, s, op)[1:] - 1
        bad = mx.any((r64 < 0) | (r64 >= m) | (c64 < 0) | (c64 >= n))
        nnz2_a = pos[-1] + 1
    mx.eval(nnz2_a, bad)  # the one synchronization
    if bad.item():
        raise ValueError(f"{op}: row or column index out of range for shape {shape}")
    nnz2 = int(nnz2_a.item())
    plan = dict(perm=perm, rs=rs, cs=cs, pos=pos, nnz=k, nnz2=nnz2, shape=shape)
    # the output structure: the run-sum kernel on zeros gives the indices and rows
    (oind, _, orow) = K.prepare(op, "canonical_sum_runs", mx.float32, it, s, dict(nnz=k, nnz2=nnz2))(
        rows=rs, cols=cs, data=mx.zeros((k,), dtype=mx.float32, stream=s), pos=pos)
    plan["indices"] = oind
    plan["indptr"] = indptr_from_sorted_rows(op, orow, m, mx.float32, s)
    return plan


def triplet_values(op, plan, data, s) -> mx.array:
    """The canonical values of triplets with the planned (row, col) pairs: sorted by the kept
    permutation and summed per run; lazy, differentiable in ``data``."""
    rs, cs, pos, perm = plan["rs"], plan["cs"], plan["pos"], plan["perm"]
    sizes = dict(nnz=plan["nnz"], nnz2=plan["nnz2"])
    vt, it = data.dtype, rs.dtype

    def run(v, **rules):
        return K.prepare(op, "canonical_sum_runs", vt, it, s, sizes, **rules)(rows=rs, cols=cs, data=v, pos=pos)

    def vjp(primals, cotangents, outputs):  # each entry receives its run's cotangent
        return [None, None, mx.take(cotangents[1], primals[3], stream=s), None]

    def jvp(primals, tangents):
        o = run(tangents[2].astype(vt, stream=s), vjp=vjp, jvp=jvp)
        return [mx.zeros_like(o[0], stream=s), o[1], mx.zeros_like(o[2], stream=s)]

    with mx.stream(s):
        ds = mx.take(data, perm)
    return run(ds, vjp=vjp, jvp=jvp)[1]
