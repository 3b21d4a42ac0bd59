"""Where the grid V-cycle loses on rough piecewise-constant coefficients: level by level.

On piecewise-constant diffusion with contrast 1e4 and *rough* interfaces (the
default exponential covariance) the learned V-cycle's PCG iterations grow from
27 at 128² to 250 at 1024² (``benchmarks/vcycle_scaling.py``).  This script
locates the loss.  For each problem it measures PCG iterations (rtol 1e-6,
right-hand side from the problem generator) with

- ``V (learned)``, ``V (Jacobi)``: the full ``vcycle-2d`` and ``gmg`` cycles;
- ``TG 0→1``: one level of black-box coarsening with an *exact* coarse solve
  (sparse LU of the Galerkin operator ``A₁ = P₀ᵀ A P₀``), damped Jacobi
  smoothing: the quality of the first coarse space alone;
- ``TG 1→2``: the same one level down, as a solver for ``A₁`` itself (random
  right-hand side);
- ``RS on A``, ``RS on A₁``: PyAMG Ruge–Stuben as the preconditioner for the
  fine matrix, and as the coarse solver inside ``TG 0→1`` (its V-cycle in
  place of the exact solve);
- ``λ < 0.01``: how many eigenvalues of ``M A`` (``M`` the learned cycle) lie
  below 0.01 (ARPACK on ``I − M A``; 128² and 256² only).

The smooth-interface family (gaussian covariance) is the control.

    python benchmarks/vcycle_coarse_space.py   # 5 min; writes benchmarks/results/vcycle/coarse_space.md
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pyamg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info
from learnsolve.multigrid import grid_hierarchy
from learnsolve.problems import diffusion


def pcg_its(A, b, M, maxiter=1000):
    res = []
    _, info = learnsolve.krylov.cg(A, b, M=M, rtol=1e-6, maxiter=maxiter, residuals=res)
    return len(res) - 1 if info == 0 else f">{maxiter}"


def two_grid(A, P, coarse_solve, omega=0.65):
    """Symmetric two-grid operator: Jacobi, ``P coarse_solve(Pᵀ r)``, Jacobi."""
    w = omega / A.diagonal()

    def apply(r):
        x = w * r
        x = x + P @ coarse_solve(P.T @ (r - A @ x))
        return x + w * (r - A @ x)

    return spla.LinearOperator(A.shape, matvec=apply, dtype=np.float64)


def small_eigenvalues(A, M, k=40, below=0.01):
    op = spla.LinearOperator(A.shape, matvec=lambda x: x - M.matvec(A @ x), dtype=np.float64)
    w = spla.eigs(op, k=k, which="LR", return_eigenvectors=False, tol=1e-4, ncv=2 * k + 20)
    return int(np.sum(1 - w.real < below))


def row(n, covariance, seed, eig_max):
    p = diffusion(n, contrast=1e4, seed=seed, covariance=covariance)
    A = sp.csr_array(p.A)
    H = grid_hierarchy(A, p.grid_shape)
    A1, A2 = H.levels[1].A.tocsr(), H.levels[2].A.tocsr()
    P0, P1 = H.levels[0].P.tocsr(), H.levels[1].P.tocsr()
    exact = lambda M: spla.splu(sp.csc_matrix(M)).solve  # noqa: E731
    learned = learnsolve.pretrained("vcycle-2d").aspreconditioner(A)
    rs_fine = pyamg.ruge_stuben_solver(sp.csr_matrix(A)).aspreconditioner()
    rs_A1 = pyamg.ruge_stuben_solver(sp.csr_matrix(A1)).aspreconditioner()
    b1 = np.random.default_rng(seed).standard_normal(A1.shape[0])
    return {
        "V (learned)": pcg_its(A, p.b, learned),
        "V (Jacobi)": pcg_its(A, p.b, learnsolve.precond.gmg(A)),
        "TG 0→1": pcg_its(A, p.b, two_grid(A, P0, exact(A1))),
        "TG 1→2": pcg_its(A1, b1, two_grid(A1, P1, exact(A2))),
        "RS on A": pcg_its(A, p.b, rs_fine),
        "TG 0→1, RS on A₁": pcg_its(A, p.b, two_grid(A, P0, rs_A1.matvec)),
        "λ < 0.01": small_eigenvalues(A, learned) if n <= eig_max else "",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="128,256,512,1024")
    ap.add_argument("--seeds", default="100,101")
    ap.add_argument("--eig-max", type=int, default=256, help="largest n for the eigenvalue count")
    ap.add_argument("--out", default="benchmarks/results/vcycle/coarse_space.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    lines, cols = [], None
    with blas_single_thread():
        for covariance, label in (("exponential", "rough"), ("gaussian", "smooth")):
            for n in map(int, args.sizes.split(",")):
                for seed in map(int, args.seeds.split(",")):
                    r = row(n, covariance, seed, args.eig_max)
                    if cols is None:
                        cols = list(r)
                        lines += ["| interfaces | grid | seed | " + " | ".join(cols) + " |",
                                  "|---|---|---|" + "---:|" * len(cols)]
                    lines.append(f"| {label} | {n}² | {seed} | " + " | ".join(str(r[c]) for c in cols)
                                 + " |")
                    print(lines[-1], flush=True)
    head = ["# Grid V-cycle on piecewise-constant diffusion (contrast 1e4), level by level", "",
            f"`python benchmarks/vcycle_coarse_space.py` on {machine_info()}; "
            f"{time.perf_counter() - t0:.0f} s. PCG iterations to rtol 1e-6; "
            "TG = two-grid (damped Jacobi ω = 0.65, one sweep each side, exact coarse solve unless "
            "RS is named); λ < 0.01 counts eigenvalues of M A for the learned cycle.", ""]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(head + lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
