"""Per-node overhead of an MLX graph node: tiny SpMV vs tiny elementwise op, in batches (GPU or CPU)."""

import os
import shutil
import subprocess
import tempfile
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

# Does the size of a precompiled module cost per launch? (MLX hashes the whole blob at every evaluation.)
if dev == mx.gpu and shutil.which("nvcc"):
    d = tempfile.mkdtemp()
    src = os.path.join(d, "k.cu")
    with open(src, "w") as f:
        f.write('extern "C" __global__ void tiny(const float* x, float* y) { int i = blockIdx.x * blockDim.x + threadIdx.x; y[i] = x[i] + 1.f; }\n')
        f.write("#ifdef PAD\n")
        for i in range(1, 31):
            f.write(f'extern "C" __global__ void pad{i}(const float* x, float* y, int k) {{ for (int i = threadIdx.x; i < k; i += 32) y[i] = sinf(x[i]) * cosf(x[i + {i}]) + expf(x[i * {i}]); }}\n')
        f.write("#endif\n")
    for name, flags in (("small", []), ("big", ["-DPAD"])):
        out = os.path.join(d, name + ".cubin")
        subprocess.run(["nvcc", "-cubin", "-arch=native", *flags, src, "-o", out], check=True)
        blob = open(out, "rb").read()
        y = mx.ones(256)

        def launch(blob=blob, y=y):
            return mx.fast.precompiled_cuda_kernel(
                name="tiny", compiled_source=blob, inputs=[y], output_shapes=[(256,)], output_dtypes=[mx.float32],
                scalars=[], grid=(256, 1, 1), threadgroup=(256, 1, 1))[0]

        for batch in (1, 20):
            ts = []
            for _ in range(50):
                t0 = time.perf_counter()
                mx.eval([launch() for _ in range(batch)])
                ts.append((time.perf_counter() - t0) / batch)
            print(f"blob {name:5} ({len(blob):6d} bytes) batch {batch:3}: {np.median(ts) * 1e6:7.1f} us per node")
