"""Learned factors against IC(0), relaxed MIC(0), Jacobi and PyAMG SA (issue 3's table).

For each problem family and seed: build each preconditioner (set-up timed,
GNN inference included), solve with ``learnsolve.krylov.cg`` at rtol 1e-6,
record iterations, set-up, solve, total and the true relative residual.
Reports means of iterations and medians of times over the seeds.

    python benchmarks/learned_factors.py --model learnsolve/zoo/gnn-ic-correct.pt [--seeds 10]
"""

import argparse
import os
import statistics
import time

import numpy as np

import learnsolve
from learnsolve.krylov._common import blas_single_thread


def methods(model_paths):
    out = {"ic0": learnsolve.precond.ic0, "mic0(0.97)": learnsolve.precond.mic0,
           "jacobi": learnsolve.precond.jacobi, "amg-sa": learnsolve.precond.amg}
    for path in model_paths:
        lf = learnsolve.pretrained(path=path)
        out[os.path.splitext(os.path.basename(path))[0]] = lf.aspreconditioner
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", action="append", default=[], help="weights file (repeatable)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--out", default="benchmarks/results/learned_factors.md")
    args = ap.parse_args()
    builders = methods(args.model)
    rows = {name: [] for name in builders}
    with blas_single_thread():
        for seed in range(args.seeds):
            p = learnsolve.problems.diffusion(args.size, contrast=args.contrast, seed=100 + seed)
            for name, build in builders.items():
                t0 = time.perf_counter()
                M = build(p.A)
                t1 = time.perf_counter()
                res = []
                x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res)
                t2 = time.perf_counter()
                rows[name].append((len(res) - 1, t1 - t0, t2 - t1, t2 - t0,
                                   learnsolve.relative_residual(p.A, x, p.b), info))
    ic = np.mean([r[0] for r in rows["ic0"]])
    lines = [f"ConDiff piecewise diffusion {args.size}², contrast {args.contrast:g}, seeds 100–"
             f"{99 + args.seeds} (unseen in training), rtol 1e-6; mean iterations, median seconds.",
             "", "| method | its (mean) | its / IC(0) | setup | solve | total | max relres | all info 0 |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, rs in rows.items():
        its = np.mean([r[0] for r in rs])
        med = [statistics.median(r[k] for r in rs) for k in (1, 2, 3)]
        lines.append(f"| {name} | {its:.0f} | {its / ic:.2f} | {med[0]:.3f} | {med[1]:.3f} | "
                     f"{med[2]:.3f} | {max(r[4] for r in rs):.1e} | {all(r[5] == 0 for r in rs)} |")
    md = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
