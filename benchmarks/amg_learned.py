"""The learned algebraic V-cycle against PyAMG SA/RS and hypre BoomerAMG, on meshes, grids and
real matrices.

Four parts, one run, this machine (``learnsolve.bench.run_one``: CG with
rtol 1e-6 on the true residual, x0 = 0, BLAS at one thread; every method once
untimed at the problem's size first, then medians of ``--repeats`` runs of
set-up + solve; hypre BoomerAMG through petsc4py on the same matrices, see
``learnsolve.bench.hypre_rows``):

1. ``fem``: P1 FEM diffusion with inclusions on unstructured meshes, 2D
   triangles at two sizes 4× apart (≥ 200k unknowns) and 3D tetrahedra at
   two sizes 8× apart (≥ 100k unknowns); ``amg-learned``, its classical
   baseline ``amg-chebyshev``, PyAMG SA and RS, hypre.  Convergence plot of
   the larger 2D mesh.
2. ``anisotropic``: the 1024² anisotropic grid (ε = 1e-3, 30°), with the
   grid cycle ``vcycle-2d`` and both coarsenings of the algebraic cycle.
3. ``shared``: every matrix in ``../shared/matrices``: ``amg-learned`` against
   its fallback (``amg-chebyshev``) and PyAMG SA.
4. ``grids``: ``auto`` against ``vcycle-2d``/``vcycle-3d`` on the grid families.

::

    python benchmarks/amg_learned.py                        # all parts (about 20 min)
    python benchmarks/amg_learned.py --parts fem --quick    # small sizes, a quick look
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

import learnsolve
from learnsolve.bench import (
    HYPRE,
    Result,
    blas_single_thread,
    expand,
    hypre_rows,
    machine_info,
    plot_convergence,
    run_one,
)

OUT = "benchmarks/results/amg"
FEM_METHODS = ("amg-learned", "amg-chebyshev", "amg-sa", "amg-rs")
ANISO_METHODS = ("amg-learned", "amg-learned:rs", "amg-chebyshev:rs", "vcycle-2d", "amg-sa",
                 "amg-rs")
SHARED_METHODS = ("amg-learned", "amg-chebyshev", "amg-sa")
#: Medians over more runs where the compared totals differ by less than the run-to-run noise
#: of 3 runs (± 10–20 % here): milliseconds on the shared matrices, auto against the cycle it picks.
SMALL_REPEATS = {"shared": 15, "grids": 9}


def fem_problems(quick):
    sizes2, sizes3 = ((150, 300), (16, 32)) if quick else ((450, 900), (48, 96))
    out = []
    for n in sizes2:
        out.append(learnsolve.problems.fem_diffusion(n, contrast=1e4, seed=0, rhs="random"))
    for n in sizes3:
        out.append(learnsolve.problems.fem_diffusion(n, dim=3, contrast=1e6, seed=0, rhs="random"))
    return out


def measure(problem, methods, repeats, hypre=True):
    """``[Result]`` for ``methods`` on ``problem`` (one untimed run of each first), plus hypre's."""
    rows = []
    with blas_single_thread():
        for m in methods:  # untimed, all methods before any timed run: compilation, caches, and
            run_one(problem, m, repeats=1)  # the first method on a fresh matrix ran slower
        for m in methods:
            rows.append(run_one(problem, m, repeats=repeats))
    if hypre:
        for name, r in hypre_rows({problem.name: (problem.A, problem.b)}, repeats).items():
            its = max(r["its"], 1)
            hist = [(r["setup"] + k * r["solve"] / its, res) for k, res in enumerate(r["history"])]
            rows.append(Result(name, problem.n, int(problem.A.nnz), HYPRE, r["its"], r["setup"],
                               r["solve"], r["total"], r["relres"], r["info"], r["repeats"], hist))
    return rows


def table(rows, best_of=("amg-sa", "amg-rs")):
    """Markdown rows with each total over the best PyAMG total and over hypre's."""
    lines = ["| problem | n | method | its | set-up | solve | total | / ref | / hypre | "
             "‖b−Ax‖/‖b‖ |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for problem in dict.fromkeys(r.problem for r in rows):
        mine = [r for r in rows if r.problem == problem]
        peers = [r.total_s for r in mine if r.method in best_of and r.info == 0]
        best = min(peers) if peers else float("nan")
        hyp = next((r.total_s for r in mine if r.method == HYPRE), float("nan"))
        for r in mine:
            flag = "" if r.info == 0 else " (not converged)"
            lines.append(f"| {problem} | {r.n:,} | {r.method}{flag} | {r.iterations} | "
                         f"{r.setup_s:.3f} | {r.solve_s:.3f} | {r.total_s:.3f} | "
                         f"{r.total_s / best:.2f} | {r.total_s / hyp:.2f} | {r.relres:.1e} |")
    return lines


def part_fem(args):
    rows, names = [], []
    for p in fem_problems(args.quick):
        rows += measure(p, FEM_METHODS, args.repeats)
        names.append(p.name)
    big2d = [r for r in rows if r.problem == names[1]]
    plot_convergence(big2d, args.out, rtol=1e-6)
    return rows


def part_anisotropic(args):
    n = 256 if args.quick else 1024
    p = learnsolve.problems.anisotropic(n, eps=1e-3, theta=np.pi / 6)
    return measure(p, ANISO_METHODS, args.repeats)


def part_shared(args):
    rows = []
    for path in expand(["shared"]):
        p = learnsolve.problems.load_matrix(path)
        rows += measure(p, SHARED_METHODS, max(args.repeats, SMALL_REPEATS["shared"]), hypre=False)
    return rows


def part_grids(args):
    n2, n3 = (128, 24) if args.quick else (512, 64)
    grids = [learnsolve.problems.poisson((n2, n2)),
             learnsolve.problems.diffusion(n2, variance=2.0, seed=0),
             learnsolve.problems.diffusion(n2, contrast=1e4, seed=0),
             learnsolve.problems.poisson((n3, n3, n3)),
             learnsolve.problems.diffusion(n3, dim=3, variance=2.0, seed=0)]
    rows = []
    for p in grids:
        cycle = f"vcycle-{len(p.grid_shape)}d"
        rows += measure(p, ("auto", cycle), max(args.repeats, SMALL_REPEATS["grids"]), hypre=False)
    return rows


PARTS = {"fem": part_fem, "anisotropic": part_anisotropic, "shared": part_shared,
         "grids": part_grids}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for part in args.parts.split(","):
        rows = PARTS[part](args)
        best_of = ("amg-chebyshev",) if part == "shared" else \
            (("vcycle-2d", "vcycle-3d") if part == "grids" else ("amg-sa", "amg-rs"))
        lines = [f"`python benchmarks/amg_learned.py --parts {part}"
                 f"{' --quick' if args.quick else ''}` on {machine_info()}; one run.", "",
                 f"rtol 1e-6 on the true residual, x0 = 0; medians of "
                 f"{max(args.repeats, SMALL_REPEATS.get(part, 0))} timed runs "
                 "after one untimed run; seconds.  `/ ref` divides by the best of "
                 f"{' and '.join(best_of)}.", ""]
        lines += table(rows, best_of)
        with open(os.path.join(args.out, f"{part}.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(args.out, f"{part}.json"), "w") as f:
            json.dump([r.asdict() for r in rows], f, indent=1)
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
