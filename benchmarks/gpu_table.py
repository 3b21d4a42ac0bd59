"""The GPU table: the learned V-cycle set up and applied on the GPU against CuPy's CG and PyAMG.

One run on one machine: for each problem, ``learnsolve.bench.run(..., device='cuda')``
builds every preconditioner from the ``cupyx`` matrix and solves with
``learnsolve.krylov.cg`` on CuPy arrays (rtol 1e-6 on the true residual,
medians over repeats, after an untimed warm-up on small grids; the learned cycle
also as ``vcycle-*:float32``, stored and applied in float32, and as
``vcycle-*:nograph``, applied eagerly instead of from a CUDA graph); ``cupyx-cg``
and ``cupyx-jacobi`` are CuPy's own ``cg``; PyAMG SA and RS run on the same
machine's CPU.  Writes ``results.md``/``results.json`` and a summary of the
ratios the GPU path is meant to reach, each checked against its bar (``BAR_*``).

A device call runs at most 10 minutes, so the table comes in parts, each its
own run of this script on the same machine (``--part``; ``--rows device`` for
the cycles and CuPy's rows, ``--rows amg`` for the slow PyAMG rows alone), each
writing ``results.json`` after every problem, and ``--merge`` joins their
``results.json`` into one table.  ``--cpu-reference`` adds the iteration
counts of the host cycle (``learnsolve bench`` runs of ``vcycle-*`` on this
machine; the device cycle has the same cluster space) for the ±1 check.
``benchmarks/gpu_session.sh`` strings the parts together in one time-boxed call.

    python benchmarks/gpu_table.py                          # GPU machine: 2048², 128³, 256³
    python benchmarks/gpu_table.py --part 2d --rows device --out /tmp/2d   # one part, device rows
    python benchmarks/gpu_table.py --merge /tmp/2d /tmp/3d128 /tmp/3d256 --out benchmarks/results/gpu \\
        --cpu-reference benchmarks/results/gpu/cpu_reference/2d benchmarks/results/gpu/cpu_reference/3d
    python benchmarks/gpu_table.py --part quick --device torch-cpu --out /tmp/gpu   # on a CPU
"""

import argparse
import json
import os

from learnsolve import bench

PROBLEMS_2D = ("poisson:{n}", "diffusion:{n}:variance=2", "diffusion:{n}:contrast=1e4",
               "diffusion:{n}:contrast=1e4:covariance=gaussian")
PROBLEMS_3D = ("poisson:{n}x{n}x{n}", "diffusion:{n}:dim=3:variance=2")
GPU_BASELINES = ("cupyx-cg", "cupyx-jacobi")
#: Parts of the table: problem specs of each (the whole table is 2d + 3d128 + 3d256).
PARTS = {
    "quick2d": [s.format(n=512) for s in PROBLEMS_2D],
    "quick3d": [s.format(n=64) for s in PROBLEMS_3D],
    "2d": [s.format(n=2048) for s in PROBLEMS_2D],
    "3d128": [s.format(n=128) for s in PROBLEMS_3D],
    "3d256": [s.format(n=256) for s in PROBLEMS_3D],
}
PARTS["quick"] = PARTS["quick2d"] + PARTS["quick3d"]
PARTS["all"] = PARTS["2d"] + PARTS["3d128"] + PARTS["3d256"]
#: The bars on the learned cycle's total: seconds on 2D 2048², and fractions of the baselines'.
BAR_SECONDS_2D = 0.1
BAR_JACOBI_2D, BAR_JACOBI_3D256, BAR_SA = 1 / 20, 1 / 10, 1 / 100


def cycles(dim):
    """The grid cycles of the table: learned and Jacobi, the learned one also applied in float32
    and without the CUDA graph."""
    return [f"vcycle-{dim}d", f"vcycle-{dim}d:float32", f"vcycle-{dim}d:nograph", "gmg-jacobi"]


def load(dirs):
    """``(results, machine)`` from the ``results.json`` of each directory, in order."""
    results, machines = [], []
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            data = json.load(f)
        machines.append(data["machine"])
        results += [bench.Result(**r) for r in data["results"]]
    if len(set(machines)) > 1:
        raise SystemExit(f"gpu_table.py --merge: the parts come from different machines: {set(machines)}")
    return results, machines[0] if machines else ""


def cpu_iterations(dirs):
    """``{(problem, method): iterations}`` of host runs (``:noclusters`` dropped from the names)."""
    if not dirs:
        return {}
    results, _ = load(dirs)
    return {(r.problem, r.method.split(" ")[0].replace(":noclusters", "")): r.iterations
            for r in results if r.info == 0}


def _ratio(v, r):
    return v.total_s / r.total_s if r is not None and r.info == 0 and r.total_s > 0 else None


def summary(results, cpu=None):
    """Per problem: the learned cycle's total, its ratios to CuPy Jacobi-PCG's and PyAMG SA's
    totals, and whether each bar holds (``—`` where a row is missing)."""
    cpu = cpu or {}
    lines = ["| problem | vcycle its | CPU cycle its | vcycle total | / cupyx-jacobi total "
             "| / amg-sa total | bars | float32 cycle its | float32 total | eager (no graph) solve "
             "| graph solve |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for prob in dict.fromkeys(r.problem for r in results):
        rows = {r.method.split(" ")[0]: r for r in results if r.problem == prob}
        name = "vcycle-2d" if "vcycle-2d" in rows else "vcycle-3d"
        v = rows.get(name)
        if v is None:
            continue
        f32, eager = rows.get(f"{name}:float32"), rows.get(f"{name}:nograph")
        jac, sa = _ratio(v, rows.get("cupyx-jacobi")), _ratio(v, rows.get("amg-sa"))
        checks = []
        if name == "vcycle-2d" and v.n >= 2048 ** 2:
            checks.append(("total ≤ 0.1 s", v.info == 0 and v.total_s <= BAR_SECONDS_2D))
        jbar = BAR_JACOBI_2D if name == "vcycle-2d" else (BAR_JACOBI_3D256 if v.n >= 256 ** 3 else None)
        if jbar is not None and jac is not None:
            checks.append((f"≤ 1/{round(1 / jbar)} Jacobi-PCG", jac <= jbar))
        if sa is not None:
            checks.append(("≤ 1/100 SA", sa <= BAR_SA))
        ref = cpu.get((prob, name))
        if ref is not None:
            checks.append(("CPU its ±1", abs(v.iterations - ref) <= 1))
        bars = "; ".join(f"{c}: {'yes' if ok else 'NO'}" for c, ok in checks) or "—"
        single = (f"{f32.iterations} | {f32.total_s:.3f}" if f32 is not None and f32.info == 0
                  else "— | —")
        solves = (f"{eager.solve_s:.4f} | {v.solve_s:.4f}" if eager is not None and eager.info == 0
                  else "— | —")
        lines.append(f"| {prob} | {v.iterations} | {ref if ref is not None else '—'} | {v.total_s:.3f} "
                     f"| {f'{jac:.4f}' if jac is not None else '—'} "
                     f"| {f'{sa:.4f}' if sa is not None else '—'} | {bars} | {single} | {solves} |")
    return "\n".join(lines) + "\n"


def write(results, out, machine, cpu, *, plot=True):
    """The table, the plots (``plot``) and the summary under ``out``; the text."""
    md, paths = bench.write(results, out, rtol=1e-6, machine=machine, plot=plot)
    text = (md + "\nLearned V-cycle total time over the baselines' (bars: total ≤ 0.1 s on 2D "
            "2048², ≤ 1/20 of CuPy Jacobi-PCG's on 2D, ≤ 1/10 on 3D 256³, ≤ 1/100 of PyAMG SA's; "
            "iterations within ±1 of the CPU cycle's):\n\n" + summary(results, cpu))
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    return text, paths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "torch-cpu"])
    ap.add_argument("--part", default="all", choices=sorted(PARTS))
    ap.add_argument("--quick", action="store_true", help="same as --part quick")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=60.0,
                    help="stop repeating a method once its runs took this many seconds")
    ap.add_argument("--amg", default="amg-sa,amg-rs",
                    help="the PyAMG rows (host CPU), comma-separated; '' for none")
    ap.add_argument("--amg-budget", type=float, default=None,
                    help="--budget for the PyAMG rows (default: --budget)")
    ap.add_argument("--rows", default="all", choices=["all", "device", "amg"],
                    help="device: the cycles and CuPy's CG rows; amg: the PyAMG rows alone")
    ap.add_argument("--merge", nargs="+", metavar="DIR", help="join the results.json of these parts")
    ap.add_argument("--cpu-reference", nargs="+", metavar="DIR", default=[],
                    help="results.json directories of host runs of the cycles (iterations ±1 check)")
    ap.add_argument("--out", default="benchmarks/results/gpu")
    args = ap.parse_args()
    cpu = cpu_iterations(args.cpu_reference)
    if args.merge:
        results, machine = load([d for d in args.merge if os.path.exists(os.path.join(d, "results.json"))])
        text, paths = write(results, args.out, machine, cpu)
        print(text + "\nwrote " + ", ".join(paths))
        return
    part = "quick" if args.quick else args.part
    amg = [m for m in args.amg.split(",") if m] if args.rows != "device" else []
    gpu = list(GPU_BASELINES) if args.device == "cuda" else []

    def methods(dim):
        return [] if args.rows == "amg" else cycles(dim) + gpu

    # untimed warm-up: CUDA context, library handles, numba/NVRTC compilation on first use
    for spec in ("poisson:64", "poisson:16x16x16"):
        p = bench.make_problem(spec)
        bench.run([p], methods(len(p.grid_shape)) + amg, repeats=1, device=args.device, progress=False)
    machine = bench.machine_info(device=args.device)
    results = []
    for spec in PARTS[part]:  # results.json after each problem: a part stopped by a timeout keeps them
        p = bench.make_problem(spec)
        if methods(len(p.grid_shape)):
            results += bench.run([p], methods(len(p.grid_shape)), repeats=args.repeats,
                                 device=args.device, budget=args.budget)
        if amg:
            results += bench.run([p], amg, repeats=args.repeats, device=args.device,
                                 budget=args.amg_budget if args.amg_budget is not None else args.budget)
        write(results, args.out, machine, cpu, plot=False)
    text, paths = write(results, args.out, machine, cpu)
    print(text + "\nwrote " + ", ".join(paths))


if __name__ == "__main__":
    main()
