"""What a kept set-up is worth on the parametric sweep of ``benchmarks/sequences.py`` (issue 25).

The sweep's fields are ``k = 1e4`` where ``cos θ g₁ + sin θ g₂ > 0`` (256², θ in steps of π/100),
taken in their natural order, so that system ``i + j`` is the ``j``-th nearest to system ``i``.
For ``i`` in ``--starts`` the ``vcycle-2d`` set-up of system ``i`` is applied to systems
``i + 1 … i + 7``:

- ``fresh``: the set-up of the system itself (the reference: what ``scratch`` pays);
- ``kept``: the whole preconditioner of system ``i`` (V-cycle and cluster space);
- ``kept cycle, new space``: the V-cycle of system ``i`` (hierarchy, learned smoothers) inside a
  cluster coarse space built on the new matrix (``ClusterSpace(A).build().balanced(V)``): the
  set-up a sequence could keep if only the cluster space had to follow the field.

CG from zero, rtol 1e-6, at most ``--maxiter`` iterations; BLAS on one thread; one run.

    python benchmarks/sweep_reuse.py          # about 3 min
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info
from learnsolve.multigrid import ClusterSpace
from learnsolve.precond import Preconditioner

OUT = "benchmarks/results/sequences"


def fields(n=256, count=100):
    g1 = learnsolve.problems.gaussian_random_field((n, n), seed=11)
    g2 = learnsolve.problems.gaussian_random_field((n, n), seed=12)
    for theta in np.linspace(0, np.pi, count, endpoint=False):
        yield np.where(np.cos(theta) * g1 + np.sin(theta) * g2 > 0, 1e4, 1.0)


def solve(A, b, M, maxiter):
    res = []
    t0 = time.perf_counter()
    x, info = learnsolve.krylov.cg(A, b, rtol=1e-6, M=M, residuals=res, maxiter=maxiter)
    return {"its": len(res) - 1, "solve": time.perf_counter() - t0, "info": int(info),
            "relres": learnsolve.relative_residual(A, x, b)}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starts", default="0,30,60")
    ap.add_argument("--ahead", type=int, default=7)
    ap.add_argument("--maxiter", type=int, default=300)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    n = 256
    ks = list(fields(n))
    assemble = learnsolve.problems.assemble
    As = [assemble((n, n), *learnsolve.problems.face_coefficients(k)).tocsr() for k in ks]
    b = np.ones(n * n) / n ** 2
    build = lambda A: learnsolve.precond.build("vcycle-2d", A, grid_shape=(n, n))  # noqa: E731
    rows = []
    with blas_single_thread():
        build(As[0])  # warm-up (numba, the model)
        for i in map(int, args.starts.split(",")):
            P = build(As[i])
            for j in range(1, args.ahead + 1):
                A = As[i + j]
                t0 = time.perf_counter()
                fresh = build(A)
                setup = time.perf_counter() - t0
                row = {"i": i, "j": j, "changed": int((ks[i] != ks[i + j]).sum()),
                       "fresh": dict(solve(A, b, fresh, args.maxiter), setup=setup),
                       "kept": dict(solve(A, b, P, args.maxiter), setup=0.0)}
                t0 = time.perf_counter()
                space = ClusterSpace(A, (n, n)).build()
                M = Preconditioner(space.balanced(P.hierarchy.apply), A.shape, np.float64, name="kept")
                setup = time.perf_counter() - t0
                row["kept cycle, new space"] = dict(solve(A, b, M, args.maxiter), setup=setup)
                rows.append(row)
                print(i, j, row["changed"], *(f"{k}: {row[k]['its']} its" for k in
                                             ("fresh", "kept", "kept cycle, new space")), flush=True)
    lines = [f"Sweep of `benchmarks/sequences.py` in θ order (256², contrast 1e4); rtol 1e-6, at most "
             f"{args.maxiter} iterations (a count of {args.maxiter} did not converge); one run.", "",
             "| built for | solved | cells changed | fresh: its, set-up + solve | kept: its, solve "
             "| kept cycle + new cluster space: its, set-up + solve |", "|---|---|---:|---|---|---|"]
    for r in rows:
        f, k, s = r["fresh"], r["kept"], r["kept cycle, new space"]
        lines.append(f"| {r['i']} | {r['i'] + r['j']} | {r['changed']} | {f['its']}, "
                     f"{1e3 * f['setup']:.0f} + {1e3 * f['solve']:.0f} ms | {k['its']}, "
                     f"{1e3 * k['solve']:.0f} ms | {s['its']}, {1e3 * s['setup']:.0f} + "
                     f"{1e3 * s['solve']:.0f} ms |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "sweep_reuse.json"), "w") as fh:
        json.dump({"machine": machine_info(), "rows": rows}, fh, indent=1)
    with open(os.path.join(args.out, "sweep_reuse.md"), "w") as fh:
        fh.write("`python benchmarks/sweep_reuse.py`\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
