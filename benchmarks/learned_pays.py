"""Does the learning pay?  The learned grid V-cycle against the same cycle with Jacobi smoothing.

For each problem of issue 28 (2D 1024²: Poisson, log-normal var 2, smooth and
rough piecewise 1e4, circular inclusions 1e5; 3D 64³ and 100³: Poisson and
log-normal) build ``vcycle-2d``/``vcycle-3d`` and ``gmg-jacobi`` (the same
hierarchy, the same ``clusters="auto"`` setting, damped Jacobi ω = 0.65) and
solve with ``learnsolve.krylov.cg`` at rtol 1e-6 on the true residual: medians
of ``--repeats`` (5) interleaved runs after one untimed run of every method, BLAS on one
thread.  Reports iterations, set-up, solve, total, learned / Jacobi, and the
set-up stages (``info["setup_times"]``: stencil extraction, input checks,
hierarchy, smoothers (network inference), the ρ check, the cluster space).
With ``--peers`` PyAMG SA/RS and hypre BoomerAMG (through petsc4py) run on the
same matrices in the same run.

::

    python benchmarks/learned_pays.py                 # everything, with peers (about 15 min)
    python benchmarks/learned_pays.py --no-peers      # learned against Jacobi only (about 4 min)
    python benchmarks/learned_pays.py --only "poisson 1024²,poisson 100³"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import learnsolve
from learnsolve.bench import HYPRE, blas_single_thread, hypre_rows, machine_info, run_one

OUT = "benchmarks/results/learned_pays"
P = learnsolve.problems
PROBLEMS = {
    "poisson 1024²": lambda: P.poisson((1024, 1024)),
    "log-normal var 2, 1024²": lambda: P.diffusion(1024, variance=2.0),
    "piecewise 1e4 smooth, 1024²": lambda: P.diffusion(1024, contrast=1e4, covariance="gaussian"),
    "piecewise 1e4 rough, 1024²": lambda: P.diffusion(1024, contrast=1e4),
    "inclusions 1e5, 1024²": lambda: P.grid_inclusions(1024, contrast=1e5),
    "poisson 64³": lambda: P.poisson((64, 64, 64)),
    "log-normal var 2, 64³": lambda: P.diffusion(64, dim=3, variance=2.0),
    "poisson 100³": lambda: P.poisson((100, 100, 100)),
    "log-normal var 2, 100³": lambda: P.diffusion(100, dim=3, variance=2.0),
}
PEERS = ("amg-sa", "amg-rs")
#: Problems with coefficient jumps, also run with the cluster space forced on for both cycles
#: (``clusters="auto"`` decides per cycle from its own ρ estimate, so the two may differ).
JUMPS = ("piecewise 1e4 smooth, 1024²", "piecewise 1e4 rough, 1024²", "inclusions 1e5, 1024²")


def cycle_run(problem, method, rtol=1e-6):
    """One timed build + CG solve: its, set-up, solve, total, relres, info, the set-up stages."""
    t0 = time.perf_counter()
    M = learnsolve.precond.build(method, problem.A, grid_shape=problem.grid_shape)
    t1 = time.perf_counter()
    res = []
    x, info = learnsolve.krylov.cg(problem.A, problem.b, rtol=rtol, M=M, residuals=res)
    t2 = time.perf_counter()
    return {"its": len(res) - 1, "setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0,
            "relres": learnsolve.relative_residual(problem.A, x, problem.b), "info": int(info),
            "stages": dict(M.info.get("setup_times", {})), "rho": M.info.get("rho"),
            "clusters": M.info.get("clusters"), "name": M.name}


def medians(runs):
    out = {k: statistics.median(r[k] for r in runs) for k in ("setup", "solve", "total")}
    stages = {s for r in runs for s in r["stages"]}
    out["stages"] = {s: statistics.median(r["stages"].get(s, 0.0) for r in runs) for s in stages}
    last = runs[-1]
    out.update(its=last["its"], relres=max(r["relres"] for r in runs),
               info=max(r["info"] for r in runs), rho=last["rho"], clusters=last["clusters"],
               name=last["name"])
    return out


def measure(label, problem, repeats, peers, suffix=""):
    dim = len(problem.grid_shape)
    methods = (f"vcycle-{dim}d{suffix}", f"gmg-jacobi{suffix}")
    with blas_single_thread():
        for m in methods:  # untimed first runs: compilation, caches, first touch of memory
            cycle_run(problem, m)
        runs = {m: [] for m in methods}
        for _ in range(repeats):  # interleaved, so a slow spell of the machine hits both
            for m in methods:
                runs[m].append(cycle_run(problem, m))
        row = {m: medians(r) for m, r in runs.items()}
        if peers:
            for m in PEERS:
                run_one(problem, m, repeats=1)
                r = run_one(problem, m, repeats=repeats)
                row[m] = {"its": r.iterations, "setup": r.setup_s, "solve": r.solve_s,
                          "total": r.total_s, "relres": r.relres, "info": r.info}
    if peers:
        for r in hypre_rows({problem.name: (problem.A, problem.b)}, repeats).values():
            row[HYPRE] = {k: r[k] for k in ("its", "setup", "solve", "total", "relres", "info")}
    row["problem"], row["n"] = problem.name, problem.n
    return row


def table(rows):
    lines = ["| problem | learned: its, set-up + solve = total | Jacobi cycle: its, set-up + solve "
             "= total | learned / Jacobi |", "|---|---|---|---:|"]
    for label, row in rows.items():
        learned = next(v for k, v in row.items() if k.startswith("vcycle"))
        jac = next(v for k, v in row.items() if k.startswith("gmg-jacobi"))
        cell = lambda r: (f"{r['its']} its, {r['setup']:.3f} + {r['solve']:.3f} = "  # noqa: E731
                          f"**{r['total']:.3f} s**")
        lines.append(f"| {label} | {cell(learned)} | {cell(jac)} | "
                     f"{learned['total'] / jac['total']:.2f} |")
    return lines


def stage_table(rows):
    stages = ("stencil", "checks", "hierarchy", "smoothers", "guard", "check", "clusters")
    lines = ["| problem | method | " + " | ".join(stages) + " | set-up |",
             "|---|---|" + "---:|" * (len(stages) + 1)]
    for label, row in rows.items():
        for method, r in row.items():
            if not isinstance(r, dict) or "stages" not in r:
                continue
            st = r["stages"]
            lines.append(f"| {label} | {method} | " + " | ".join(
                f"{st[s]:.0f}" if s in st else "–" for s in stages) + f" | {1e3 * r['setup']:.0f} |")
    return lines


def peer_table(rows):
    names = ("vcycle", "gmg-jacobi", *PEERS, HYPRE)
    lines = ["| problem | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, row in rows.items():
        cells = []
        for n in names:
            r = next((v for k, v in row.items() if k.startswith(n) and isinstance(v, dict)), None)
            cells.append("–" if r is None else
                         f"{r['its']} its {r['total']:.3f} s" + ("" if r["info"] == 0 else " (nc)"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--only", default=None, help="comma-separated problem labels")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    labels = args.only.split(",") if args.only else list(PROBLEMS)
    os.makedirs(args.out, exist_ok=True)
    rows = {}
    for label in labels:
        problem = PROBLEMS[label]()
        rows[label] = measure(label, problem, args.repeats, args.peers)
        print("\n".join(table({label: rows[label]})[2:]), flush=True)
        if label in JUMPS:
            key = f"{label}, clusters on"
            rows[key] = measure(key, problem, args.repeats, False, ":clusters")
            print("\n".join(table({key: rows[key]})[2:]), flush=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:  # as it goes
            json.dump({"machine": machine_info(), "rows": rows}, f, indent=1, default=str)
    text = ["## learned / Jacobi cycle", *table(rows), "", "## set-up stages (ms, medians)",
            *stage_table(rows)]
    if args.peers:
        text += ["", "## against PyAMG and hypre (totals, medians)", *peer_table(rows)]
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
