"""More smoothing sweeps per level: does a stronger learned cycle pay in total time? (issue 28)

The issue's item 2 lists "learned sweeps per level" among the stronger smoothers to try.  Before
training anything, this measures the ceiling of that idea with the shipped networks: the learned
cycle and the Jacobi cycle (``gmg-jacobi``, the same hierarchy) with ``nu`` = 1, 2 (and 3 for
Jacobi) pre- and post-smoothing sweeps, on the problems where the learned cycle misses the
issue's bar (smooth coefficients).  Medians of ``--repeats`` interleaved runs, rtol 1e-6, BLAS
on one thread.

    python benchmarks/learned_sweeps.py            # about 4 min
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info
from learnsolve.precond import gmg, grid_cycle

OUT = "benchmarks/results/learned_pays"
P = learnsolve.problems
PROBLEMS = {
    "poisson 1024²": lambda: P.poisson((1024, 1024)),
    "log-normal var 2, 1024²": lambda: P.diffusion(1024, variance=2.0),
    "poisson 100³": lambda: P.poisson((100, 100, 100)),
    "log-normal var 2, 100³": lambda: P.diffusion(100, dim=3, variance=2.0),
}
CYCLES = [("learned", 1), ("learned", 2), ("jacobi", 1), ("jacobi", 2), ("jacobi", 3)]


def build(kind, nu, problem):
    if kind == "jacobi":
        return gmg(problem.A, problem.grid_shape, nu=nu)
    model = learnsolve.pretrained(f"vcycle-{len(problem.grid_shape)}d")
    return grid_cycle(problem.A, model.smoothers, shape=problem.grid_shape, nu=nu, name=model.name,
                      func="learned_sweeps", guard=model.model.omega)


def once(kind, nu, problem):
    t0 = time.perf_counter()
    M = build(kind, nu, problem)
    t1 = time.perf_counter()
    res = []
    x, info = learnsolve.krylov.cg(problem.A, problem.b, rtol=1e-6, M=M, residuals=res)
    t2 = time.perf_counter()
    assert info == 0 and learnsolve.relative_residual(problem.A, x, problem.b) <= 1e-6
    return {"its": len(res) - 1, "setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0,
            "rho": M.info.get("rho")}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    blas_single_thread()
    rows = {}
    for label, make in PROBLEMS.items():
        problem = make()
        for kind, nu in CYCLES:  # warm: numba compilation, first-touch of the model
            once(kind, nu, problem)
        runs = {c: [] for c in CYCLES}
        for _ in range(args.repeats):
            for c in CYCLES:
                runs[c].append(once(*c, problem))
        rows[label] = {f"{k} nu={nu}": {key: float(np.median([r[key] for r in rs]))
                                        for key in ("its", "setup", "solve", "total")}
                       | {"rho": rs[0]["rho"]} for (k, nu), rs in runs.items()}
        for name, r in rows[label].items():
            print(f"{label} | {name} | {r['its']:.0f} its | {r['setup']:.3f} + {r['solve']:.3f} = "
                  f"{r['total']:.3f} s | rho {r['rho']}", flush=True)
    lines = ["| problem | cycle | its | set-up s | solve s | total s | ρ estimate | / Jacobi ν=1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for label, cycles in rows.items():
        base = cycles["jacobi nu=1"]["total"]
        for name, r in cycles.items():
            lines.append(f"| {label} | {name.replace('nu=', 'ν = ')} | {r['its']:.0f} | {r['setup']:.3f} "
                         f"| {r['solve']:.3f} | {r['total']:.3f} | {r['rho']} | {r['total'] / base:.2f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "sweeps.json"), "w") as f:
        json.dump({"machine": machine_info(), "repeats": args.repeats, "rows": rows}, f, indent=1)
    with open(os.path.join(args.out, "sweeps.md"), "w") as f:
        f.write(f"`python benchmarks/learned_sweeps.py`, medians of {args.repeats} interleaved runs, "
                "rtol 1e-6 on the true residual, BLAS on one thread.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
