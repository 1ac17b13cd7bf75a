"""Per-node overhead of an MLX graph node: tiny SpMV vs tiny elementwise op, in batches (GPU or CPU)."""

import time

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms

dev = ms.use_gpu() if ms.gpu_available() else ms.use_cpu()
A = ms.csr_array(sp.random(1000, 1000, density=0.005, format="csr", random_state=0, dtype=np.float32))
x = mx.ones(1000)
mx.eval(A.data, A.indices, A.indptr, x)
for name, f in (("spmv", lambda: ms.csr_matvec(A, x)), ("abs", lambda: mx.abs(x))):
    for batch in (1, 20):
        ts = []
        for _ in range(50):
            t0 = time.perf_counter()
            mx.eval([f() for _ in range(batch)])
            ts.append((time.perf_counter() - t0) / batch)
        print(f"{dev} {name:5} batch {batch:3}: {np.median(ts) * 1e6:7.1f} us per node")
