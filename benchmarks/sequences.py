"""Sequences of systems: solving each from scratch, keeping the set-up, and learnsolve.Sequence.

Three sequences (issue 25) and a fourth for the numeric refresh, rtol 1e-6 on the true residual,
BLAS on one thread, one run:

1. ``heat``: implicit Euler for ``u_t = div(k(t) grad u) + f`` on a 512² log-normal field whose
   log-coefficient drifts linearly in time (100 steps, the matrix changes every step):
   ``(K(k_t) + (h²/dt) I) u_t = (h²/dt) u_{t-1} + h² f``.
2. ``rhs``: 50 random right-hand sides with one P1 FEM matrix (2D, 201,601 unknowns, contrast 1e4).
3. ``sweep``: 100 piecewise-constant fields (contrast 1e4, 256²), ``k = 1e4`` where
   ``cos θ g₁ + sin θ g₂ > 0`` for θ on a grid over [0, π), solved shuffled, and in the order
   of :func:`learnsolve.order_by_similarity` on ``log k``.
4. ``reaction``: the FEM matrix of (2) plus a reaction term that grows every step,
   ``A_t = A + 0.002 t diag(A)`` (40 steps, ``amg-learned``): the kept cycle slows down, and
   a numeric refresh (same coarsening, new Galerkin levels and smoothers) can replace a rebuild.

Strategies: (a) ``scratch``: build the preconditioner and solve each system anew (CG from zero);
(b) ``keep``: :class:`learnsolve.Sequence` without recycling or warm starts (the set-up kept
while it works, rebuilt anew when it slows: no numeric refresh); (c) ``keep+warm``: also starting
from the previous solution where that means something (heat, sweep, reaction); (d) ``sequence``:
the defaults — starts projected on the span of the last 4 solutions (``history=4``, any
sequence: never worse than a zero start in the A-norm), a numeric refresh before a rebuild where
the preconditioner has one (the algebraic cycles) and a recycled space of 8 vectors (used only
for solves of 40+ iterations), and for the reaction sequence also ``sequence, no refresh``; (e) for
the right-hand
sides, ``sequence, batched``: all 50 in one ``Sequence.solve(A, B)`` (one CG per column, the
products with A and the V-cycle on blocks of up to 16, :func:`learnsolve.krylov.batch_cg`).
A plot of cumulative time against the system index per sequence.

    python benchmarks/sequences.py                  # all four (about 4 min)
    python benchmarks/sequences.py --parts rhs --quick
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info

OUT = "benchmarks/results/sequences"
RTOL = 1e-6


def heat(quick):
    n, steps = (128, 20) if quick else (512, 100)
    g = learnsolve.problems.gaussian_random_field((n, n), variance=2.0, seed=0)
    h = learnsolve.problems.gaussian_random_field((n, n), variance=1.0, seed=1)
    shift = (1.0 / n) ** 2 / 1e-3  # h²/dt, dt = 1e-3
    f = np.ones(n * n) / n ** 2
    systems, u = [], np.zeros(n * n)
    for t in range(steps):
        k = np.exp(g + 0.5 * (t / steps) * h)
        A = learnsolve.problems.assemble((n, n), *learnsolve.problems.face_coefficients(k))
        A = (A + sp.diags_array(np.full(n * n, shift))).tocsr()
        systems.append((A, None))  # b depends on the previous solution
    return systems, {"method": "vcycle-2d", "grid_shape": (n, n), "shift": shift, "f": f,
                     "warm": True, "label": f"heat {n}², {steps} steps", "u0": u}


def rhs(quick):
    n = 150 if quick else 450
    p = learnsolve.problems.fem_diffusion(n, contrast=1e4, seed=0, rhs="random")
    rng = np.random.default_rng(0)
    count = 10 if quick else 50
    return ([(p.A, rng.standard_normal(p.n)) for _ in range(count)],
            {"method": "amg-learned", "grid_shape": None, "warm": False, "batch": True,
             "label": f"{count} right-hand sides, FEM n = {p.n:,}"})


def reaction(quick):
    n, steps = (150, 12) if quick else (450, 40)
    p = learnsolve.problems.fem_diffusion(n, contrast=1e4, seed=0)
    D = sp.diags_array(p.A.diagonal())
    return ([((p.A + (0.002 * t) * D).tocsr(), p.b) for t in range(steps)],
            {"method": "amg-learned", "grid_shape": None, "warm": True, "ablate_refresh": True,
             "label": f"growing reaction term, FEM n = {p.n:,}, {steps} steps"})


def sweep(quick):
    n, count = (64, 20) if quick else (256, 100)
    g1 = learnsolve.problems.gaussian_random_field((n, n), seed=11)
    g2 = learnsolve.problems.gaussian_random_field((n, n), seed=12)
    systems, feats = [], []
    for theta in np.linspace(0, np.pi, count, endpoint=False):
        k = np.where(np.cos(theta) * g1 + np.sin(theta) * g2 > 0, 1e4, 1.0)
        A = learnsolve.problems.assemble((n, n), *learnsolve.problems.face_coefficients(k))
        b = np.ones(n * n) / n ** 2
        systems.append((A.tocsr(), b))
        feats.append(np.log10(k).ravel())
    perm = np.random.default_rng(0).permutation(count)
    return ([systems[i] for i in perm],
            {"method": "vcycle-2d", "grid_shape": (n, n), "warm": True,
             "label": f"sweep of {count} piecewise fields, {n}²",
             "features": np.array([feats[i] for i in perm])})


def run(systems, cfg, strategy, order=None):
    """Solve the sequence with one strategy: per system (seconds since start, iterations)."""
    order = range(len(systems)) if order is None else order
    heat_mode = "shift" in cfg
    u = cfg.get("u0")
    opts = {} if cfg["grid_shape"] is None else {"grid_shape": cfg["grid_shape"]}
    seq = None
    if strategy != "scratch":
        full = strategy.startswith("sequence")
        seq = learnsolve.Sequence(cfg["method"], recycle=8 if full else 0, rtol=RTOL,
                                  warm_start=full or (strategy == "keep+warm" and cfg["warm"]),
                                  history=4 if full else 0,
                                  refresh=full and strategy != "sequence, no refresh", **opts)
    stamps, its, relres = [], [], []
    t0 = time.perf_counter()
    if strategy == "sequence, batched":  # one matrix: every right-hand side in one call
        A = systems[0][0]
        B = np.column_stack([b for _, b in systems])
        X, info = seq.solve(A, B)
        assert info == 0, (strategy, info)
        stamps = [time.perf_counter() - t0] * len(systems)  # all arrive together
        res = np.linalg.norm(B - A @ X, axis=0) / np.linalg.norm(B, axis=0)
        return {"time": stamps, "its": [seq.records[-1].iterations], "builds": 1,
                "worst_relres": float(res.max())}
    for i in order:
        A, b = systems[i]
        if heat_mode:
            b = cfg["shift"] * u + cfg["f"]
        if seq is None:
            M = learnsolve.precond.build(cfg["method"], A, **opts)
            res = []
            x, info = learnsolve.krylov.cg(A, b, rtol=RTOL, M=M, residuals=res)
            its.append(len(res) - 1)
        else:
            x, info = seq.solve(A, b)
            its.append(seq.records[-1].iterations)
        assert info == 0, (strategy, i, info)
        stamps.append(time.perf_counter() - t0)
        relres.append(learnsolve.relative_residual(A, x, b))
        if heat_mode:
            u = x
    builds = len(systems) if seq is None else sum(r.setup == "full" for r in seq.records)
    refreshes = 0 if seq is None else sum(r.setup == "refresh" for r in seq.records)
    return {"time": stamps, "its": its, "builds": builds, "refreshes": refreshes,
            "worst_relres": max(relres)}


def plot(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4))
    for ax, (label, rows) in zip(np.atleast_1d(axes), results.items()):
        for name, r in rows.items():
            ax.plot(np.arange(1, len(r["time"]) + 1), r["time"], label=name)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("system")
        ax.set_ylabel("cumulative time (s)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cumulative_time.png"), dpi=120)


PARTS = {"heat": heat, "rhs": rhs, "sweep": sweep, "reaction": reaction}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="heat,rhs,sweep,reaction")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results, lines = {}, ["| sequence | strategy | builds | iterations | total | / scratch | "
                          "/ keep |", "|---|---|---:|---:|---:|---:|---:|"]
    with blas_single_thread():
        for part in args.parts.split(","):
            systems, cfg = PARTS[part](args.quick)
            label = cfg["label"]
            opts = {} if cfg["grid_shape"] is None else {"grid_shape": cfg["grid_shape"]}
            learnsolve.precond.build(cfg["method"], systems[0][0], **opts)  # untimed warm-up
            if cfg.get("batch"):  # compile the block kernels (numba caches them on disk)
                small = learnsolve.problems.fem_diffusion(20, contrast=1e4, seed=0)
                learnsolve.krylov.batch_cg(small.A, np.ones((small.n, 3)),
                                           M=learnsolve.precond.build(cfg["method"], small.A))
            strategies = ["scratch", "keep", "keep+warm", "sequence"]
            rows = {s: run(systems, cfg, s) for s in strategies}
            if cfg.get("batch"):
                rows["sequence, batched"] = run(systems, cfg, "sequence, batched")
            if cfg.get("ablate_refresh"):
                rows["sequence, no refresh"] = run(systems, cfg, "sequence, no refresh")
            if "features" in cfg:
                order = learnsolve.order_by_similarity(cfg["features"])
                rows["sequence, ordered"] = run(systems, cfg, "sequence", order)
            results[label] = rows
            base, keep = rows["scratch"]["time"][-1], rows["keep"]["time"][-1]
            for name, r in rows.items():
                total = r["time"][-1]
                built = f"{r['builds']}" + (f" + {r['refreshes']} refreshed" if r.get("refreshes") else "")
                lines.append(f"| {label} | {name} | {built} | {sum(r['its'])} | "
                             f"{total:.2f} s | {total / base:.2f} | {total / keep:.2f} |")
            print("\n".join(lines[-len(rows):]), flush=True)
            with open(os.path.join(args.out, "results.json"), "w") as f:
                json.dump({"machine": machine_info(), "results": results}, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(results, args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
