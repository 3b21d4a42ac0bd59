"""Learned V-cycle against PyAMG SA, the Jacobi V-cycle, IC(0) and plain CG across grid sizes.

The V-cycle tables of docs/vcycle.md: for each family, size and seed (3 seeds), build each
preconditioner (set-up timed: stencil extraction, hierarchy, network
inference, positive-definiteness check) and solve with
``learnsolve.krylov.cg`` at rtol 1e-6 on the true residual, one run each, in
one process (after an untimed warm-up on small grids, so numba compilation is
not counted).  Reports medians over the seeds of iterations and times, the
worst true residual, and the iteration growth from the smallest to the
largest size; a plot of iterations against size.  Methods that need more
than ``--maxiter`` iterations are reported as not converged.

    python benchmarks/vcycle_scaling.py            # 2D 128²–1024², 3D 32³, 64³
    python benchmarks/vcycle_scaling.py --quick    # 2D 128², 256²; 3D 32³
    python benchmarks/vcycle_scaling.py --dims 2 --families "piecewise c1e4 rough"
    python benchmarks/vcycle_scaling.py --dims 2 --sizes 1024 --out /tmp/v1024   # the 1024² rows
"""

import argparse
import json
import os
import statistics
import time

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info

FAMILIES_2D = {
    "poisson": lambda n, s: learnsolve.problems.poisson((n, n), seed=s),
    "lognormal var 2": lambda n, s: learnsolve.problems.diffusion(n, variance=2.0, seed=s),
    # thresholded exponential-covariance field: rough interfaces whose islands and channels
    # reach down to the grid scale, so the geometry gets finer as the grid does
    "piecewise c1e4 rough": lambda n, s: learnsolve.problems.diffusion(n, contrast=1e4, seed=s),
    # thresholded gaussian-covariance field: smooth interfaces, the same geometry at every size
    "piecewise c1e4 smooth": lambda n, s: learnsolve.problems.diffusion(
        n, contrast=1e4, covariance="gaussian", seed=s),
}
FAMILIES_3D = {
    "poisson 3D": lambda n, s: learnsolve.problems.poisson((n, n, n), seed=s),
    "lognormal 3D var 2": lambda n, s: learnsolve.problems.diffusion(n, dim=3, variance=2.0, seed=s),
}
METHODS = ("vcycle", "vcycle-alone", "dcdm", "gmg-jacobi", "amg-sa", "amg-rs", "ic0", "identity")


def build(method, p):
    d = len(p.grid_shape)
    # vcycle-alone: the learned cycle without its coefficient-cluster coarse space
    names = {"vcycle": f"vcycle-{d}d", "dcdm": f"dcdm-{d}d", "vcycle-alone": f"vcycle-{d}d:noclusters"}
    return learnsolve.precond.build(names.get(method, method), p.A, grid_shape=p.grid_shape)


def run(p, method, maxiter):
    t0 = time.perf_counter()
    M = build(method, p)
    t1 = time.perf_counter()
    res = []
    if M.is_linear:
        x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=maxiter)
    else:
        x, info = learnsolve.krylov.dcdm(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=maxiter,
                                         k=2)
    t2 = time.perf_counter()
    return {"its": len(res) - 1, "setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0,
            "relres": learnsolve.relative_residual(p.A, x, p.b), "info": int(info),
            "name": M.name}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dims", default="2,3", help="grid dimensions to run, e.g. 3")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--maxiter", type=int, default=2000)
    ap.add_argument("--out", default="benchmarks/results/vcycle")
    ap.add_argument("--families", default=None,
                    help="comma-separated family names to run (default: all of the chosen dims)")
    ap.add_argument("--sizes", default=None, help="2D grid sides, e.g. 1024 (default 128,256,512,1024)")
    ap.add_argument("--sizes3", default=None, help="3D grid sides, e.g. 64 (default 32,64)")
    args = ap.parse_args()
    sizes2 = (128, 256) if args.quick else (128, 256, 512, 1024)
    sizes3 = (32,) if args.quick else (32, 64)
    if args.sizes:
        sizes2 = tuple(int(v) for v in args.sizes.split(","))
    if args.sizes3:
        sizes3 = tuple(int(v) for v in args.sizes3.split(","))
    dims = {int(d) for d in args.dims.split(",")}
    jobs = [(f, FAMILIES_2D[f], n) for f in FAMILIES_2D for n in sizes2] if 2 in dims else []
    jobs += [(f, FAMILIES_3D[f], n) for f in FAMILIES_3D for n in sizes3] if 3 in dims else []
    if args.families:
        keep = {f.strip() for f in args.families.split(",")}
        jobs = [j for j in jobs if j[0] in keep]
    rows = []
    from tqdm.auto import tqdm

    with blas_single_thread():
        # warm-up, untimed: numba compiles (or loads from its cache) each kernel on first use
        for fam, make in {fam: make for fam, make, _ in jobs}.items():
            for method in METHODS:
                run(make(8 if "3D" in fam else 32, 0), method, 50)
        for fam, make, n in tqdm(jobs, desc="vcycle bench"):
            d = 3 if '3D' in fam else 2
            learned = {f"vcycle-{d}d", f"dcdm-{d}d"}
            for method in METHODS:
                runs = [run(make(n, 100 + s), method, args.maxiter) for s in range(args.seeds)]
                med = {k: statistics.median(r[k] for r in runs)
                       for k in ("its", "setup", "solve", "total")}
                rows.append({"family": fam, "n": n, "dim": 3 if "3D" in fam else 2, "method": method,
                             **med, "relres_max": max(r["relres"] for r in runs),
                             "converged": all(r["info"] == 0 for r in runs),
                             "fallback": sorted({r["name"] for r in runs} - {method} - learned)})
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vcycle.json"), "w") as f:
        json.dump({"machine": machine_info(), "seeds": args.seeds, "rows": rows}, f, indent=1)
    md = report(rows, args)
    with open(os.path.join(args.out, "vcycle.md"), "w") as f:
        f.write(md)
    plot(rows, os.path.join(args.out, "vcycle-iterations.png"))
    print(md)


def fmt_its(r, maxiter):
    return f"{r['its']:.0f}" if r["converged"] else f">{maxiter} (not converged)"


def report(rows, args):
    lines = [f"Machine: {machine_info()}", "",
             f"rtol 1e-6 on the true residual; medians over {args.seeds} seeds (100–{99 + args.seeds}) of "
             "one run each; seconds. `vcycle` is `vcycle-2d`/`vcycle-3d` (learned smoothers; on "
             "coefficient jumps where the cycle alone contracts poorly it adds the coefficient-cluster "
             "coarse space, `clusters` in the set-up info), `vcycle-alone` the same cycle with "
             "`clusters=False`, "
             "`dcdm` is `learnsolve.krylov.dcdm` (k = 2) with the directions of `dcdm-2d`/`dcdm-3d` "
             "(the learned V-cycle plus a nonlinear correction, zero in the shipped weights), "
             "`gmg-jacobi` the same V-cycle with damped-Jacobi smoothing, `identity` plain CG.", "",
             "| family | grid | method | its | setup | solve | total | max ‖b−Ax‖/‖b‖ |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        grid = f"{r['n']}³" if r["dim"] == 3 else f"{r['n']}²"
        fb = f" → {', '.join(r['fallback'])} (fallback)" if r["fallback"] else ""
        lines.append(f"| {r['family']} | {grid} | {r['method']}{fb} | {fmt_its(r, args.maxiter)} | "
                     f"{r['setup']:.3f} | {r['solve']:.3f} | {r['total']:.3f} | {r['relres_max']:.1e} |")
    lines += ["", "Iteration growth (largest / smallest size) and learned V-cycle total time over "
              "PyAMG SA's at the largest size:", "",
              "| family | sizes | vcycle growth | vcycle-alone growth | dcdm growth | gmg-jacobi growth "
              "| amg-sa growth | amg-rs growth | vcycle / amg-sa total | dcdm / ic0 its (512² or largest) |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for fam in dict.fromkeys(r["family"] for r in rows):
        sub = [r for r in rows if r["family"] == fam]
        lo, hi = min(r["n"] for r in sub), max(r["n"] for r in sub)

        def get(m, n, sub=sub):
            return next(r for r in sub if r["method"] == m and r["n"] == n)

        growth = [("" if get(m, hi)["converged"] else "> ")
                  + f"{get(m, hi)['its'] / max(get(m, lo)['its'], 1):.2f}"
                  for m in ("vcycle", "vcycle-alone", "dcdm", "gmg-jacobi", "amg-sa", "amg-rs")]
        ratio = get("vcycle", hi)["total"] / get("amg-sa", hi)["total"]
        mid = 512 if any(r["n"] == 512 for r in sub) else hi
        ic0 = get("ic0", mid)
        vs_ic0 = (f"{get('dcdm', mid)['its'] / ic0['its']:.3f}" if ic0["converged"]
                  else f"< {get('dcdm', mid)['its'] / args.maxiter:.3f}")
        lines.append(f"| {fam} | {lo}→{hi} | " + " | ".join(growth) + f" | {ratio:.2f} | {vs_ic0} |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = list(dict.fromkeys(r["family"] for r in rows))
    fig, axes = plt.subplots(1, len(fams), figsize=(3.2 * len(fams), 3.2), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, fam in zip(axes, fams):
        for m in METHODS:
            sub = [r for r in rows if r["family"] == fam and r["method"] == m and r["converged"]]
            if sub:
                # dcdm has the same counts as vcycle: hollow dashed markers over its line
                style = dict(ls="--", mfc="none", ms=8) if m == "dcdm" else dict(ls="-")
                ax.loglog([r["n"] ** r["dim"] for r in sub], [max(r["its"], 1) for r in sub],
                          marker="o", label=m, **style)
        ax.set_title(fam, fontsize=9)
        ax.set_xlabel("unknowns")
    axes[0].set_ylabel("CG iterations (rtol 1e-6)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
