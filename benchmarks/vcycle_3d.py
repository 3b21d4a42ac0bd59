"""3D grids at 100³: the learned V-cycle's total time against PyAMG SA/RS and hypre BoomerAMG.

For each problem (3D Poisson and log-normal diffusion, variance 2, 100³ =
1,000,000 unknowns) and method: one untimed run at the same size first
(imports, numba's cached kernels, the allocator's first touch of this much
memory), then ``--repeats`` timed runs of set-up + CG solve
(``learnsolve.krylov.cg``, rtol 1e-6 on the true residual, x0 = 0, BLAS at one
thread); the table gives medians of set-up, solve and total and the worst
true residual.  hypre BoomerAMG runs through petsc4py (PETSc's CG with
``-pc_type hypre``, its default options, the unpreconditioned residual norm;
set-up = ``KSPSetUp``, the matrix already assembled in PETSc): in this process
when petsc4py is importable, else in the PETSc environment that ``make petsc``
builds (``.venv-petsc``, run as a subprocess on the same problems, same
protocol; ``learnsolve.bench.hypre_rows``), else its rows are left out::

    python benchmarks/vcycle_3d.py            # 3 min
    python benchmarks/vcycle_3d.py --n 64     # a quick look
"""

from __future__ import annotations

import argparse
import os
import time

import learnsolve
from learnsolve.bench import HYPRE, blas_single_thread, hypre_rows, machine_info, timed_runs

METHODS = ("vcycle-3d", "gmg-jacobi", "amg-sa", "amg-rs", "ic0")


def problems(n):
    return {"3D Poisson": learnsolve.problems.poisson((n, n, n)),
            "3D log-normal, var 2": learnsolve.problems.diffusion(n, dim=3, variance=2.0, seed=0)}


def learnsolve_run(p, method):
    t0 = time.perf_counter()
    M = learnsolve.precond.build(method, p.A, grid_shape=p.grid_shape)
    t1 = time.perf_counter()
    res = []
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=5000)
    t2 = time.perf_counter()
    return {"its": len(res) - 1, "setup": t1 - t0, "solve": t2 - t1, "info": int(info),
            "relres": learnsolve.relative_residual(p.A, x, p.b)}


def measure(p, method, repeats):
    return timed_runs(lambda: learnsolve_run(p, method), repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/vcycle/vcycle_3d.md")
    args = ap.parse_args()
    lines = [f"`python benchmarks/vcycle_3d.py --n {args.n}` on {machine_info()}; one run.", "",
             f"rtol 1e-6 on the true residual, x0 = 0; medians of {args.repeats} timed runs after "
             "one untimed run; seconds.", "",
             "| problem | method | its | set-up | solve | total | total / best PyAMG | "
             "‖b−Ax‖/‖b‖ |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    rows = {}
    systems = problems(args.n)
    with blas_single_thread():
        for name, p in systems.items():
            rows[name] = {m: measure(p, m, args.repeats) for m in METHODS}
    for name, r in hypre_rows({k: (p.A, p.b) for k, p in systems.items()}, args.repeats).items():
        rows[name][HYPRE] = r
    for name, methods in rows.items():
        best = min(methods[m]["total"] for m in ("amg-sa", "amg-rs") if methods[m]["info"] == 0)
        for m, r in methods.items():
            flag = "" if r["info"] == 0 else " (not converged)"
            lines.append(f"| {name} {args.n}³ | {m}{flag} | {r['its']} | {r['setup']:.2f} | "
                         f"{r['solve']:.2f} | {r['total']:.2f} | {r['total'] / best:.2f} | "
                         f"{r['relres']:.1e} |")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("wrote " + args.out)


if __name__ == "__main__":
    main()
