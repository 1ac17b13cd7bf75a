"""The CPU product as a new user writes it: a CSR array built from MLX arrays (no analyze()), one
``A @ x`` then ``mx.eval``, against scipy and against the planned array (host-built: 16-bit column
offsets kept), interleaved, median of 60 per round. Usage: python bench/default_path.py [N ...]
(2-D Laplacians N^2; default 1024 2048)."""

import sys
import warnings

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms
from matrices import median_wall


def main():
    warnings.simplefilter("ignore")
    for n in [int(a) for a in sys.argv[1:]] or [1024, 2048]:
        T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
        S = (sp.kron(sp.eye(n), T) + sp.kron(T, sp.eye(n))).tocsr().astype(np.float32)
        S.indices, S.indptr = S.indices.astype(np.int32), S.indptr.astype(np.int32)
        A = ms.csr_array((mx.array(S.data), mx.array(S.indices), mx.array(S.indptr)), shape=S.shape)
        B = ms.csr_array(S)  # from host buffers: planned
        x = mx.array(np.random.default_rng(0).standard_normal(S.shape[1]).astype(np.float32))
        xn = np.array(x)
        mx.eval(A.data, A.indices, A.indptr, x)
        cases = {"scipy": lambda: S @ xn, "default (MLX-built)": lambda: mx.eval(A @ x),
                 "planned (host-built)": lambda: mx.eval(B @ x)}
        res = {k: [] for k in cases}
        for _ in range(3):
            for k, f in cases.items():
                res[k].append(median_wall(f, 60) * 1e3)
        print(f"2-D Laplacian {n}^2 ({S.nnz} nonzeros), ms per product, three rounds:")
        for k, v in res.items():
            print(f"  {k:22s} " + " ".join(f"{a:7.2f}" for a in v))


if __name__ == "__main__":
    main()
