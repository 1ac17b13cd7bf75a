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

    # autodiff and vmap: the loss is built from the values inside the function (no synchronization)
    def loss(values, x):
        B = ms.csr_array((values, A.indices, A.indptr), shape=A.shape, validate=False)
        return mx.sum((B @ x) ** 2)

    g_values, g_x = mx.grad(loss, argnums=(0, 1))(A.data, x)  # dL/dA_ij = 2 y_i x_j; dL/dx = 2 A^T y
    X = mx.stack([x, 2 * x, -x])
    Y = mx.vmap(lambda v: A @ v)(X)  # a batch of products as one node
    mx.eval(g_values, g_x, Y)
    y64 = np.array(y, dtype=np.float64)
    s = A.to_scipy().astype(np.float64)
    gx_err = np.linalg.norm(np.array(g_x) - 2 * (s.T @ y64)) / np.linalg.norm(2 * (s.T @ y64))
    y_err = np.linalg.norm(np.array(Y[1]) - 2 * y64) / np.linalg.norm(2 * y64)
    print(f"grad through A @ x: dL/dx rel. err {gx_err:.1e}; vmap over 3 vectors: rel. err {y_err:.1e}")
    assert gx_err < 1e-5 and y_err < 1e-5, "autodiff/vmap mismatch"
    print("ok")


if __name__ == "__main__":
    main()
