"""Regret of the bandit-tuned ω on a stream of 50 ConDiff-type systems.

Every system of the stream is solved once with every ω of the grid (CG,
rtol 1e-6), so the best *fixed* ω in hindsight and each system's own best ω
are known exactly.  The tuners then play the stream seeing only the iteration
count of the ω they chose (replaying the table is the same as solving live:
the solves are deterministic).  Regret = Σ (iterations of the chosen ω −
iterations of the best fixed ω).

    python benchmarks/tuned_regret.py [--method mic0|ssor] [--systems 50] [--tuner-seeds 5]
"""

import argparse
import inspect
import os

import numpy as np
from tqdm.auto import tqdm

import learnsolve
from learnsolve.bench import blas_single_thread


def stream(count, seed=0):
    """Deterministic mix of sizes 48²–96², log-normal (variance 0.5–2) and
    piecewise-constant (contrast 1e2–1e4) diffusion."""
    rng = np.random.default_rng(seed)
    for s in range(count):
        n = int(rng.choice([48, 64, 96]))
        if rng.random() < 0.5:
            yield learnsolve.problems.diffusion(n, variance=float(rng.uniform(0.5, 2.0)), seed=s)
        else:
            yield learnsolve.problems.diffusion(n, contrast=float(10 ** rng.uniform(2, 4)), seed=s)


def iteration_table(problems, method, grid):
    build = learnsolve.precond.mic0 if method == "mic0" else learnsolve.precond.ssor
    its = np.zeros((len(problems), len(grid)), dtype=int)
    for i, p in enumerate(tqdm(problems, desc=f"{method}: every ω on every system")):
        for a, w in enumerate(grid):
            res = []
            x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=build(p.A, w), residuals=res)
            assert info == 0, (p.name, w, info)
            its[i, a] = len(res) - 1
    return its


def play(problems, its, method, contextual, seed):
    tuner = learnsolve.precond.tuned(method, contextual=contextual, seed=seed)
    chosen = []
    for i, p in enumerate(problems):
        arm = tuner.choose(p.A)
        tuner.observe(its[i, arm])
        chosen.append(its[i, arm])
    return np.array(chosen)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--method", default="mic0", choices=["mic0", "ssor"])
    ap.add_argument("--systems", type=int, default=50)
    ap.add_argument("--tuner-seeds", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/tuned")
    args = ap.parse_args()
    grid = learnsolve.precond.OmegaTuner(args.method).grid
    problems = list(stream(args.systems))
    with blas_single_thread():
        its = iteration_table(problems, args.method, grid)
    totals = its.sum(axis=0)
    best_fixed = int(np.argmin(totals))
    ref = its[:, best_fixed]
    oracle = its.min(axis=1)
    curves = {}
    for label, contextual in (("bandit (Thompson)", False), ("contextual bandit", True)):
        runs = np.array([np.cumsum(play(problems, its, args.method, contextual, s) - ref)
                         for s in range(args.tuner_seeds)])
        curves[label] = runs
    build = learnsolve.precond.mic0 if args.method == "mic0" else learnsolve.precond.ssor
    default = inspect.signature(build).parameters["omega"].default
    fixed_default = np.cumsum(its[:, list(grid).index(default)] - ref)
    os.makedirs(args.out, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = np.arange(1, len(problems) + 1)
    for label, runs in curves.items():
        line, = ax.plot(t, runs.mean(axis=0), label=f"{label}, mean of {len(runs)} seeds")
        ax.fill_between(t, runs.min(axis=0), runs.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.plot(t, fixed_default, "k--", label=f"fixed ω = {default} (library default)")
    ax.plot(t, np.cumsum(oracle - ref), "k:", label="per-system best ω (oracle)")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xlabel("system in the stream")
    ax.set_ylabel(f"cumulative regret (CG iterations) vs best fixed ω = {grid[best_fixed]:g}")
    ax.set_title(f"{args.method}: ω learned from iteration counts, {len(problems)} ConDiff systems")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = os.path.join(args.out, f"regret-{args.method}.png")
    fig.savefig(png, dpi=110)

    lines = [f"{args.method}: {len(problems)} ConDiff-type systems (48²–96², log-normal var 0.5–2 "
             "or piecewise contrast 1e2–1e4), CG rtol 1e-6.", "",
             "| ω | " + " | ".join(f"{w:g}" for w in grid) + " |",
             "|---|" + "---:|" * len(grid),
             "| total iterations | " + " | ".join(str(v) for v in totals) + " |", "",
             "| strategy | total iterations | regret vs best fixed ω |", "|---|---:|---:|",
             f"| best fixed ω = {grid[best_fixed]:g} (hindsight) | {ref.sum()} | 0 |",
             f"| fixed ω = {default} (default) | {its[:, list(grid).index(default)].sum()} | "
             f"{fixed_default[-1]} |"]
    for label, runs in curves.items():
        final = runs[:, -1]
        lines.append(f"| {label} ({len(runs)} seeds: mean, min–max) | {ref.sum() + final.mean():.0f} | "
                     f"{final.mean():.0f} ({final.min()}–{final.max()}) |")
    lines.append(f"| per-system best ω (oracle) | {oracle.sum()} | {oracle.sum() - ref.sum()} |")
    md = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, f"regret-{args.method}.md"), "w") as f:
        f.write(md)
    print(md)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
