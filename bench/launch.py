"""What a user waits for on the GPU, by launch route: our kernel node (``_ext_cuda``, the default where MLX
has CUDA) against MLX's public ``precompiled_cuda_kernel`` (``MLX_SPARSE_GPU_LAUNCH=public``), same run.

    python bench/launch.py [--rounds 2]

Each route runs in its own process, alternating for ``--rounds`` rounds (the route is fixed at import).
Per route, medians over many calls on the 2-D Laplacian 256^2 (65,536 rows, float32):

* ``one A@x + eval``: one product built and evaluated alone, as a new user writes it (wall clock);
* ``A@x, 20 per eval``: per product, 20 independent products per ``mx.eval``;
* ``A^T x + eval``, ``A X (k=8) + eval``: the same for the transposed product and a small SpMM;
* ``CG iteration``: ``ms.linalg.cg`` with maxiter=200 and an unreachable tolerance, per iteration;
* ``tiny SpMV node``: a 1000-row SpMV, 20 per eval (the per-node cost with almost no GPU work).

torch (``torch.sparse`` CSR, the same matrix, ``torch.cuda.synchronize`` after each product) runs in the
first round's process for reference. Ratios: public / native (> 1: the native route is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matrices import median_wall  # noqa: E402

CASES = ["one A@x + eval", "A@x, 20 per eval", "A^T x + eval", "A X (k=8) + eval", "CG iteration",
         "tiny SpMV node"]


def _median_us(fn, reps, per=1):
    return median_wall(fn, reps) / per * 1e6


def measure(with_torch: bool) -> dict:
    import mlx.core as mx
    import scipy.sparse as sp

    import mlx_sparse as ms
    from matrices import laplacian_2d

    mx.set_default_device(mx.gpu)
    S = sp.csr_array(laplacian_2d(256)).astype(np.float32)
    A = ms.csr_array(S)
    x = mx.array(np.random.default_rng(0).standard_normal(S.shape[0]).astype(np.float32))
    X = mx.array(np.random.default_rng(1).standard_normal((S.shape[0], 8)).astype(np.float32))
    T = ms.csr_array(sp.random(1000, 1000, density=0.005, format="csr", random_state=0, dtype=np.float32))
    xt = mx.ones(1000)
    mx.eval(A.data, A.indices, A.indptr, x, X, T.data, T.indices, T.indptr, xt)
    b = mx.ones(S.shape[0])
    out = {
        "one A@x + eval": _median_us(lambda: mx.eval(A @ x), 300),
        "A@x, 20 per eval": _median_us(lambda: mx.eval([A @ x for _ in range(20)]), 50, per=20),
        "A^T x + eval": _median_us(lambda: mx.eval(A.T @ x), 300),
        "A X (k=8) + eval": _median_us(lambda: mx.eval(A @ X), 300),
        "CG iteration": _median_us(lambda: ms.linalg.cg(A, b, rtol=1e-30, atol=0.0, maxiter=200), 5, per=200),
        "tiny SpMV node": _median_us(lambda: mx.eval([T @ xt for _ in range(20)]), 50, per=20),
    }
    y = np.array(A @ x)
    out["check"] = float(np.abs(y - S @ np.array(x)).max())
    if with_torch:
        try:
            import torch

            At = torch.sparse_csr_tensor(torch.from_numpy(S.indptr.astype(np.int64)),
                                         torch.from_numpy(S.indices.astype(np.int64)),
                                         torch.from_numpy(S.data), size=S.shape).cuda()
            xt_ = torch.from_numpy(np.array(x)).cuda()

            def one():
                At @ xt_
                torch.cuda.synchronize()

            out["torch one A@x + sync"] = _median_us(one, 300)
        except Exception as e:  # torch absent or without CUDA
            out["torch one A@x + sync"] = f"not run: {type(e).__name__}"
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", default="")
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child == "torch")))
        return
    res = {"native": [], "public": []}
    torch_ref = None
    for r in range(args.rounds):
        for route in ("native", "public"):
            env = dict(os.environ, MLX_SPARSE_GPU_LAUNCH=route)
            child = "torch" if (r == 0 and route == "native") else "plain"
            cp = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", child], env=env,
                                capture_output=True, text=True)
            if cp.returncode != 0:
                print(f"# {route} round {r} failed:", cp.stderr[-800:])
                continue
            d = json.loads(cp.stdout.strip().splitlines()[-1])
            torch_ref = d.pop("torch one A@x + sync", torch_ref)
            res[route].append(d)
    print(f"# launch routes, medians in us (each route's rounds: {args.rounds}); ratio public / native")
    print(f"{'case':22} {'native':>18} {'public':>18} {'x':>6}")
    for c in CASES:
        nat = [d[c] for d in res["native"]]
        pub = [d[c] for d in res["public"]]
        if not nat or not pub:
            continue
        fmt = lambda v: "/".join(f"{t:.1f}" for t in v)
        print(f"{c:22} {fmt(nat):>18} {fmt(pub):>18} {np.median(pub) / np.median(nat):6.2f}")
    print("# max |A@x - scipy|:", [d["check"] for d in res["native"] + res["public"]])
    print("# torch one A@x + synchronize:", torch_ref if isinstance(torch_ref, str) else f"{torch_ref:.1f} us")


if __name__ == "__main__":
    main()
