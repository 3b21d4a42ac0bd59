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
protocol), else its rows are left out::

    python benchmarks/vcycle_3d.py            # 3 min
    python benchmarks/vcycle_3d.py --n 64     # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info

METHODS = ("vcycle-3d", "gmg-jacobi", "amg-sa", "amg-rs", "ic0")
HYPRE = "hypre BoomerAMG"
PETSC_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            ".venv-petsc", "bin", "python")


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


def hypre_run(p):
    from petsc4py import PETSc

    A = p.A.tocsr()
    it = PETSc.IntType
    M = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(it), A.indices.astype(it), A.data),
                              comm=PETSc.COMM_SELF)
    ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
    ksp.setOperators(M)
    ksp.setType("cg")
    ksp.getPC().setType("hypre")
    ksp.getPC().setHYPREType("boomeramg")
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setTolerances(rtol=1e-6, max_it=5000)
    b, x = M.createVecLeft(), M.createVecLeft()
    b.setArray(p.b)
    t0 = time.perf_counter()
    ksp.setUp()
    t1 = time.perf_counter()
    ksp.solve(b, x)
    t2 = time.perf_counter()
    return {"its": ksp.getIterationNumber(), "setup": t1 - t0, "solve": t2 - t1,
            "info": 0 if ksp.getConvergedReason() > 0 else -1,
            "relres": learnsolve.relative_residual(p.A, x.getArray().copy(), p.b)}


def measure(p, method, repeats):
    run = hypre_run if method == HYPRE else (lambda q: learnsolve_run(q, method))
    run(p)  # untimed
    runs = [run(p) for _ in range(repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in ("setup", "solve")}
    med["total"] = statistics.median(r["setup"] + r["solve"] for r in runs)
    return dict(med, its=runs[-1]["its"], info=max(abs(r["info"]) for r in runs),
                relres=max(r["relres"] for r in runs))


def hypre_rows(n, repeats):
    """``{problem: row}`` for hypre: here, or from the PETSc environment, or ``{}``."""
    if importlib.util.find_spec("petsc4py") is not None:
        with blas_single_thread():
            return {name: measure(p, HYPRE, repeats) for name, p in problems(n).items()}
    if not os.path.exists(PETSC_PYTHON):
        print(f"no petsc4py here and no {PETSC_PYTHON} (make petsc): no hypre rows", file=sys.stderr)
        return {}
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([PETSC_PYTHON, os.path.abspath(__file__), "--hypre-json", "--n", str(n),
                          "--repeats", str(repeats)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"the hypre run failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/vcycle/vcycle_3d.md")
    ap.add_argument("--hypre-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hypre_json:  # the PETSc environment's part: hypre's rows as JSON on the last line
        print(json.dumps(hypre_rows(args.n, args.repeats)))
        return
    lines = [f"`python benchmarks/vcycle_3d.py --n {args.n}` on {machine_info()}; one run.", "",
             f"rtol 1e-6 on the true residual, x0 = 0; medians of {args.repeats} timed runs after "
             "one untimed run; seconds.", "",
             "| problem | method | its | set-up | solve | total | total / best PyAMG | "
             "‖b−Ax‖/‖b‖ |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    rows = {}
    with blas_single_thread():
        for name, p in problems(args.n).items():
            rows[name] = {m: measure(p, m, args.repeats) for m in METHODS}
    for name, r in hypre_rows(args.n, args.repeats).items():
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
