"""Krylov benchmark: CG on 2-D and 3-D Poisson problems, time per iteration and to a tolerance, same run.

    python bench/linalg.py [--device cpu|gpu] [--sizes 64k,256k,1m] [--iters N] [--check-every K]
    python bench/linalg.py --amg [--device cpu|gpu] [--sizes 3d-262k]
    python bench/linalg.py --tri [--device cpu|gpu] [--sizes 64k,1m,3d-262k]

Ours is ``ms.linalg.cg`` on a CSR array (float32), as a user calls it: each solve starts from
zero, ``maxiter`` iterations with an unreachable tolerance for the per-iteration time, then a solve
to rtol=1e-6. Peers: scipy's cg (CPU); cupyx.scipy.sparse.linalg.cg and a hand-written CG on
torch.sparse (GPU, in their own process). Ratios are peer time / ours (> 1: we are faster).
``--amg``: AMG-preconditioned CG to rtol 1e-8 (float64 on the CPU, float32 on the GPU): our
``ms.linalg.amg`` + ``cg`` against pyamg's smoothed-aggregation solver used as a CG
preconditioner (pyamg ``smoothed_aggregation_solver(A).solve(b, accel="cg")``, on the CPU), setup
and solve times and iterations.
``--tri``: sparse triangular solves and incomplete factorizations on the lower triangle of the
Poisson matrix, each call evaluated alone as a user runs it (median): ours ``M @ b`` with
``M = ms.linalg.ic0(A)`` (a lower and an upper solve) and ``spsolve_triangular`` (which also checks
the diagonal, one synchronization), the IC(0)/ILU(0) setup, and IC(0)-preconditioned CG to 1e-6
against plain CG. Peers: scipy (CPU); CuPy's ``spsolve_triangular`` and ``spilu`` (cuSPARSE, with
their analysis in every call, as CuPy runs them) and torch's ``triangular_solve`` on a sparse CSR
matrix (GPU, own process).
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
from matrices import laplacian_2d, laplacian_3d, median_wall, run_peer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {"64k": lambda: laplacian_2d(256), "256k": lambda: laplacian_2d(512), "1m": lambda: laplacian_2d(1024),
         "4m": lambda: laplacian_2d(2048), "3d-262k": lambda: laplacian_3d(64), "3d-1m": lambda: laplacian_3d(100)}

PEER = r'''
import json, sys, time
import numpy as np, scipy.sparse as sp
d = np.load(sys.argv[1]); iters = int(sys.argv[2])
A = sp.csr_array((d["data"], d["indices"], d["indptr"]), shape=tuple(d["shape"]))
b = np.ones(A.shape[0], np.float32)
out = {}
try:
    import cupy as cp, cupyx.scipy.sparse as cps, cupyx.scipy.sparse.linalg as cpl
    Ad, bd = cps.csr_matrix(A), cp.asarray(b)
    import inspect
    key = "rtol" if "rtol" in inspect.signature(cpl.cg).parameters else "tol"  # CuPy renamed it
    cpl.cg(Ad, bd, maxiter=5); cp.cuda.Device().synchronize()
    t0 = time.perf_counter(); cpl.cg(Ad, bd, maxiter=iters, **{key: 1e-30}); cp.cuda.Device().synchronize()
    out["cupyx_iter_us"] = (time.perf_counter() - t0) / iters * 1e6
    t0 = time.perf_counter(); x, info = cpl.cg(Ad, bd, maxiter=100000, **{key: 1e-6}); cp.cuda.Device().synchronize()
    out["cupyx_solve_ms"] = (time.perf_counter() - t0) * 1e3
except Exception as e:
    out["cupyx_error"] = repr(e)[:200]
try:
    import torch
    At = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)), torch.from_numpy(A.indices.astype(np.int64)),
                                 torch.from_numpy(A.data), size=A.shape).cuda()
    bt = torch.from_numpy(b).cuda()
    def tcg(k):  # the textbook CG on torch.sparse (no convergence test: fixed iterations)
        x = torch.zeros_like(bt); r = bt.clone(); p = r.clone(); rz = torch.dot(r, r)
        for _ in range(k):
            q = torch.mv(At, p); a = rz / torch.dot(p, q); x += a * p; r -= a * q
            rn = torch.dot(r, r); p = r + (rn / rz) * p; rz = rn
        return x
    tcg(5); torch.cuda.synchronize()
    t0 = time.perf_counter(); tcg(iters); torch.cuda.synchronize()
    out["torch_iter_us"] = (time.perf_counter() - t0) / iters * 1e6
except Exception as e:
    out["torch_error"] = repr(e)[:200]
print(json.dumps(out))
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if ms.gpu_available() else "cpu")
    p.add_argument("--sizes", default="64k,256k,1m")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--check-every", type=int, default=None)
    p.add_argument("--amg", action="store_true", help="AMG-preconditioned CG against pyamg")
    p.add_argument("--tri", action="store_true", help="triangular solves and IC(0)/ILU(0) against the peers")
    args = p.parse_args()
    if args.amg:
        return amg_main(args)
    if args.tri:
        return tri_main(args)
    gpu = args.device == "gpu"
    mx.set_default_device(mx.gpu if gpu else mx.cpu)
    print(f"# CG, float32, {args.device}; check_every {args.check_every or ms.linalg.CHECK_EVERY}; {args.iters} iterations")
    for name in args.sizes.split(","):
        S = sp.csr_array(SIZES[name]()).astype(np.float32)
        S.sum_duplicates()
        n = S.shape[0]
        A = ms.csr_array(S)
        A.eval()
        b = mx.ones((n,), dtype=mx.float32)
        ms.linalg.cg(A, b, maxiter=20, check_every=args.check_every)
        mx.synchronize()
        t0 = time.perf_counter()
        _, info = ms.linalg.cg(A, b, maxiter=args.iters, rtol=1e-30, check_every=args.check_every)
        mx.synchronize()
        it_us = (time.perf_counter() - t0) / args.iters * 1e6
        t0 = time.perf_counter()
        cnt = [0]
        x, info = ms.linalg.cg(A, b, rtol=1e-6, maxiter=100000, check_every=args.check_every,
                               callback=lambda xk: cnt.__setitem__(0, cnt[0] + 1))
        mx.synchronize()
        solve_ms = (time.perf_counter() - t0) * 1e3
        res = float(np.linalg.norm(np.ones(n) - S @ np.array(x).astype(np.float64)) / np.sqrt(n))
        line = f"{name:<8} n={n:<8} ours {it_us:8.1f} us/iter, to 1e-6: {solve_ms:8.1f} ms ({cnt[0]} iterations, info {info}, rel. residual {res:.1e})"
        if not gpu:
            import scipy.sparse.linalg as sla

            bh = np.ones(n, np.float32)
            t0 = time.perf_counter()
            sla.cg(S, bh, maxiter=args.iters, rtol=1e-30)
            sc_it = (time.perf_counter() - t0) / args.iters * 1e6
            t0 = time.perf_counter()
            sla.cg(S, bh, rtol=1e-6, maxiter=100000)
            sc_solve = (time.perf_counter() - t0) * 1e3
            line += f" | scipy {sc_it:8.1f} us/iter = {sc_it / it_us:4.2f}x, solve {sc_solve:8.1f} ms = {sc_solve / solve_ms:4.2f}x"
        else:
            peer = run_peer(PEER, S, args.iters)
            if "cupyx_iter_us" in peer:
                line += (f" | cupyx {peer['cupyx_iter_us']:8.1f} us/iter = {peer['cupyx_iter_us'] / it_us:4.2f}x, "
                         f"solve {peer['cupyx_solve_ms']:8.1f} ms = {peer['cupyx_solve_ms'] / solve_ms:4.2f}x")
            if "torch_iter_us" in peer:
                line += f" | torch {peer['torch_iter_us']:8.1f} us/iter = {peer['torch_iter_us'] / it_us:4.2f}x"
            for k in ("cupyx_error", "torch_error", "error"):
                if k in peer:
                    line += f" | {k}: {peer[k][:120]}"
        print(line, flush=True)


TRI_PEER = r'''
import json, sys, time
import numpy as np, scipy.sparse as sp
d = np.load(sys.argv[1]); reps = int(sys.argv[2])
A = sp.csr_array((d["data"], d["indices"], d["indptr"]), shape=tuple(d["shape"]))
L = sp.csr_array(sp.tril(A)); L.sort_indices()
b = np.ones(A.shape[0], np.float32)
out = {}
def med(f, sync):
    f(); sync(); ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); sync(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e6
try:
    import cupy as cp, cupyx.scipy.sparse as cps, cupyx.scipy.sparse.linalg as cpl
    Ld, Ad, bd = cps.csr_matrix(L), cps.csr_matrix(A), cp.asarray(b)
    sync = cp.cuda.Device().synchronize
    out["cupy_tri_us"] = med(lambda: cpl.spsolve_triangular(Ld, bd, lower=True), sync)
    out["cupy_ilu_us"] = med(lambda: cpl.spilu(Ad, fill_factor=1), sync)
except Exception as e:
    out["cupy_error"] = repr(e)[:200]
try:
    import torch
    Lt = torch.sparse_csr_tensor(torch.from_numpy(L.indptr.astype(np.int64)), torch.from_numpy(L.indices.astype(np.int64)),
                                 torch.from_numpy(L.data), size=L.shape).cuda()
    bt = torch.from_numpy(b).cuda()[:, None]
    out["torch_tri_us"] = med(lambda: torch.triangular_solve(bt, Lt, upper=False), torch.cuda.synchronize)
except Exception as e:
    out["torch_error"] = repr(e)[:200]
print(json.dumps(out))
'''


def _median_us(f, reps):
    return median_wall(f, reps) * 1e6


def tri_main(args):
    gpu = args.device == "gpu"
    s = mx.gpu if gpu else mx.cpu
    mx.set_default_device(s)
    reps = 20
    print(f"# triangular solves and incomplete factorizations, float32, {args.device}; median of {reps}, one eval each")
    for name in args.sizes.split(","):
        S = sp.csr_array(SIZES[name]()).astype(np.float32)
        S.sum_duplicates()
        n = S.shape[0]
        A = ms.csr_array(S)
        L = ms.tril(A, format="csr").tocsr(canonical=True)
        mx.eval(A.data, L.data)
        b = mx.ones((n,), dtype=mx.float32)
        M = ms.linalg.ic0(A)
        tri = _median_us(lambda: mx.eval(ms.linalg.spsolve_triangular(L, b, lower=True)), reps)
        pair = _median_us(lambda: mx.eval(M @ b), reps)
        ic = _median_us(lambda: ms.linalg.ic0(A), max(3, reps // 4))
        ilu = _median_us(lambda: ms.linalg.ilu0(A), max(3, reps // 4))
        x_ref = sp.linalg.spsolve_triangular(sp.csr_array(sp.tril(S)).astype(np.float64), np.ones(n), lower=True)
        err = float(np.abs(np.array(ms.linalg.spsolve_triangular(L, b, lower=True)) - x_ref).max() / np.abs(x_ref).max())
        its = {}
        for key, pre in (("cg", None), ("ic0-cg", M)):
            cnt = [0]
            t0 = time.perf_counter()
            ms.linalg.cg(A, b, M=pre, rtol=1e-6, maxiter=100000, callback=lambda xk: cnt.__setitem__(0, cnt[0] + 1))
            mx.synchronize()
            its[key] = (cnt[0], (time.perf_counter() - t0) * 1e3)
        line = (f"{name:<8} n={n:<8} spsolve_triangular {tri:8.1f} us (rel. err {err:.1e}), ic0 apply (2 solves) {pair:8.1f} us, "
                f"ic0 setup {ic / 1e3:7.2f} ms, ilu0 setup {ilu / 1e3:7.2f} ms | CG {its['cg'][0]} it. {its['cg'][1]:.1f} ms, "
                f"IC(0)-CG {its['ic0-cg'][0]} it. {its['ic0-cg'][1]:.1f} ms")
        if not gpu:
            import scipy.sparse.linalg as sla

            Lh, bh = sp.csr_array(sp.tril(S)), np.ones(n, np.float32)
            sc = _median_us(lambda: sla.spsolve_triangular(Lh, bh, lower=True), max(3, reps // 4))
            line += f" | scipy spsolve_triangular {sc:8.1f} us = {sc / tri:5.2f}x"
        else:
            peer = run_peer(TRI_PEER, S, reps)
            if "cupy_tri_us" in peer:
                line += (f" | cupyx spsolve_triangular {peer['cupy_tri_us']:8.1f} us = {peer['cupy_tri_us'] / tri:5.2f}x, "
                         f"spilu {peer['cupy_ilu_us'] / 1e3:7.2f} ms = {peer['cupy_ilu_us'] / ilu:5.2f}x")
            if "torch_tri_us" in peer:
                line += f" | torch triangular_solve {peer['torch_tri_us']:8.1f} us = {peer['torch_tri_us'] / tri:5.2f}x"
            for k in ("cupy_error", "torch_error", "error"):
                if k in peer:
                    line += f" | {k}: {peer[k][:150]}"
        print(line, flush=True)


def amg_main(args):
    gpu = args.device == "gpu"
    mx.set_default_device(mx.gpu if gpu else mx.cpu)
    dt, npdt = (mx.float32, np.float32) if gpu else (mx.float64, np.float64)
    sizes = args.sizes if args.sizes != "64k,256k,1m" else "3d-262k"
    print(f"# AMG-preconditioned CG to rtol 1e-8, {args.device}, {'float32' if gpu else 'float64'}")
    for name in sizes.split(","):
        S = sp.csr_array(SIZES[name]()).astype(npdt)
        S.sum_duplicates()
        n = S.shape[0]
        A = ms.csr_array(S, dtype=dt)
        A.eval()
        b = mx.ones((n,), dtype=dt)
        t0 = time.perf_counter()
        M = ms.linalg.amg(A)
        t_setup = time.perf_counter() - t0
        calls = []
        mx.synchronize()
        t0 = time.perf_counter()
        x, info = ms.linalg.cg(A, b, M=M, rtol=1e-8, maxiter=1000, callback=calls.append)
        mx.eval(x)
        mx.synchronize()
        t_solve = time.perf_counter() - t0
        res = float(np.linalg.norm(np.ones(n) - S.astype(np.float64) @ np.array(x).astype(np.float64)) / np.sqrt(n))
        line = (f"{name:<8} n={n:<8} ours: setup {t_setup:6.2f} s (levels {M.sizes}, complexity "
                f"{M.operator_complexity:.2f}), solve {t_solve:6.2f} s, {len(calls)} iterations, info {info}, "
                f"rel. residual {res:.1e}")
        try:
            import pyamg

            Sd = S.astype(np.float64)
            t0 = time.perf_counter()
            ml = pyamg.smoothed_aggregation_solver(Sd)
            p_setup = time.perf_counter() - t0
            resid = []
            t0 = time.perf_counter()
            xp = ml.solve(np.ones(n), tol=1e-8, accel="cg", residuals=resid, maxiter=1000)
            p_solve = time.perf_counter() - t0
            pres = float(np.linalg.norm(np.ones(n) - Sd @ xp) / np.sqrt(n))
            line += (f" | pyamg: setup {p_setup:6.2f} s = {p_setup / t_setup:4.2f}x, solve {p_solve:6.2f} s = "
                     f"{p_solve / t_solve:4.2f}x, {len(resid) - 1} iterations, rel. residual {pres:.1e}")
        except ImportError:
            line += " | pyamg n/a"
        print(line, flush=True)


if __name__ == "__main__":
    main()
