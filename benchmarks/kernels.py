"""Throughput of learnsolve._C against SciPy: SpMV and IC(0) triangular solves.

2D Poisson 1024² and 3D Poisson 100³ (IC(0) factor for the solves).  Each
kernel's result is checked against SciPy before it is timed; medians of 20
calls after a warm-up; BLAS held to one thread.

    python benchmarks/kernels.py [--out benchmarks/results/kernels.md]
"""

import argparse
import os
import statistics
import time

import numpy as np
import scipy.sparse.linalg as spla

import learnsolve
from learnsolve import bench, ops
from learnsolve.bench import blas_single_thread


def median_ms(fn, repeats=20):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="benchmarks/results/kernels.md")
    args = ap.parse_args()
    rows = []
    for shape in [(1024, 1024), (100, 100, 100)]:
        p = learnsolve.problems.poisson(shape)
        A, n = p.A, p.n
        x = np.random.default_rng(0).standard_normal(n)
        y = np.empty(n)
        M = ops.CSRMatrix(A)
        assert np.allclose(M.matvec(x, y), A @ x)
        gb = (A.nnz * 12 + n * 16) / 1e9  # values+indices, x read, y written
        t_c, t_s = median_ms(lambda M=M, x=x, y=y: M.matvec(x, y)), median_ms(lambda A=A, x=x: A @ x)
        rows.append((p.name, "SpMV", t_c, t_s, gb))
        L = ops.ichol0(A)
        ref = spla.spsolve_triangular(L, x, lower=True)
        serial = ops.TriangularSolver(L, parallel=False)
        levels = ops.TriangularSolver(L, parallel=True)
        assert np.allclose(serial.solve(x), ref) and np.allclose(levels.solve(x), ref)
        gb = (L.nnz * 12 + n * 16) / 1e9
        t_ref = median_ms(lambda L=L, x=x: spla.spsolve_triangular(L, x, lower=True), repeats=3)
        rows.append((p.name, "lower solve, substitution", median_ms(lambda s=serial, x=x: s.solve(x)),
                     t_ref, gb))
        rows.append((p.name, f"lower solve, {levels.n_levels} levels (OpenMP)",
                     median_ms(lambda s=levels, x=x: s.solve(x)), t_ref, gb))
    lines = [
        f"Machine: {bench.machine_info()}",
        "",
        "| problem | kernel | learnsolve._C ms | SciPy ms | speed-up | learnsolve GB/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, kernel, t_c, t_s, gb in rows:
        lines.append(f"| {name} | {kernel} | {t_c:.2f} | {t_s:.2f} | {t_s / t_c:.1f}× | "
                     f"{gb / (t_c / 1e3):.1f} |")
    lines.append("")
    lines.append("SciPy: `A @ x` for SpMV, `scipy.sparse.linalg.spsolve_triangular` for the solves.")
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    print(f"wrote {args.out}; {bench.machine_info()}")


if __name__ == "__main__":
    with blas_single_thread():
        main()
