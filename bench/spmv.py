"""CSR SpMV benchmark: mlx_sparse vs scipy (CPU) or vs cuSPARSE, CuPy and torch (GPU), same run.

    python bench/spmv.py [--device cpu|gpu] [--small] [--families lap2d,lap3d,uniform,rmat]

Prints, per matrix family, the time of y = A x, the effective bandwidth (minimum bytes: indptr,
indices, values, x and y each moved once) and its fraction of the copy bandwidth measured in the
same run, and the ratios peer_time / our_time (> 1: we are faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlx_sparse as ms  # noqa: E402
from matrices import FAMILIES, build_cusparse_harness, lanes_line, write_bin  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def median_time(fn, reps: int, per_call: int = 1) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) / per_call)
    return float(np.median(ts))


def cpu_copy_gbps() -> float:
    a = np.ones(1 << 27, dtype=np.float32)  # 512 MiB
    b = np.empty_like(a)
    t = median_time(lambda: np.copyto(b, a), 5)
    return 2 * a.nbytes / t / 1e9


def min_bytes(a, vbytes: int, ibytes: int) -> int:
    m, n = a.shape
    return (m + 1) * ibytes + a.nnz * (ibytes + vbytes) + n * vbytes + m * vbytes


def min_bytes_row(r) -> int:
    return (r["m"] + 1) * 4 + r["nnz"] * 8 + r["n"] * 4 + r["m"] * 4


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if ms.gpu_available() else "cpu")
    p.add_argument("--small", action="store_true", help="reduced sizes (smoke test)")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--reps", type=int, default=0)
    p.add_argument("--json", default="", help="write all numbers to this file")
    p.add_argument("--variants", action="store_true", help="also time each GPU SpMV kernel variant")
    p.add_argument("--ab", action="append", default=[],
                   help="also time our kernels built with this extra nvcc flag (repeatable; e.g. -DMSP_MP_ITEMS=4)")
    args = p.parse_args()
    gpu = args.device == "gpu"
    ms.use_gpu() if gpu else ms.use_cpu()
    reps = args.reps or (20 if gpu else 7)
    workdir = tempfile.mkdtemp(prefix="msp_bench_")
    rows, extra = [], []
    if gpu:
        exe = build_cusparse_harness(workdir)
        exe_ab = [(f, build_cusparse_harness(workdir, tuple(f.split()), f"_ab{i}")) for i, f in enumerate(args.ab)]
        copy = json.loads(subprocess.run([exe, "--copy", str(1 << 30)], capture_output=True, text=True).stdout)["copy_GBps"] if exe else float("nan")
        info = mx.device_info(mx.gpu)
        print(f"device: {info.get('device_name', 'gpu')} ({info.get('architecture', '?')}), copy bandwidth {copy:.0f} GB/s")
    else:
        exe = None
        copy = cpu_copy_gbps()
        print(f"device: CPU, {os.cpu_count()} cores, mlx_sparse threads {ms.get_num_threads()}, copy bandwidth {copy:.1f} GB/s")
    for fam in args.families.split(","):
        make, desc = FAMILIES[fam]
        t0 = time.perf_counter()
        a = make(args.small)
        m, n = a.shape
        rng = np.random.default_rng(1)
        x = rng.standard_normal(n).astype(np.float32)
        yref = (a.astype(np.float64) @ x.astype(np.float64)).astype(np.float32)
        gen_s = time.perf_counter() - t0
        # analyze(): the one-time preparation of a matrix multiplied many times (the GPU SpMV schedule,
        # 16-bit column offsets for banded structure), as cuSPARSE's preprocess step is for it
        A = ms.csr_array(a, canonical=True).analyze()
        xm = mx.array(x)
        A.eval()
        y = ms.csr_matvec(A, xm)
        err = float(np.linalg.norm(np.array(y) - yref) / np.linalg.norm(yref))
        batch = 20 if gpu else 1

        def run_ms(A=A, xm=xm, batch=batch):
            mx.eval([ms.csr_matvec(A, xm) for _ in range(batch)])

        t_ms = median_time(run_ms, reps, batch)
        if args.variants:
            for v in ("g1", "g2", "g4", "g8", "g16", "g32"):
                os.environ["MLX_SPARSE_SPMV"] = v
                tv = median_time(run_ms, reps, batch)
                t1 = median_time(lambda: mx.eval(ms.csr_matvec(A, xm)), reps)
                print(f"    variant {v:7} {tv * 1e6:8.1f} us/product in batches of {batch}, {t1 * 1e6:8.1f} us alone")
            os.environ.pop("MLX_SPARSE_SPMV")
        # the SpMV mlx_sparse runs reads 16-bit column offsets for banded structure (not by the merge path)
        d16 = ms._spmv.d16_of(A.indices, A.indptr) is not None and (
            not gpu or ms._spmv.merge_plan(A.indptr, A.nnz) is None)
        bytes_ = min_bytes(a, 4, 4)  # effective: the CSR bytes with 4-byte indices, whatever is read
        row = {"family": fam, "desc": desc, "m": m, "n": n, "nnz": a.nnz, "max_row": int(np.diff(a.indptr).max()),
               "ms_us": t_ms * 1e6, "GBps": bytes_ / t_ms / 1e9, "copy_frac": bytes_ / t_ms / 1e9 / copy, "relerr": err}
        if gpu:
            path = os.path.join(workdir, f"{fam}.bin")
            write_bin(path, a, x, yref)
            if exe:
                res = [json.loads(line) for line in subprocess.run([exe, path], capture_output=True, text=True).stdout.splitlines() if line.startswith("{")]
                peers_k = [r for r in res if not r["alg"].startswith("ours")]
                ours_k = {r["alg"]: r["us"] for r in res if r["alg"].startswith("ours")}
                best = min(peers_k, key=lambda r: r["us"]) if peers_k else None
                g = ms._spmv.lanes_per_row(a.nnz / max(m, 1))
                merge = ms._spmv.merge_plan(A.indptr, A.nnz) is not None  # the schedule mlx_sparse runs
                row["schedule"] = "merge path" if merge else f"{g} lanes/row" + (", 16-bit" if d16 else "")
                row["kernel_us"] = ours_k.get("ours_mp" if merge else f"ours_d16g{g}" if d16 else f"ours_g{g}", float("nan"))
                row["kernel_all"] = ours_k
                print(f"  {fam} kernel us per lane count: {lanes_line(ours_k)}", flush=True)
                row["cusparse_us"] = best["us"] if best else float("nan")
                row["cusparse_alg"] = best["alg"] if best else "-"
                for flag, exe2 in exe_ab:
                    res = [json.loads(line) for line in subprocess.run([exe2, path], capture_output=True, text=True).stdout.splitlines() if line.startswith("{")] if exe2 else []
                    k2 = {r["alg"]: r["us"] for r in res if r["alg"].startswith("ours")}
                    row.setdefault("kernel_ab_us", {})[flag] = k2.get(f"ours_g{g}", float("nan"))
                    print(f"  {fam} with {flag}: {lanes_line(k2)}", flush=True)
            r = subprocess.run([sys.executable, os.path.join(HERE, "peers.py"), path], capture_output=True, text=True)
            peers = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
            for k in ("cupy", "torch"):
                row[f"{k}_us"] = peers.get(k, {}).get("us", float("nan"))
                if "error" in peers.get(k, {}):
                    print(f"  {k}: {peers[k]['error']}")
            os.remove(path)
        else:
            import scipy.sparse as sp  # noqa: F401

            row["scipy_us"] = median_time(lambda: a @ x, reps) * 1e6
            row["schedule"] = "16-bit offsets" if d16 else "indices"
        rows.append(row)
        print(f"  {fam}: generated in {gen_s:.1f}s, m={m}, nnz={a.nnz}, relerr={err:.2e}", flush=True)
        # lower-precision and wide-index rows on the first family
        if fam == args.families.split(",")[0]:
            for label, B in (("float16", A.astype(mx.float16)), ("bfloat16", A.astype(mx.bfloat16)),
                             ("int64 idx", ms.csr_array(a, canonical=True, index_dtype=mx.int64))):
                xb = xm.astype(B.dtype)
                B.eval()
                t = median_time(lambda B=B, xb=xb: mx.eval([ms.csr_matvec(B, xb) for _ in range(batch)]), reps, batch)
                vb = 2 if B.dtype in (mx.float16, mx.bfloat16) else 4
                ib = 8 if B.index_dtype == mx.int64 else 4
                gb = min_bytes(a, vb, ib) / t / 1e9
                extra.append({"family": fam, "variant": label, "ms_us": t * 1e6, "GBps": gb, "copy_frac": gb / copy})
    # ---- table ----
    print()
    if gpu:
        nan = float("nan")
        print("kernel level (CUDA events around one launch, no framework): ours vs cuSPARSE's best algorithm")
        print("(GB/s and %copy count the CSR bytes with 4-byte indices; 16-bit offsets move fewer)")
        print(f"{'family':9} {'rows':>9} {'nnz':>10} {'schedule':>12} {'ours us':>8} {'GB/s':>6} {'%copy':>6} {'cuSPARSE':>9} {'x':>5}")
        for r in rows:
            k, c = r.get("kernel_us", nan), r.get("cusparse_us", nan)
            gb = min_bytes_row(r) / k / 1e3 if k == k else nan
            print(f"{r['family']:9} {r['m']:9d} {r['nnz']:10d} {r.get('schedule', '-'):>12} {k:8.1f} {gb:6.0f} "
                  f"{100 * gb / copy:5.0f}% {c:9.1f} {c / k:5.2f}")
        print("end to end (y = A @ x in MLX, 20 products per mx.eval; peers: one call each, CUDA events)")
        print(f"{'family':9} {'ours us':>9} {'GB/s':>7} {'%copy':>6} {'cuSPARSE':>9} {'x':>5} {'CuPy':>8} {'x':>5} {'torch':>8} {'x':>5}")
        for r in rows:
            c = r.get("cusparse_us", nan)
            print(f"{r['family']:9} {r['ms_us']:9.1f} {r['GBps']:7.0f} {100 * r['copy_frac']:5.0f}% "
                  f"{c:9.1f} {c / r['ms_us']:5.2f} "
                  f"{r['cupy_us']:8.1f} {r['cupy_us'] / r['ms_us']:5.2f} {r['torch_us']:8.1f} {r['torch_us'] / r['ms_us']:5.2f}")
    else:
        print("(GB/s and %copy count the CSR bytes with 4-byte indices; 16-bit offsets move fewer)")
        print(f"{'family':8} {'rows':>9} {'nnz':>10} {'columns from':>14} {'ours ms':>9} {'GB/s':>7} {'%copy':>6} {'scipy ms':>9} {'x':>5}")
        for r in rows:
            print(f"{r['family']:8} {r['m']:9d} {r['nnz']:10d} {r.get('schedule', '-'):>14} {r['ms_us'] / 1e3:9.2f} {r['GBps']:7.1f} "
                  f"{100 * r['copy_frac']:5.0f}% {r['scipy_us'] / 1e3:9.2f} {r['scipy_us'] / r['ms_us']:5.2f}")
    for e in extra:
        print(f"{e['family']:8} {e['variant']:>20} {e['ms_us'] / (1 if gpu else 1e3):9.1f}{' us' if gpu else ' ms'} {e['GBps']:7.1f} GB/s {100 * e['copy_frac']:5.0f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "copy_GBps": copy, "rows": rows, "extra": extra}, f, indent=1)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
