"""GPU peers for bench/spmv.py, run in their own process: CuPy and torch SpMV on one exchange file."""

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


if __name__ == "__main__":
    main(sys.argv[1])
