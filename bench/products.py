"""Products benchmark: y = A x, y = A^T x, Y = A X and Z = A^T W (k = 64) through MLX, with
torch and CuPy on the GPU or scipy, Intel MKL (sparse_dot_mkl) and SuiteSparse:GraphBLAS on the CPU as
peers measured in the same run.

    python bench/products.py [--device cpu|gpu] [--small] [--families lap2d,uniform] [--dtype float16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_sparse as ms  # noqa: E402
from matrices import FAMILIES, build_cusparse_harness, write_bin  # noqa: E402
from spmv import median_time  # noqa: E402

PEER = r"""
import sys, json, numpy as np
d = np.load(sys.argv[1]); ip, ind, val, shape = d["indptr"], d["indices"], d["data"], tuple(d["shape"])
k = int(sys.argv[2]); out = {}
def med(fn, start, stop, reps=20):
    for _ in range(3): fn()
    ts = []
    for _ in range(reps):
        start.record(); fn(); stop.record(); stop.synchronize(); ts.append(start.elapsed_ms(stop) * 1e3)
    return float(np.median(ts))
try:
    import torch
    A = torch.sparse_csr_tensor(torch.from_numpy(ip), torch.from_numpy(ind), torch.from_numpy(val), size=shape).cuda()
    At = A.t().to_sparse_csr()  # torch has no lazy transpose product for CSR: materialized here, not timed
    x = torch.randn(shape[1], device="cuda"); xt = torch.randn(shape[0], device="cuda"); X = torch.randn(shape[1], k, device="cuda")
    Xt = torch.randn(shape[0], k, device="cuda")
    class E:
        def __init__(s): s.e = torch.cuda.Event(enable_timing=True)
        def record(s): s.e.record()
        def synchronize(s): s.e.synchronize()
        def elapsed_ms(s, o): return s.e.elapsed_time(o.e)
    a, b = E(), E()
    out["torch"] = {"spmv": med(lambda: torch.mv(A, x), a, b), "spmv_t(materialized)": med(lambda: torch.mv(At, xt), a, b),
                    "spmm": med(lambda: torch.sparse.mm(A, X), a, b), "spmm_t(materialized)": med(lambda: torch.sparse.mm(At, Xt), a, b)}
except Exception as e:
    out["torch"] = {"error": repr(e)[:200]}
try:
    import cupy as cp, cupyx.scipy.sparse as cps
    A = cps.csr_matrix((cp.asarray(val), cp.asarray(ind), cp.asarray(ip)), shape=shape)
    x = cp.random.standard_normal(shape[1], dtype=cp.float32); xt = cp.random.standard_normal(shape[0], dtype=cp.float32)
    X = cp.random.standard_normal((shape[1], k), dtype=cp.float32)
    Xt = cp.random.standard_normal((shape[0], k), dtype=cp.float32)
    class E:
        def __init__(s): s.e = cp.cuda.Event()
        def record(s): s.e.record()
        def synchronize(s): s.e.synchronize()
        def elapsed_ms(s, o): return cp.cuda.get_elapsed_time(s.e, o.e)
    a, b = E(), E()
    out["cupy"] = {"spmv": med(lambda: A @ x, a, b), "spmv_t": med(lambda: A.T @ xt, a, b), "spmm": med(lambda: A @ X, a, b), "spmm_t": med(lambda: A.T @ Xt, a, b)}
except Exception as e:
    out["cupy"] = {"error": repr(e)[:200]}
print(json.dumps(out))
"""


def cpu_engines(a, xn, xtn, Xn, Xtn, reps) -> dict:
    """The CPU engines a speed-minded user picks, same run: Intel MKL's sparse BLAS (``sparse_dot_mkl``;
    A^T products on a transposed copy made once, not timed) and SuiteSparse:GraphBLAS
    (``python-graphblas``; its own A^T)."""
    out = {}
    try:
        from structure import MKL

        MKL()  # locate libmkl_rt for sparse_dot_mkl
        from sparse_dot_mkl import dot_product_mkl

        at = a.T.tocsr()
        out["mkl"] = {"spmv": 1e6 * median_time(lambda: dot_product_mkl(a, xn), reps),
                      "spmv_t(materialized)": 1e6 * median_time(lambda: dot_product_mkl(at, xtn), reps),
                      "spmm": 1e6 * median_time(lambda: dot_product_mkl(a, Xn), reps),
                      "spmm_t(materialized)": 1e6 * median_time(lambda: dot_product_mkl(at, Xtn), reps)}
    except Exception as e:  # not installed here
        out["mkl"] = {"error": repr(e)[:120]}
    try:
        import graphblas as gb

        G = gb.io.from_scipy_sparse(a)
        v, vt, W, Wt = (gb.Vector.from_dense(xn), gb.Vector.from_dense(xtn), gb.Matrix.from_dense(Xn),
                        gb.Matrix.from_dense(Xtn))
        out["graphblas"] = {"spmv": 1e6 * median_time(lambda: (G @ v).new(), reps),
                            "spmv_t": 1e6 * median_time(lambda: (G.T @ vt).new(), reps),
                            "spmm": 1e6 * median_time(lambda: (G @ W).new(), reps),
                            "spmm_t": 1e6 * median_time(lambda: (G.T @ Wt).new(), reps)}
    except Exception as e:
        out["graphblas"] = {"error": repr(e)[:120]}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if ms.gpu_available() else "cpu")
    p.add_argument("--small", action="store_true")
    p.add_argument("--families", default="lap2d,uniform")
    p.add_argument("--k", type=int, default=64)
    p.add_argument("--ab", default="", help="also time our SpMM kernel built with this extra nvcc flag (e.g. -DMSP_SPMM_U=4)")
    p.add_argument("--dtype", default="float32", help="our value dtype (float16, bfloat16, ...): only ours "
                   "runs, with float32 as the reference beside it")
    args = p.parse_args()
    if args.dtype != "float32":
        return compare_dtype(args)
    gpu = args.device == "gpu"
    ms.use_gpu() if gpu else ms.use_cpu()
    reps, batch = (20, 10) if gpu else (5, 1)
    print(f"{'family':8} {'op':18} {'ours us':>10} {'peer':>8} {'peer us':>10} {'x':>6}")
    for fam in args.families.split(","):
        a = FAMILIES[fam][0](args.small)
        m, n = a.shape
        A = ms.csr_array(a, canonical=True).eval()
        x, xt = mx.random.normal((n,)), mx.random.normal((m,))
        X, Xt = mx.random.normal((n, args.k)), mx.random.normal((m, args.k))
        mx.eval(x, xt, X, Xt)
        ours = {
            "spmv": median_time(lambda: mx.eval([A @ x for _ in range(batch)]), reps, batch),
            "spmv_t": median_time(lambda: mx.eval([A.T @ xt for _ in range(batch)]), reps, batch),
            "spmm": median_time(lambda: mx.eval([A @ X for _ in range(batch)]), reps, batch),
            "spmm_t": median_time(lambda: mx.eval([A.T @ Xt for _ in range(batch)]), reps, batch),
        }
        peers = {}
        if gpu:
            f = tempfile.NamedTemporaryFile(suffix=".npz", delete=False)
            np.savez(f, indptr=a.indptr.astype(np.int32), indices=a.indices.astype(np.int32), data=a.data, shape=np.array(a.shape))
            f.close()
            r = subprocess.run([sys.executable, "-c", PEER, f.name, str(args.k)], capture_output=True, text=True)
            os.unlink(f.name)
            peers = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {"error": r.stderr[-300:]}
        else:
            xn, xtn, Xn, Xtn = np.array(x), np.array(xt), np.array(X), np.array(Xt)
            peers = {"scipy": {"spmv": 1e6 * median_time(lambda: a @ xn, reps), "spmv_t": 1e6 * median_time(lambda: a.T @ xtn, reps),
                               "spmm": 1e6 * median_time(lambda: a @ Xn, reps), "spmm_t": 1e6 * median_time(lambda: a.T @ Xtn, reps)}}
            peers.update(cpu_engines(a, xn, xtn, Xn, Xtn, reps))
        for op, t in ours.items():
            for peer, res in peers.items():
                if not isinstance(res, dict):
                    continue
                pk = next((key for key in res if key == op or key.startswith(op + "(")), None)
                pu = res.get(pk, float("nan")) if pk else float("nan")
                label = pk or op
                print(f"{fam:8} {label:18} {t * 1e6:10.1f} {peer:>8} {pu:10.1f} {pu / (t * 1e6):6.2f}")
                if "error" in res:
                    print(f"  {peer}: {res['error']}")
        if gpu:  # kernel level: cuSPARSE SpMM (every CSR algorithm) vs our kernel, CUDA events
            exe = build_cusparse_harness(tempfile.mkdtemp())
            if exe:
                path = tempfile.mktemp(suffix=".bin")
                xs = np.zeros(n, np.float32)
                write_bin(path, a, xs, np.zeros(m, np.float32))
                res = [json.loads(line) for line in subprocess.run([exe, path, "--spmm", str(args.k)], capture_output=True, text=True).stdout.splitlines() if line.startswith("{")]
                exe_ab = build_cusparse_harness(tempfile.mkdtemp(), (args.ab,), "_ab") if args.ab else None
                if exe_ab:
                    ab = [json.loads(line) for line in subprocess.run([exe_ab, path, "--spmm", str(args.k)], capture_output=True, text=True).stdout.splitlines() if line.startswith('{"alg": "ours')]
                    print(f"{fam:8} spmm kernel with {args.ab}: {ab[0]['us']:.1f} us ({ab[0]['gflops']:.0f} GFLOP/s)" if ab else "  (A/B build failed)")
                os.unlink(path)
                for op, peer_prefix in (("spmm", "spmm_"), ("spmm_t", "t_")):
                    peer = [r for r in res if r["alg"].startswith(peer_prefix)]
                    mine = [r for r in res if r["alg"] == "ours_" + op]
                    if peer and mine:
                        best = min(peer, key=lambda r: r["us"])
                        print(f"{fam:8} {op} kernel k={args.k}: ours {mine[0]['us']:.1f} us ({mine[0]['gflops']:.0f} GFLOP/s, "
                              f"rel. diff {mine[0]['relerr_vs_cusparse']:.1e}) vs cuSPARSE {best['alg']} {best['us']:.1f} us "
                              f"({best['gflops']:.0f} GFLOP/s): {best['us'] / mine[0]['us']:.2f}x")
        gflops = 2 * a.nnz * args.k / ours["spmm"] / 1e9
        print(f"{fam:8} spmm k={args.k}: {gflops:.0f} GFLOP/s; A^T x / A x time: {ours['spmv_t'] / ours['spmv']:.2f}")


def compare_dtype(args) -> None:
    """Our four products in ``args.dtype`` next to the same products in float32 (same run)."""
    gpu = args.device == "gpu"
    ms.use_gpu() if gpu else ms.use_cpu()
    reps, batch = (20, 10) if gpu else (5, 1)
    dt = getattr(mx, args.dtype)
    print(f"{'family':8} {'op':8} {'float32 us':>11} {args.dtype + ' us':>13} {'ratio':>6}")
    for fam in args.families.split(","):
        a = FAMILIES[fam][0](args.small)
        m, n = a.shape
        ops = {}
        for t in (mx.float32, dt):
            A = ms.csr_array(a, canonical=True).astype(t).eval()
            x, xt = mx.random.normal((n,)).astype(t), mx.random.normal((m,)).astype(t)
            X, Xt = mx.random.normal((n, args.k)).astype(t), mx.random.normal((m, args.k)).astype(t)
            mx.eval(x, xt, X, Xt)
            for op, f in (("spmv", lambda: A @ x), ("spmv_t", lambda: A.T @ xt), ("spmm", lambda: A @ X),
                          ("spmm_t", lambda: A.T @ Xt)):
                ops.setdefault(op, []).append(median_time(lambda: mx.eval([f() for _ in range(batch)]), reps, batch))
        for op, (t32, tdt) in ops.items():
            print(f"{fam:8} {op:8} {t32 * 1e6:11.1f} {tdt * 1e6:13.1f} {tdt / t32:6.2f}")


if __name__ == "__main__":
    main()
