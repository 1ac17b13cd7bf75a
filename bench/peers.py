"""GPU peers, run in their own process on one exchange file: CuPy and torch SpMV (bench/spmv.py:
``peers.py FILE``) and sparse @ sparse (bench/spgemm.py: ``peers.py spgemm FILE``)."""

import json
import sys

import numpy as np

from matrices import read_bin


def median_us(fn, start, stop, sync, reps=50):
    for _ in range(5):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        ts.append(start_stop_ms(start, stop) * 1e3)
    return float(np.median(ts))


def start_stop_ms(a, b):
    return a.elapsed_time(b) if hasattr(a, "elapsed_time") else None


def main(path):
    shape, ip, ind, val, x, yref = read_bin(path)
    out = {}
    try:
        import cupy as cp
        import cupyx.scipy.sparse as cps

        A = cps.csr_matrix((cp.asarray(val), cp.asarray(ind), cp.asarray(ip)), shape=shape)
        xd = cp.asarray(x)
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.elapsed_time = lambda other, a=a: cp.cuda.get_elapsed_time(a, other)
        us = median_us(lambda: A @ xd, a, b, cp.cuda.Device().synchronize)
        err = float(np.linalg.norm(cp.asnumpy(A @ xd) - yref) / np.linalg.norm(yref))
        out["cupy"] = {"us": us, "relerr": err}
    except Exception as e:  # report, never hide
        out["cupy"] = {"error": repr(e)[:200]}
    try:
        import torch

        A = torch.sparse_csr_tensor(
            torch.from_numpy(ip.astype(np.int32)), torch.from_numpy(ind), torch.from_numpy(val), size=shape
        ).cuda()
        xd = torch.from_numpy(x).cuda()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        us = median_us(lambda: torch.mv(A, xd), a, b, torch.cuda.synchronize)
        err = float(np.linalg.norm(torch.mv(A, xd).cpu().numpy() - yref) / np.linalg.norm(yref))
        out["torch"] = {"us": us, "relerr": err}
    except Exception as e:
        out["torch"] = {"error": repr(e)[:200]}
    print(json.dumps(out))


def read_pair(path):
    """A and B of the SpGEMM exchange file (bench/spgemm.py write_pair): int64 m, k, n, nnza, nnzb;
    then each operand's int32 indptr, int32 indices, float32 data."""
    with open(path, "rb") as f:
        m, k, n, za, zb = (int(v) for v in np.fromfile(f, dtype=np.int64, count=5))
        out = []
        for rows, z in ((m, za), (k, zb)):
            out.append((np.fromfile(f, dtype=np.int32, count=rows + 1), np.fromfile(f, dtype=np.int32, count=z),
                        np.fromfile(f, dtype=np.float32, count=z)))
    return (m, k, n), out


def wall_us(fn, sync, reps):
    """Median wall time of fn() + sync() (the product as a user waits for it), after a warm-up."""
    import time

    fn(), sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t0) * 1e6)
    return float(np.median(ts))


def spgemm_main(path, reps=5):
    import scipy.sparse as sp

    (m, k, n), ((ap, ai, av), (bp, bi, bv)) = read_pair(path)
    T = sp.csr_array(sp.csr_array((av, ai, ap), shape=(m, k)).T)  # A^T, for A + A^T (built here, not timed)
    tp, ti, tv = T.indptr.astype(np.int32), T.indices.astype(np.int32), T.data.astype(np.float32)
    out = {}
    try:
        import cupy as cp
        import cupyx.scipy.sparse as cps

        A = cps.csr_matrix((cp.asarray(av), cp.asarray(ai), cp.asarray(ap)), shape=(m, k))
        B = cps.csr_matrix((cp.asarray(bv), cp.asarray(bi), cp.asarray(bp)), shape=(k, n))
        C = A @ B
        out["cupy"] = {"us": wall_us(lambda: A @ B, cp.cuda.Device().synchronize, reps), "nnz": int(C.nnz)}
        del C
        if m == k:
            AT = cps.csr_matrix((cp.asarray(tv), cp.asarray(ti), cp.asarray(tp)), shape=(k, m))
            out["cupy_add"] = {"us": wall_us(lambda: A + AT, cp.cuda.Device().synchronize, reps)}
            del AT
        del A, B
        cp.get_default_memory_pool().free_all_blocks()
    except Exception as e:  # report, never hide
        out["cupy"] = {"error": repr(e)[:200]}
    try:
        import torch

        A = torch.sparse_csr_tensor(torch.from_numpy(ap), torch.from_numpy(ai), torch.from_numpy(av), size=(m, k)).cuda()
        B = torch.sparse_csr_tensor(torch.from_numpy(bp), torch.from_numpy(bi), torch.from_numpy(bv), size=(k, n)).cuda()
        C = A @ B
        out["torch"] = {"us": wall_us(lambda: A @ B, torch.cuda.synchronize, reps), "nnz": int(C._nnz())}
        del C
        if m == k:
            AT = torch.sparse_csr_tensor(torch.from_numpy(tp), torch.from_numpy(ti), torch.from_numpy(tv), size=(k, m)).cuda()
            out["torch_add"] = {"us": wall_us(lambda: A + AT, torch.cuda.synchronize, reps)}
    except Exception as e:
        out["torch"] = {"error": repr(e)[:200]}
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "spgemm":
        spgemm_main(sys.argv[2])
    else:
        main(sys.argv[1])
