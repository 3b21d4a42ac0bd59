"""Learned factors against IC(0), IC(1), relaxed MIC(0), FSAI (on A²'s and an adaptive pattern), Jacobi
and PyAMG SA (the tables of docs/learned-factors.md).

For each problem and seed: build each preconditioner (set-up timed, GNN
inference and the safety probe included), solve with ``learnsolve.krylov.cg``
at rtol 1e-6, record iterations, set-up, solve, total and the true relative
residual.  Reports means of iterations and medians of times over the seeds,
and says when a learned model fell back to its classical preconditioner.
MIC(0)'s ω is the best fixed ω on the first three seeds of the 256² set (a
sweep over seeds that are also in the table, so MIC(0) gets a hindsight
advantage); the other sets reuse it.

    python benchmarks/learned_factors.py            # shipped learned factors (about 20 min)
    python benchmarks/learned_factors.py --model path/to.pt    # add a weights file
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np

import learnsolve
from learnsolve.bench import blas_single_thread, expand, make_problem

OMEGAS = (0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0)
LEARNED = ("gnn-ic1-correct", "gnn-ic-correct", "gnn-fsai", "gnn-fsai-a2", "gnn-fsai-select")


def builders(model_paths, names):
    out = {"ic0": learnsolve.precond.ic0, "ic1": lambda A: learnsolve.precond.ick(A, 1),
           "ic2": lambda A: learnsolve.precond.ick(A, 2),
           "jacobi": learnsolve.precond.jacobi, "fsai(A²)": learnsolve.precond.fsai,
           "fsai(adaptive)": lambda A: learnsolve.precond.fsai(A, "adaptive"),
           "amg-sa": learnsolve.precond.amg}
    for name in names:
        if name in learnsolve.pretrained():
            out[name] = learnsolve.pretrained(name).aspreconditioner
    for path in model_paths:
        out[os.path.splitext(os.path.basename(path))[0]] = learnsolve.pretrained(path=path).aspreconditioner
    return out


def solve(p, build):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        M = build(p.A)
    t1 = time.perf_counter()
    res = []
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=100_000)
    t2 = time.perf_counter()
    fell_back = "fallback" in getattr(M, "info", {}) or any("falling back" in str(w.message)
                                                          for w in caught)
    return (len(res) - 1, t1 - t0, t2 - t1, t2 - t0, learnsolve.relative_residual(p.A, x, p.b),
            info, fell_back)


def best_omega(problems_):
    totals = {}
    for w in OMEGAS:
        totals[w] = sum(solve(p, lambda A, w=w: learnsolve.precond.mic0(A, omega=w))[0] for p in problems_)
    return min(totals, key=totals.get), totals


def table(title, problems_, methods):
    rows = {name: [solve(p, b) for p in problems_] for name, b in methods.items()}
    ic = np.mean([r[0] for r in rows["ic0"]])
    lines = [f"**{title}**", "", "| method | its (mean) | its / IC(0) | setup | solve | total | max relres "
             "| all info 0 | fell back |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for name, rs in rows.items():
        its = np.mean([r[0] for r in rs])
        med = [statistics.median(r[k] for r in rs) for k in (1, 2, 3)]
        lines.append(f"| {name} | {its:.0f} | {its / ic:.2f} | {med[0]:.3f} | {med[1]:.3f} | "
                     f"{med[2]:.3f} | {max(r[4] for r in rs):.1e} | {all(r[5] == 0 for r in rs)} | "
                     f"{sum(r[6] for r in rs)} of {len(rs)} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", action="append", default=[], help="weights file (repeatable)")
    ap.add_argument("--names", default=",".join(LEARNED), help="shipped models to include")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seeds-512", type=int, default=1)
    ap.add_argument("--sets", default="256,512,3d,shared")
    ap.add_argument("--out", default="benchmarks/results/factors/factors.md")
    args = ap.parse_args()
    methods = builders(args.model, [n for n in args.names.split(",") if n])
    sets = args.sets.split(",")
    out = ["Learned factors, rtol 1e-6 on the true residual, `learnsolve.krylov.cg`, BLAS on one thread, "
           "this machine, one run. Iterations are means over seeds, times medians. 'fell back' counts "
           "runs where a learned model's safety check returned its classical fallback.", ""]
    with blas_single_thread():
        first = [learnsolve.problems.diffusion(256, contrast=1e4, seed=100 + s) for s in range(args.seeds)]
        omega, totals = best_omega(first[:3])
        methods = dict(methods, **{f"mic0(ω={omega:g})": lambda A: learnsolve.precond.mic0(A, omega=omega)})
        out += ["MIC(0) ω sweep on seeds 100–102 of the 256² set (total iterations): "
                + ", ".join(f"ω={w:g}: {t}" for w, t in totals.items()) + f"; best ω = {omega:g}.", ""]
        for name in sets:
            if name == "256":
                out.append(table(f"ConDiff piecewise 256², contrast 1e4, seeds 100–{99 + args.seeds} "
                                 "(unseen size and seeds)", first, methods))
            elif name == "512":
                ps = [learnsolve.problems.diffusion(512, contrast=1e4, seed=100 + s)
                      for s in range(args.seeds_512)]
                out.append(table(f"ConDiff piecewise 512², contrast 1e4, seeds 100–{99 + args.seeds_512}",
                                 ps, methods))
            elif name == "3d":
                ps = [learnsolve.problems.poisson((32, 32, 32), seed=100 + s) for s in range(args.seeds)]
                out.append(table(f"3D Poisson 32³, random right-hand sides, seeds 100–{99 + args.seeds}",
                                 ps, methods))
            elif name == "shared":
                for path in expand(["shared"]):
                    p = make_problem(path)
                    out.append(table(f"shared/matrices/{os.path.basename(path)} (n = {p.n})", [p], methods))
            print(out[-1], flush=True)
    md = "\n".join(out)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
