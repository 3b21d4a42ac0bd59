"""Markdown/JSON tables and convergence plots of benchmark results."""

from __future__ import annotations

import json
import os


def markdown(results, *, rtol, header=None):
    """A Markdown table, one row per result, fastest total per problem in bold."""
    lines = []
    if header:
        lines += [header, ""]
    lines += [
        f"rtol = {rtol:g} on the true residual; times are medians over repeats (seconds).",
        "",
        "| problem | n | method | its | setup | solve | total | ‖b−Ax‖/‖b‖ | info |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    best = {}
    for r in results:
        if r.info == 0 and (r.problem not in best or r.total_s < best[r.problem]):
            best[r.problem] = r.total_s
    most = max((r.repeats for r in results), default=0)
    for r in results:
        total = f"{r.total_s:.3f}"
        method = r.method if r.repeats == most else f"{r.method} ({r.repeats} of {most} runs)"
        if best.get(r.problem) == r.total_s and r.info == 0:
            total = f"**{total}**"
        lines.append(
            f"| {r.problem} | {r.n:,} | {method} | {r.iterations} | {r.setup_s:.3f} | "
            f"{r.solve_s:.3f} | {total} | {r.relres:.1e} | {r.info} |"
        )
    return "\n".join(lines) + "\n"


def write(results, out_dir, *, rtol, machine, plot=True):
    """Write ``results.md``, ``results.json`` and one ``convergence-<problem>.png`` each."""
    os.makedirs(out_dir, exist_ok=True)
    md = markdown(results, rtol=rtol, header=f"Machine: {machine}")
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"rtol": rtol, "machine": machine,
                   "results": [r.asdict(with_history=True) for r in results]}, f, indent=1)
    paths = [os.path.join(out_dir, "results.md"), os.path.join(out_dir, "results.json")]
    if plot:
        paths += plot_convergence(results, out_dir, rtol=rtol)
    return md, paths


def plot_convergence(results, out_dir, *, rtol):
    """Relative residual against iteration and against seconds (set-up included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for problem in dict.fromkeys(r.problem for r in results):
        rows = [r for r in results if r.problem == problem]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for r in rows:
            t = [h[0] for h in r.history]
            res = [h[1] for h in r.history]
            ax1.semilogy(range(len(res)), res, label=f"{r.method} ({r.iterations})")
            ax2.semilogy(t, res, label=r.method)
        for ax, xlabel in ((ax1, "iteration"), (ax2, "seconds (set-up + solve)")):
            ax.axhline(rtol, color="k", lw=0.8, ls=":")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("‖r‖ / ‖b‖")
            ax.grid(True, which="both", alpha=0.3)
        ax1.set_xscale("symlog", linthresh=10)
        ax1.set_xlim(left=0)
        ax2.set_xscale("log")
        ax1.legend(fontsize=8)
        fig.suptitle(problem)
        fig.tight_layout()
        path = os.path.join(out_dir, f"convergence-{problem}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
