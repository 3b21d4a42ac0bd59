"""Cost of the coefficient-cluster coarse space as the grid grows (rough piecewise field, contrast 1e4).

For each size: the parts of the cluster space's set-up (labels, smoothed
basis, ``Zᵀ A Z``, its sparse LU: size, nonzeros, seconds, one solve), then
``vcycle-2d`` (``clusters="auto"``) and PyAMG Ruge–Stuben as preconditioners
for ``learnsolve.krylov.cg`` (rtol 1e-6 on the true residual, seed 100, one
run each, after an untimed warm-up on a 64² grid).

    python benchmarks/vcycle_clusters.py                    # 1024², 2048² (3 min)
    python benchmarks/vcycle_clusters.py --sizes 256,512
"""

import argparse
import os
import time

import numpy as np

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info
from learnsolve.multigrid import BLOCK, OMEGA, ClusterSpace
from learnsolve.problems import diffusion


def space_cost(p):
    """Seconds for each set-up step of the cluster space, and the LU's size."""
    space = ClusterSpace(p.A, p.grid_shape, block=BLOCK, omega=OMEGA).build()
    s = time.perf_counter()
    space.lu.solve(np.ones(space.m))
    t = space.times
    return {"m": space.m, "labels": t["labels"], "basis": t["basis"], "galerkin": t["galerkin"],
            "lu": t["factorize"], "lu_nnz": space.info()["cluster_nnz_lu"],
            "lu_solve": time.perf_counter() - s}


def solve(p, name):
    t0 = time.perf_counter()
    M = learnsolve.precond.build(name, p.A, grid_shape=p.grid_shape)
    t1 = time.perf_counter()
    res = []
    x, info = learnsolve.krylov.cg(p.A, p.b, M=M, rtol=1e-6, residuals=res)
    t2 = time.perf_counter()
    return {"its": len(res) - 1, "info": info, "setup": t1 - t0, "solve": t2 - t1,
            "relres": learnsolve.relative_residual(p.A, x, p.b)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1024,2048")
    ap.add_argument("--out", default="benchmarks/results/vcycle")
    args = ap.parse_args()
    lines = [f"Machine: {machine_info()}", "",
             f"Rough piecewise-constant diffusion, contrast 1e4, seed 100; cluster space with "
             f"{BLOCK}-wide blocks, ω = {OMEGA}; rtol 1e-6; one run each; seconds.", "",
             "| grid | clusters m | labels | basis | Zᵀ A Z | LU | LU nonzeros | one LU solve "
             "| vcycle-2d its | set-up | solve | total | amg-rs its | set-up | solve | total |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    with blas_single_thread():
        warm = diffusion(64, contrast=1e4, seed=0)
        space_cost(warm), solve(warm, "vcycle-2d"), solve(warm, "amg-rs")
        for n in map(int, args.sizes.split(",")):
            p = diffusion(n, contrast=1e4, seed=100)
            c, v, r = space_cost(p), solve(p, "vcycle-2d"), solve(p, "amg-rs")
            assert v["info"] == 0 and r["info"] == 0
            lines.append(
                f"| {n}² | {c['m']} | {c['labels']:.2f} | {c['basis']:.2f} | {c['galerkin']:.2f} | "
                f"{c['lu']:.2f} | {c['lu_nnz'] / 1e6:.1f} M | {1e3 * c['lu_solve']:.1f} ms | "
                f"{v['its']} | {v['setup']:.2f} | {v['solve']:.2f} | {v['setup'] + v['solve']:.2f} | "
                f"{r['its']} | {r['setup']:.2f} | {r['solve']:.2f} | {r['setup'] + r['solve']:.2f} |")
            print(lines[-1], flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "clusters.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
