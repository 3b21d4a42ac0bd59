"""Could a multilevel solve replace the cluster space's sparse LU?

The cluster coarse space needs ``(Zᵀ A Z)⁻¹``; ``vcycle-2d`` factorizes
``Zᵀ A Z`` by a sparse LU, whose cost grows 6-7× per 4× unknowns.  This script
replaces the LU by one PyAMG smoothed-aggregation V-cycle ``B`` on ``Zᵀ A Z``
(symmetric Gauss-Seidel, strength threshold ``theta``).  ``B`` is inexact, so
the cycle ``V`` and ``C = Z B Zᵀ`` are combined in the symmetric multiplicative
form ``I − M A = (I − C A)(I − V A)(I − C A)``.  That form equals the balancing
form the package uses when ``B`` is exact, and it is SPD whenever ``V`` is and
``B`` converges.  Rough piecewise field (contrast 1e4, seed 100), ``learnsolve.krylov.cg``
to rtol 1e-6 on the true residual, one run each, after an untimed 128² warm-up.

    python benchmarks/cluster_coarse.py                  # 512², 1024², 2048² (1 min)
    python benchmarks/cluster_coarse.py --sizes 4096 --thetas 0.02 --out /tmp/c.md   # 2 min
"""

import argparse
import os
import time

import numpy as np
import pyamg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info
from learnsolve.multigrid import BLOCK, OMEGA, THETA, ClusterSpace
from learnsolve.problems import diffusion


def multiplicative(A, Z, Zt, AZ, V, solve):
    """``r -> M r`` with ``I − M A = (I − C A)(I − V A)(I − C A)``, ``C = Z solve(Zᵀ ·)``."""

    def apply(r):
        y = solve(Zt @ r)
        r1 = r - AZ @ y
        v = V(r1)
        return Z @ y + v + Z @ solve(Zt @ (r1 - A @ v))

    return apply


def one_size(n, thetas):
    p = diffusion(n, contrast=1e4, seed=100)
    A = p.A
    cycle = learnsolve.pretrained("vcycle-2d").aspreconditioner(A, clusters=False)
    cs = ClusterSpace(A, p.grid_shape, theta=THETA, block=BLOCK, omega=OMEGA).build()
    Z, E, AZ = cs.Z, cs.E, cs.AZ
    space = cs.times["labels"] + cs.times["basis"] + cs.times["galerkin"]
    Zt = Z.T.tocsr()  # untimed, as before; shared by every coarse solver's apply
    solvers = [("sparse LU (shipped)", cs.times["factorize"], cs.lu.solve)]
    for theta in thetas:
        t = time.perf_counter()
        ml = pyamg.smoothed_aggregation_solver(sp.csr_matrix(E), symmetry="symmetric",
                                               strength=("symmetric", {"theta": theta}))
        solvers.append((f"SA V-cycle, θ = {theta:g} ({len(ml.levels)} levels, "
                        f"complexity {ml.operator_complexity():.2f})", time.perf_counter() - t,
                        ml.aspreconditioner(cycle="V").matvec))
    rows = []
    for name, setup, solve in solvers:
        M = spla.LinearOperator(A.shape, matvec=multiplicative(A, Z, Zt, AZ, cycle.matvec, solve),
                                dtype=np.float64)
        res = []
        t = time.perf_counter()
        x, info = learnsolve.krylov.cg(A, p.b, M=M, rtol=1e-6, residuals=res, maxiter=1000)
        solve_s = time.perf_counter() - t
        rows.append(f"| {n}² | {E.shape[0]:,} | {name} | {len(res) - 1} | {info} | {space:.2f} "
                    f"| {setup:.2f} | {solve_s:.2f} | {space + setup + solve_s:.2f} "
                    f"| {learnsolve.relative_residual(A, x, p.b):.1e} |")
        print(rows[-1], flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--thetas", default="0.02,0.05,0.1")
    ap.add_argument("--out", default="benchmarks/results/vcycle/cluster_coarse.md")
    args = ap.parse_args()
    thetas = [float(t) for t in args.thetas.split(",")]
    lines = [f"Machine: {machine_info()}", "",
             "Rough piecewise field, contrast 1e4, seed 100; CG to rtol 1e-6; one run each. "
             "'space' is labels + basis + Zᵀ A Z (shared), 'coarse' the LU or the SA hierarchy; "
             "'total' excludes the cycle's own set-up (the same for every row).", "",
             "| grid | clusters | coarse solve | its | info | space s | coarse s | solve s | total s "
             "| ‖b−Ax‖/‖b‖ |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    with blas_single_thread():
        one_size(128, thetas[:1])  # untimed warm-up (numba, PyAMG)
        for n in (int(s) for s in args.sizes.split(",")):
            lines += one_size(n, thetas)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote " + args.out)


if __name__ == "__main__":
    main()
