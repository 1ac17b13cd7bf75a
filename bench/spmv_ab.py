"""Kernel-level A/B of our GPU SpMV builds (no MLX needed): the cuSPARSE harness built once per set of
nvcc flags, every lane count, on each family.

    python bench/spmv_ab.py [--families lap2d,rmat] -- "" "-DMSP_MP_ITEMS=4" "-DMSP_SPMV_MINB(IT)=5"

Matrices are cached in $MSP_BENCH_CACHE (default /tmp/msp_bench_mats) between runs on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matrices import FAMILIES, build_cusparse_harness, lanes_line, write_bin  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("flags", nargs="*", default=[""], help="one nvcc flag set per build ('' = as shipped)")
    p.add_argument("--families", default="lap2d,lap3d,uniform,rmat")
    p.add_argument("--small", action="store_true")
    p.add_argument("--spmm", type=int, default=0, help="time Y = A X with this many columns instead of SpMV")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="msp_ab_")
    flags = args.flags or [""]
    with ThreadPoolExecutor() as pool:  # nvcc builds in parallel
        exes = list(pool.map(lambda i: build_cusparse_harness(work, tuple(flags[i].split()), f"_{i}"), range(len(flags))))
    builds = list(zip(flags, exes))
    cache = os.environ.get("MSP_BENCH_CACHE", "/tmp/msp_bench_mats")
    os.makedirs(cache, exist_ok=True)
    for fam in args.families.split(","):
        path = os.path.join(cache, f"{fam}{'_small' if args.small else ''}.bin")
        if not os.path.exists(path):
            a = FAMILIES[fam][0](args.small)
            x = np.random.default_rng(1).standard_normal(a.shape[1]).astype(np.float32)
            write_bin(path, a, x, (a.astype(np.float64) @ x.astype(np.float64)).astype(np.float32))
        for flag, exe in builds:
            if exe is None:
                print(f"{fam:8} [{flag}] build failed")
                continue
            cmd = [exe, path] + (["--spmm", str(args.spmm)] if args.spmm else [])
            res = [json.loads(l) for l in subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines() if l.startswith("{")]
            us = {r["alg"]: r["us"] for r in res}
            if args.spmm:
                for op, name in (("", "A X"), ("_t", "A^T X")):
                    ours = next((r for r in res if r["alg"] == "ours_spmm" + op), None)
                    peers = [r for r in res if r["alg"].startswith("t_" if op else "spmm")]
                    if ours is None or not peers:
                        print(f"{fam:8} [{flag or 'as shipped'}] {name}: no result", flush=True)
                        continue
                    best = min(peers, key=lambda r: r["us"])
                    print(f"{fam:8} [{flag or 'as shipped'}] {name} k={args.spmm}: ours {ours['us']:.1f} us "
                          f"({ours['gflops']} GFLOP/s, rel. err {ours['relerr_vs_cusparse']:.1e}); cuSPARSE "
                          f"{best['alg']} {best['us']:.1f} us: {best['us'] / ours['us']:.2f}x", flush=True)
                continue
            bad = [r["alg"] for r in res if r["alg"].startswith("ours") and not r.get("relerr", 0) < 1e-5]
            best = min((r for r in res if not r["alg"].startswith("ours")), key=lambda r: r["us"], default=None)
            print(f"{fam:8} [{flag or 'as shipped'}] {lanes_line(us)}; cuSPARSE {best['us'] if best else float('nan'):.1f}"
                  + (f"; WRONG: {bad}" if bad else ""), flush=True)


if __name__ == "__main__":
    main()
