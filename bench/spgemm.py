"""Sparse-sparse product benchmark: C = A @ A (and A @ A^T for R-MAT) against the peers, same run.

    python bench/spgemm.py [--small] [--families lap2d,lap3d,uniform,rmat] [--reps N]

CPU peers: scipy, Intel MKL (``sparse_dot_mkl.dot_product_mkl``), SuiteSparse:GraphBLAS
(``python-graphblas`` mxm, plus_times). Prints the time of ours (one staged product: symbolic
count, one synchronization, numeric fill, ending with ``mx.eval`` of the output), its symbolic and
numeric parts, GFLOP/s (2 x the multiply-adds) and peer_time / our_time (> 1: we are faster).
The GPU has no SpGEMM kernel yet (the product raises ``RuntimeError`` there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_sparse as ms  # noqa: E402
from matrices import laplacian_2d, laplacian_3d, rmat, uniform_random  # noqa: E402
from spmv import median_time  # noqa: E402
from structure import MKL  # noqa: E402,F401 (sets MKL_RT for sparse_dot_mkl)

FAMILIES = {
    "lap2d": (lambda small: laplacian_2d(256 if small else 1024), False),
    "lap3d": (lambda small: laplacian_3d(32 if small else 64), False),
    "uniform": (lambda small: uniform_random((1 << 14) if small else (1 << 17), 16), False),
    "rmat": (lambda small: rmat(13 if small else 16), True),  # A @ A^T
}


def flops(A: sp.csr_array, B: sp.csr_array) -> int:
    """Multiply-adds of A @ B: sum over A's entries of the length of B's row they hit."""
    lens = np.diff(B.indptr)
    return int(lens[A.indices].sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    mx.set_default_device(mx.cpu)
    peers = {}
    try:
        MKL()  # locate libmkl_rt for sparse_dot_mkl
        from sparse_dot_mkl import dot_product_mkl

        peers["mkl"] = dot_product_mkl
    except Exception as e:  # pragma: no cover
        print(f"# MKL n/a: {type(e).__name__}")
    try:
        import graphblas as gb

        peers["graphblas"] = gb
    except Exception as e:  # pragma: no cover
        print(f"# GraphBLAS n/a: {type(e).__name__}")
    print(f"# CPU, {ms.get_num_threads()} threads (ours); peers: scipy, {', '.join(peers)}; median of {args.reps}")
    for fam in args.families.split(","):
        make, aat = FAMILIES[fam]
        A = sp.csr_array(make(args.small)).astype(np.float32)
        A.sum_duplicates()
        A.indptr, A.indices = A.indptr.astype(np.int32), A.indices.astype(np.int32)
        B = sp.csr_array(A.T) if aat else A
        B.sum_duplicates()
        B.indptr, B.indices = B.indptr.astype(np.int32), B.indices.astype(np.int32)
        f = flops(A, B)
        oa, ob = ms.csr_array(A), ms.csr_array(B)
        oa.eval(), ob.eval()
        C = oa @ ob
        C.eval()
        ref = A @ B
        assert C.nnz >= ref.nnz, "fewer entries than scipy"
        t_ours = median_time(lambda: (oa @ ob).eval(), args.reps)
        # the symbolic part alone: the count and the scan (what the numeric pass needs)
        from mlx_sparse import _kernels as K
        from mlx_sparse._select import _indptr

        s = mx.default_stream(mx.cpu)
        sizes = dict(m=A.shape[0], k=A.shape[1], n=B.shape[1], nnza=A.nnz, nnzb=B.nnz)

        def symbolic():
            (cnt,) = K.prepare("bench", "spgemm_count", mx.float32, mx.int32, s, sizes)(aptr=oa.indptr, aind=oa.indices,
                                                                                        bptr=ob.indptr, bind=ob.indices)
            _indptr(cnt.astype(mx.int64), s)

        t_sym = median_time(symbolic, args.reps)
        line = (f"{fam:<8} {'A A^T' if aat else 'A A'} m={A.shape[0]} nnz={A.nnz} -> {C.nnz} ({f / 1e6:.1f}M madds): ours "
                f"{t_ours * 1e3:8.2f} ms (symbolic {t_sym * 1e3:.2f}, numeric {(t_ours - t_sym) * 1e3:.2f}) "
                f"{2 * f / t_ours / 1e9:5.2f} GFLOP/s")
        t_sc = median_time(lambda: A @ B, args.reps)
        line += f" | scipy {t_sc * 1e3:8.2f} ms = {t_sc / t_ours:4.2f}x"
        if "mkl" in peers:
            t = median_time(lambda: peers["mkl"](A, B), args.reps)
            line += f" | mkl {t * 1e3:8.2f} ms = {t / t_ours:4.2f}x"
        if "graphblas" in peers:
            gb = peers["graphblas"]
            GA = gb.Matrix.ss.import_csr(nrows=A.shape[0], ncols=A.shape[1], indptr=A.indptr, col_indices=A.indices,
                                         values=A.data, sorted_cols=True)
            GB = GA if B is A else gb.Matrix.ss.import_csr(nrows=B.shape[0], ncols=B.shape[1], indptr=B.indptr,
                                                           col_indices=B.indices, values=B.data, sorted_cols=True)
            t = median_time(lambda: GA.mxm(GB, gb.semiring.plus_times).new().wait(), args.reps)
            line += f" | graphblas {t * 1e3:8.2f} ms = {t / t_ours:4.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
