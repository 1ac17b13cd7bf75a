"""Structure benchmark: conversions, fromdense, slicing, tril, kron and transpose against the peers, same run.

    python bench/structure.py [--device cpu|gpu] [--small] [--families lap2d,uniform,rmat] [--ops ...]

CPU peers: scipy, Intel MKL's inspector-executor conversions (``mkl_sparse_convert_csr`` on COO and
CSR handles, the library loaded by ``sparse_dot_mkl``), SuiteSparse:GraphBLAS (``python-graphblas``).
GPU peers: CuPy (``cupyx.scipy.sparse``, cuSPARSE underneath) and torch. Peers missing from the
machine print ``n/a``. Times are medians; ours include the one synchronization a staged op makes and
end with ``mx.eval`` of every output buffer (what a user waits for). Each line prints the time,
the effective bandwidth (input and output bytes each moved once) with its fraction of the copy
bandwidth measured in the same run, and peer_time / our_time (> 1: we are faster).

What each op computes (the same result for every engine, except where noted):
  coo_tocsr   unsorted COO with 10% duplicate entries -> canonical CSR (sorted, summed)
              (MKL: its COO -> CSR conversion; GraphBLAS: Matrix.from_coo with dup_op=plus)
  csr_tocsc   canonical CSR -> canonical CSC
  transpose   canonical CSR -> canonical CSR of A^T (the same arrays as csr_tocsc, named as users ask)
  fromdense   a dense 4096 x 4096 block (the family's leading block, at least 1% nonzeros) -> CSR
  rows        A[a:b] (a contiguous quarter) and A[rows] (m/8 random rows)
  cols        A[:, a:b] (a quarter of the columns) and A[:, cols] (n/8 random columns)
  tril        tril(A) (canonical input)
  kron        kron(A_small, B) with A_small a 3x3 dense-pattern matrix (9 scaled copies of B)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_sparse as ms  # noqa: E402
from matrices import laplacian_2d, laplacian_3d, rmat, uniform_random  # noqa: E402
from spmv import cpu_copy_gbps, median_time  # noqa: E402

STRUCT_FAMILIES = {
    "lap2d": lambda small: laplacian_2d(512 if small else 2048),
    "lap3d": lambda small: laplacian_3d(48 if small else 128),
    "uniform": lambda small: uniform_random((1 << 16) if small else (1 << 20), 16),
    "rmat": lambda small: rmat(16 if small else 20),
}
OPS = ["coo_tocsr", "csr_tocsc", "transpose", "fromdense", "rows", "cols", "tril", "kron"]


# ---- peers ----------------------------------------------------------------------------------------
class MKL:
    """The inspector-executor conversions of Intel MKL through ctypes (LP64: int32 indices)."""

    def __init__(self):
        if not os.environ.get("MKL_RT"):  # the mkl wheel installs libmkl_rt next to the interpreter's lib
            cand = os.path.join(sys.prefix, "lib", "libmkl_rt.so.2")
            for v in ("2", "3"):
                p = os.path.join(sys.prefix, "lib", f"libmkl_rt.so.{v}")
                if os.path.exists(p):
                    cand = p
            os.environ["MKL_RT"] = cand
        from sparse_dot_mkl._mkl_interface import _cfunctions as cf  # noqa: F401 (loads the library)

        self.lib = ctypes.CDLL(cf._libmkl._name)  # our own function objects: argtypes not shared with sparse_dot_mkl
        P, I = ctypes.c_void_p, ctypes.c_int
        self.lib.mkl_sparse_s_create_coo.argtypes = [ctypes.POINTER(P), I, I, I, I, P, P, P]
        self.lib.mkl_sparse_s_create_csr.argtypes = [ctypes.POINTER(P), I, I, I, P, P, P, P]
        self.lib.mkl_sparse_convert_csr.argtypes = [P, I, ctypes.POINTER(P)]
        self.lib.mkl_sparse_destroy.argtypes = [P]
        self.lib.mkl_sparse_s_export_csr.argtypes = [P, ctypes.POINTER(I), ctypes.POINTER(I), ctypes.POINTER(I),
                                                     ctypes.POINTER(P), ctypes.POINTER(P), ctypes.POINTER(P),
                                                     ctypes.POINTER(P)]

    def _check(self, st, what):
        if st != 0:
            raise RuntimeError(f"MKL {what} status {st}")

    def _convert(self, src, op):
        dst = ctypes.c_void_p()
        self._check(self.lib.mkl_sparse_convert_csr(src, op, ctypes.byref(dst)), "convert_csr")
        # export (pointers into MKL's buffers: no copy), as a user reading the result would
        base, r, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        ps, pe, ci, v = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        self._check(self.lib.mkl_sparse_s_export_csr(dst, ctypes.byref(base), ctypes.byref(r), ctypes.byref(c), ctypes.byref(ps),
                                                     ctypes.byref(pe), ctypes.byref(ci), ctypes.byref(v)), "export_csr")
        self.lib.mkl_sparse_destroy(dst)

    def coo_tocsr(self, m, n, row, col, val):
        h = ctypes.c_void_p()
        self._check(self.lib.mkl_sparse_s_create_coo(ctypes.byref(h), 0, m, n, row.size, row.ctypes.data, col.ctypes.data,
                                                     val.ctypes.data), "create_coo")
        self._convert(h, 10)
        self.lib.mkl_sparse_destroy(h)

    def csr_transpose(self, a):
        h = ctypes.c_void_p()
        ip = a.indptr
        self._check(self.lib.mkl_sparse_s_create_csr(ctypes.byref(h), 0, a.shape[0], a.shape[1], ip.ctypes.data,
                                                     ip[1:].ctypes.data, a.indices.ctypes.data, a.data.ctypes.data),
                    "create_csr")
        self._convert(h, 11)  # SPARSE_OPERATION_TRANSPOSE: the CSR of A^T, i.e. A's CSC
        self.lib.mkl_sparse_destroy(h)


def load_peers(device: str) -> dict:
    peers = {}
    if device == "cpu":
        try:
            peers["mkl"] = MKL()
        except Exception as e:  # pragma: no cover - depends on the machine
            print(f"# MKL: n/a ({type(e).__name__}: {str(e)[:80]})")
        try:
            import graphblas as gb

            gb.init("suitesparse", blocking=True) if not getattr(gb, "_init_params", None) else None
            peers["graphblas"] = gb
        except Exception as e:  # pragma: no cover
            print(f"# GraphBLAS: n/a ({type(e).__name__}: {str(e)[:80]})")
    else:
        try:
            import cupy
            import cupyx.scipy.sparse as csp

            peers["cupy"] = (cupy, csp)
        except Exception as e:  # pragma: no cover
            print(f"# CuPy: n/a ({type(e).__name__})")
        try:
            import torch

            if torch.cuda.is_available():
                peers["torch"] = torch
        except Exception:  # pragma: no cover
            pass
    return peers


# ---- one family -------------------------------------------------------------------------------------
def _mx(a):
    return mx.array(a)


def _eval_sparse(B):
    if isinstance(B, mx.array):
        mx.eval(B)
    else:
        mx.eval(*B._buffers())


def run_family(name: str, A: sp.csr_array, ops: list, device: str, peers: dict, reps: int, copy_gbps: float) -> list:
    m, n = A.shape
    A = sp.csr_array(A)
    A.sum_duplicates()
    A.indptr, A.indices = A.indptr.astype(np.int32), A.indices.astype(np.int32)
    A.data = A.data.astype(np.float32)
    nnz = A.nnz
    dev = mx.gpu if device == "gpu" else mx.cpu
    mx.set_default_device(dev)
    ours = ms.csr_array(A)
    _eval_sparse(ours)
    rng = np.random.default_rng(1)
    rows_out = []
    print(f"\n== {name}: {m} x {n}, nnz {nnz}")

    def line(op, ours_s, bytes_moved, peer_times):
        gbps = bytes_moved / ours_s / 1e9
        parts = [f"{op:<12} ours {ours_s * 1e3:9.3f} ms  {gbps:6.1f} GB/s ({100 * gbps / copy_gbps:4.0f}% copy)"]
        for pn, pt in peer_times.items():
            parts.append(f"{pn} {pt * 1e3:9.3f} ms = {pt / ours_s:5.2f}x" if pt == pt else f"{pn} n/a")
        print("  ".join(parts))
        rows_out.append(dict(family=name, op=op, ours_ms=ours_s * 1e3, gbps=gbps,
                             **{f"{k}_ms": v * 1e3 for k, v in peer_times.items()}))

    def t(fn):
        try:
            return median_time(fn, reps)
        except Exception as e:  # a peer without this operation (or out of memory): n/a
            print(f"  # n/a: {type(e).__name__}: {str(e)[:100]}")
            return float("nan")

    def t_gpu(fn, sync):
        def run():
            fn()
            sync()
        return t(run)

    cupy = peers.get("cupy")
    torch = peers.get("torch")
    cp_sync = (lambda: cupy[0].cuda.Device().synchronize()) if cupy else None
    th_sync = (lambda: torch.cuda.synchronize()) if torch else None
    if cupy:
        cA = cupy[1].csr_matrix((cupy[0].asarray(A.data), cupy[0].asarray(A.indices), cupy[0].asarray(A.indptr)),
                                shape=A.shape)
        cA.has_canonical_format = True

    for op in ops:
        peer = {}
        if op == "coo_tocsr":
            C = A.tocoo()
            k = nnz // 10
            pick = rng.integers(0, nnz, k)
            row = np.concatenate([C.row, C.row[pick]]).astype(np.int32)
            col = np.concatenate([C.col, C.col[pick]]).astype(np.int32)
            val = np.concatenate([C.data, C.data[pick]]).astype(np.float32)
            perm = rng.permutation(row.size)
            row, col, val = row[perm], col[perm], val[perm]
            r_mx, c_mx, v_mx = _mx(row), _mx(col), _mx(val)
            mx.eval(r_mx, c_mx, v_mx)
            check = ms.coo_array((v_mx, (r_mx, c_mx)), shape=(m, n)).tocsr()
            assert check.nnz == nnz, "coo_tocsr: wrong nnz"
            ours_s = t(lambda: _eval_sparse(ms.coo_array((v_mx, (r_mx, c_mx)), shape=(m, n)).tocsr()))
            if device == "cpu":
                S = sp.coo_array((val, (row, col)), shape=(m, n))
                peer["scipy"] = t(lambda: sp.coo_array((val, (row, col)), shape=(m, n)).tocsr())
                if "mkl" in peers:
                    peer["mkl"] = t(lambda: peers["mkl"].coo_tocsr(m, n, row, col, val))
                if "graphblas" in peers:
                    gb = peers["graphblas"]
                    peer["graphblas"] = t(lambda: gb.Matrix.from_coo(row, col, val, nrows=m, ncols=n, dup_op=gb.binary.plus).wait())
                del S
            else:
                if cupy:
                    cr, cc, cv = (cupy[0].asarray(x) for x in (row, col, val))
                    peer["cupy"] = t_gpu(lambda: cupy[1].coo_matrix((cv, (cr, cc)), shape=(m, n)).tocsr(), cp_sync)
                if torch:
                    ti = torch.stack([torch.as_tensor(row, device="cuda").long(), torch.as_tensor(col, device="cuda").long()])
                    tv = torch.as_tensor(val, device="cuda")
                    peer["torch"] = t_gpu(lambda: torch.sparse_coo_tensor(ti, tv, (m, n)).coalesce().to_sparse_csr(), th_sync)
            bytes_moved = row.size * 12 + nnz * 8 + (m + 1) * 4
        elif op in ("csr_tocsc", "transpose"):
            if op == "csr_tocsc":
                ours_s = t(lambda: _eval_sparse(ours.tocsc()))
            else:
                ours_s = t(lambda: _eval_sparse(ours.T.tocsr()))
            if device == "cpu":
                peer["scipy"] = t(lambda: A.tocsc()) if op == "csr_tocsc" else t(lambda: A.T.tocsr())
                if "mkl" in peers:
                    peer["mkl"] = t(lambda: peers["mkl"].csr_transpose(A))
                if "graphblas" in peers:
                    gb = peers["graphblas"]
                    G = gb.Matrix.ss.import_csr(nrows=m, ncols=n, indptr=A.indptr, col_indices=A.indices, values=A.data,
                                                sorted_cols=True)
                    if op == "csr_tocsc":  # the same matrix stored by column
                        peer["graphblas"] = t(lambda: G.dup().ss.export("csc"))
                    else:
                        peer["graphblas"] = t(lambda: G.T.new().ss.export("csr"))
            else:
                if cupy:
                    peer["cupy"] = t_gpu(lambda: cA.tocsc(), cp_sync) if op == "csr_tocsc" else t_gpu(lambda: cA.T.tocsr(), cp_sync)
                if torch:
                    tA = torch.sparse_csr_tensor(torch.as_tensor(A.indptr, device="cuda").long(),
                                                 torch.as_tensor(A.indices, device="cuda").long(),
                                                 torch.as_tensor(A.data, device="cuda"), size=(m, n))
                    peer["torch"] = t_gpu(lambda: tA.to_sparse_csc(), th_sync)
            bytes_moved = 2 * (nnz * 8 + (m + 1) * 4)
        elif op == "fromdense":
            b = 4096
            blk = A[: min(b, m)][:, : min(b, n)]
            if blk.nnz < 0.01 * blk.shape[0] * blk.shape[1]:  # too sparse a block: add 1% random entries
                extra = sp.random_array(blk.shape, density=0.01, format="csr", random_state=2, dtype=np.float32)
                blk = sp.csr_array(blk + extra)
            D = blk.toarray().astype(np.float32)
            Dm = _mx(D)
            mx.eval(Dm)
            ours_s = t(lambda: _eval_sparse(ms.fromdense(Dm)))
            if device == "cpu":
                peer["scipy"] = t(lambda: sp.csr_array(D))
                if "graphblas" in peers:
                    gb = peers["graphblas"]
                    peer["graphblas"] = t(lambda: gb.Matrix.from_dense(D, missing_value=0).wait())
            else:
                if cupy:
                    cD = cupy[0].asarray(D)
                    peer["cupy"] = t_gpu(lambda: cupy[1].csr_matrix(cD), cp_sync)
                if torch:
                    tD = torch.as_tensor(D, device="cuda")
                    peer["torch"] = t_gpu(lambda: tD.to_sparse_csr(), th_sync)
            bytes_moved = D.nbytes + blk.nnz * 8 + (D.shape[0] + 1) * 4
            op = f"fromdense({D.shape[0]}, {100 * blk.nnz / D.size:.1f}%)"
        elif op in ("rows", "cols"):
            dim = m if op == "rows" else n
            a, b = dim // 4, dim // 2
            pick = np.sort(rng.choice(dim, dim // 8, replace=False)).astype(np.int64)
            for kind, key in (("slice", slice(a, b)), ("fancy", pick)):
                k = (key, slice(None)) if op == "rows" else (slice(None), key)
                ref = A[k]
                got = ours[k]
                assert got.nnz == ref.nnz, f"{op} {kind}: nnz {got.nnz} != {ref.nnz}"
                ours_s = t(lambda: _eval_sparse(ours[k]))
                if device == "cpu":
                    peer = {"scipy": t(lambda: A[k])}
                    if "graphblas" in peers:
                        gb = peers["graphblas"]
                        G = gb.Matrix.ss.import_csr(nrows=m, ncols=n, indptr=A.indptr, col_indices=A.indices,
                                                    values=A.data, sorted_cols=True)
                        idx = key if kind == "fancy" else np.arange(a, b)
                        peer["graphblas"] = t(lambda: (G[idx, :] if op == "rows" else G[:, idx]).new().wait())
                else:
                    peer = {}
                    if cupy:
                        ck = (key if kind == "slice" else cupy[0].asarray(key))
                        ck = (ck, slice(None)) if op == "rows" else (slice(None), ck)
                        peer["cupy"] = t_gpu(lambda: cA[ck], cp_sync)
                    if torch and op == "rows":
                        tA = torch.sparse_csr_tensor(torch.as_tensor(A.indptr, device="cuda").long(),
                                                     torch.as_tensor(A.indices, device="cuda").long(),
                                                     torch.as_tensor(A.data, device="cuda"), size=(m, n))
                        ti = torch.as_tensor(key if kind == "fancy" else np.arange(a, b), device="cuda")
                        peer["torch"] = t_gpu(lambda: tA.index_select(0, ti), th_sync)
                bytes_moved = 2 * ref.nnz * 8 + (ref.shape[0] + 1) * 4 + (0 if op == "rows" else nnz * 4)
                line(f"{op}_{kind}", ours_s, bytes_moved, peer)
            continue
        elif op == "tril":
            ref = sp.tril(A, format="csr")
            ours_s = t(lambda: _eval_sparse(ms.tril(ours)))
            if device == "cpu":
                peer["scipy"] = t(lambda: sp.tril(A, format="csr"))
                if "graphblas" in peers:
                    gb = peers["graphblas"]
                    G = gb.Matrix.ss.import_csr(nrows=m, ncols=n, indptr=A.indptr, col_indices=A.indices, values=A.data,
                                                sorted_cols=True)
                    peer["graphblas"] = t(lambda: G.select("tril").new().wait())
            else:
                if cupy:
                    peer["cupy"] = t_gpu(lambda: cupy[1].tril(cA, format="csr"), cp_sync)
            bytes_moved = nnz * 8 + ref.nnz * 8 + 2 * (m + 1) * 4
        elif op == "kron":
            S3 = sp.csr_array(np.arange(1, 10, dtype=np.float32).reshape(3, 3))
            o3 = ms.csr_array(S3)
            ref_nnz = 9 * nnz
            ours_s = t(lambda: _eval_sparse(ms.kron(o3, ours, format="csr")))
            if device == "cpu":
                peer["scipy"] = t(lambda: sp.kron(S3, A, format="csr"))
                if "graphblas" in peers:
                    gb = peers["graphblas"]
                    G = gb.Matrix.ss.import_csr(nrows=m, ncols=n, indptr=A.indptr, col_indices=A.indices, values=A.data,
                                                sorted_cols=True)
                    G3 = gb.Matrix.from_dense(S3.toarray())
                    peer["graphblas"] = t(lambda: G3.kronecker(G, gb.binary.times).new().wait())
            else:
                if cupy:
                    c3 = cupy[1].csr_matrix(cupy[0].asarray(S3.toarray()))
                    peer["cupy"] = t_gpu(lambda: cupy[1].kron(c3, cA, format="csr"), cp_sync)
            bytes_moved = nnz * 8 + ref_nnz * 8 + (3 * m + 1) * 4
        else:
            raise ValueError(f"unknown op {op}")
        line(op, ours_s, bytes_moved, peer)
    return rows_out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if ms.gpu_available() else "cpu")
    p.add_argument("--small", action="store_true", help="reduced sizes (smoke test)")
    p.add_argument("--families", default=",".join(STRUCT_FAMILIES))
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--reps", type=int, default=0)
    p.add_argument("--json", default="")
    args = p.parse_args()
    reps = args.reps or (3 if args.small else 7)
    peers = load_peers(args.device)
    if args.device == "cpu":
        copy_gbps = cpu_copy_gbps()
        print(f"# CPU, {ms.get_num_threads()} threads (ours), copy {copy_gbps:.1f} GB/s; peers: scipy, "
              + ", ".join(peers) + "; median of", reps)
    else:
        import cupy

        a = cupy.ones(1 << 28, dtype=cupy.float32)
        b = cupy.empty_like(a)
        cupy.copyto(b, a)
        cupy.cuda.Device().synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            cupy.copyto(b, a)
        cupy.cuda.Device().synchronize()
        copy_gbps = 2 * a.nbytes * 10 / (time.perf_counter() - t0) / 1e9
        print(f"# GPU, copy {copy_gbps:.0f} GB/s; peers: " + ", ".join(peers) + "; median of", reps)
    results = []
    for fam in args.families.split(","):
        A = STRUCT_FAMILIES[fam](args.small)
        results += run_family(fam, A, args.ops.split(","), args.device, peers, reps, copy_gbps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=args.device, copy_gbps=copy_gbps, rows=results), f, indent=1)


if __name__ == "__main__":
    main()
