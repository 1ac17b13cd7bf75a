"""mlx-sparse demo: build a 2-D Poisson matrix as COO on the CPU, canonicalize it, multiply on the GPU
when one is present (else on the CPU), and check against scipy."""

import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms


def poisson_2d_coo(k: int):
    """5-point Laplacian on a k x k grid as COO triplets (with the diagonal split in two duplicates)."""
    idx = np.arange(k * k).reshape(k, k)
    rows, cols, vals = [idx.ravel(), idx.ravel()], [idx.ravel(), idx.ravel()], [np.full(k * k, 2.0), np.full(k * k, 2.0)]
    for di, dj in ((0, 1), (1, 0)):
        a, b = idx[: k - di, : k - dj].ravel(), idx[di:, dj:].ravel()
        rows += [a, b]
        cols += [b, a]
        vals += [np.full(a.size, -1.0), np.full(a.size, -1.0)]
    return np.concatenate(vals).astype(np.float32), np.concatenate(rows), np.concatenate(cols)


def main(k: int = 1024) -> None:
    data, row, col = poisson_2d_coo(k)
    n = k * k
    ms.use_cpu()
    coo = ms.coo_array((data, (row, col)), shape=(n, n))
    t0 = time.perf_counter()
    csr = coo.tocsr(canonical=True)  # sort + sum duplicates: one synchronization on the new nnz
    mx.eval(csr.data, csr.indices, csr.indptr)
    print(f"{coo} -> {csr} on the CPU in {1e3 * (time.perf_counter() - t0):.1f} ms")

    device = "gpu" if ms.gpu_available() else "cpu"
    ms.use_device(device)
    A = ms.csr_array((csr.data, csr.indices, csr.indptr), shape=csr.shape,
                     sorted_indices=csr.sorted_indices, canonical=csr.has_canonical_format, validate=False)
    x = mx.array(np.random.default_rng(0).standard_normal(n).astype(np.float32))
    y = A @ x  # lazy: a node in MLX's graph
    z = mx.sin(y) + 2.0  # the whole graph evaluates once below
    mx.eval(z)
    t0 = time.perf_counter()
    reps = 20
    mx.eval([A @ x for _ in range(reps)])
    dt = (time.perf_counter() - t0) / reps
    ref = sp.coo_array((data.astype(np.float64), (row, col)), shape=(n, n)).tocsr() @ np.array(x, dtype=np.float64)
    err = np.linalg.norm(np.array(y) - ref) / np.linalg.norm(ref)
    print(f"y = A @ x on the {device.upper()}: {1e6 * dt:.0f} us per product, relative error vs scipy {err:.1e}")
    assert err < 1e-5, "mismatch against scipy"
    print("ok")


if __name__ == "__main__":
    main()
