"""Kernel-level profile helper: runs each GPU SpMV variant a few times on one family (use under ncu)."""

import os
import sys

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_sparse as ms  # noqa: E402
from matrices import FAMILIES  # noqa: E402

fam = sys.argv[1] if len(sys.argv) > 1 else "lap2d"
variants = sys.argv[2].split(",") if len(sys.argv) > 2 else ["g1", "g2", "g4"]
a = FAMILIES[fam][0](False)
A = ms.csr_array(a, canonical=True).eval()
x = mx.array(np.random.default_rng(0).standard_normal(a.shape[1]).astype(np.float32))
ms.use_gpu()
for v in variants:
    os.environ["MLX_SPARSE_SPMV"] = v
    for _ in range(3):
        mx.eval(ms.csr_matvec(A, x))
    mx.eval(mx.abs(x) + 1.0)  # a reference elementwise kernel of n elements
