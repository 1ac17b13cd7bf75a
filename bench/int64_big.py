"""Large int64 run: y = A x on a structured matrix with int64 indices whose exact result is known,
on the GPU (or CPU). MLX 0.32 limits a 1-D array to 2^31 - 1 elements, so the values and indices
are held as paged buffers (2-D, one page per row here). --nnz 2200000000 needs ~60 GB of host
memory and ~27 GB on the device.

    python bench/int64_big.py [--nnz 2200000000] [--device gpu]
"""

import argparse
import time

import mlx.core as mx
import numpy as np

import mlx_sparse as ms

p = argparse.ArgumentParser()
p.add_argument("--nnz", type=int, default=2_200_000_000)
p.add_argument("--per-row", type=int, default=512)
p.add_argument("--device", default="gpu" if ms.gpu_available() else "cpu")
args = p.parse_args()
ms.use_device(args.device)
k = args.per_row
m = -(-args.nnz // k)
nnz = m * k
n = 1 << 24
t0 = time.perf_counter()
indptr = np.arange(0, nnz + 1, k, dtype=np.int64)
j = np.tile(np.arange(k, dtype=np.int64), 1)
indices = np.empty(nnz, dtype=np.int64)
data = np.empty(nnz, dtype=np.float32)
chunk = 1 << 16  # rows per chunk
for r0 in range(0, m, chunk):
    r = np.arange(r0, min(r0 + chunk, m), dtype=np.int64)[:, None]
    indices[r0 * k : (r0 + r.shape[0]) * k] = ((r * 7919 + j * 104729) % n).ravel()
    data[r0 * k : (r0 + r.shape[0]) * k] = (((r + j) % 3) - 1).astype(np.float32).ravel()
x_np = ((np.arange(n) % 5) - 2).astype(np.float32)
print(f"built m={m} nnz={nnz} (> 2^31: {nnz > 2**31}) on the host in {time.perf_counter() - t0:.1f}s", flush=True)
A = ms.csr_array((mx.array(data.reshape(m, k)), mx.array(indices.reshape(m, k)), mx.array(indptr)), shape=(m, n), validate=False)
del data, indices
assert A.index_dtype == mx.int64 and A.paged and A.nnz == nnz
x = mx.array(x_np)
mx.eval(A.data, A.indices, A.indptr, x)
y = A @ x
mx.eval(y)
t0 = time.perf_counter()
mx.eval(A @ x)
dt = time.perf_counter() - t0
# exact reference on a sample of rows (small integers: float32 sums are exact)
rows = np.unique(np.concatenate([np.arange(0, 1000), np.arange(m - 1000, m), np.random.default_rng(0).integers(0, m, 5000)]))
jj = np.arange(k)
ref = np.array([np.sum((((r + jj) % 3) - 1) * x_np[(r * 7919 + jj * 104729) % n]) for r in rows], dtype=np.float64)
got = np.array(y)[rows]
print(f"{args.device}: y = A x with int64 indices, nnz {nnz}: {dt * 1e3:.1f} ms, "
      f"{(nnz * 12 + m * 12 + n * 4) / dt / 1e9:.0f} GB/s; sampled rows exact: {np.array_equal(got, ref)}")
assert np.array_equal(got, ref)
