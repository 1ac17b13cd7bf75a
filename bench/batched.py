"""Batched products: time of y = A x for a batch of B vectors (x of shape (B, n)) against B single
products and scipy, on the 2-D Laplacian (512^2; 2048^2 with --large). CPU or GPU.

    python bench/batched.py [--device cpu|gpu] [--large]
"""

import argparse
import os
import sys

import mlx.core as mx
import numpy as np

import mlx_sparse as ms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matrices import laplacian_2d, median_wall  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if ms.gpu_available() else "cpu")
    p.add_argument("--large", action="store_true")
    args = p.parse_args()
    ms.use_device(args.device)
    a = laplacian_2d(2048 if args.large else 512)
    A = ms.csr_array(a).eval()
    n = a.shape[1]
    single = None
    print(f"{args.device}: 2-D Laplacian, {a.shape[0]} rows, {a.nnz} nonzeros")
    print(f"{'batch':>5} {'ours ms':>9} {'per vector':>11} {'/ single':>9} {'scipy ms':>9} {'x':>6}")
    for b in (1, 4, 16, 64):
        X = mx.random.normal((b, n))
        mx.eval(X)
        Xn = np.array(X)
        t = median_wall(lambda: mx.eval(ms.csr_matvec(A, X)), 7, warmup=False) * 1e3
        ts = median_wall(lambda: a @ Xn.T, 7, warmup=False) * 1e3
        single = single or t
        print(f"{b:5d} {t:9.2f} {t / b:11.2f} {t / b / single:9.2f} {ts:9.2f} {ts / t:6.2f}")


if __name__ == "__main__":
    main()
