"""Issue 6's GPU table: the learned V-cycle set up and applied on the GPU against CuPy's CG and PyAMG.

One run on one machine: for each problem, ``learnsolve.bench.run(..., device='cuda')``
builds every preconditioner from the ``cupyx`` matrix and solves with
``learnsolve.krylov.cg`` on CuPy arrays (rtol 1e-6 on the true residual,
medians over repeats, after an untimed warm-up on small grids; the learned cycle
also as ``vcycle-*:float32``, stored and applied in float32, and as
``vcycle-*:nograph``, applied eagerly instead of from a CUDA graph); ``cupyx-cg``
and ``cupyx-jacobi`` are CuPy's own ``cg``; PyAMG SA and RS run on the same
machine's CPU.  Writes
``results.md``/``results.json`` and a summary of the ratios the issue asks for.

    python benchmarks/gpu_table.py                          # GPU machine: 2048², 128³, 256³
    python benchmarks/gpu_table.py --quick                  # 512², 64³
    python benchmarks/gpu_table.py --quick --device torch-cpu --out /tmp/gpu   # the code path on a CPU
"""

import argparse
import os

from learnsolve import bench

PROBLEMS_2D = ("poisson:{n}", "diffusion:{n}:variance=2", "diffusion:{n}:contrast=1e4",
               "diffusion:{n}:contrast=1e4:covariance=gaussian")
PROBLEMS_3D = ("poisson:{n}x{n}x{n}", "diffusion:{n}:dim=3:variance=2")
GPU_BASELINES = ("cupyx-cg", "cupyx-jacobi")


def cycles(dim):
    """The grid cycles of the table: learned and Jacobi, the learned one also applied in float32
    and without the CUDA graph."""
    return [f"vcycle-{dim}d", f"vcycle-{dim}d:float32", f"vcycle-{dim}d:nograph", "gmg-jacobi"]


def summary(results):
    """Per problem: the learned cycle's total over CuPy Jacobi-PCG's and over PyAMG SA's."""
    lines = ["| problem | vcycle its | vcycle total | / cupyx-jacobi total | / amg-sa total "
             "| float32 cycle its | float32 total | eager (no graph) solve | graph solve |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for prob in dict.fromkeys(r.problem for r in results):
        rows = {r.method.split(" ")[0]: r for r in results if r.problem == prob}
        v = rows.get("vcycle-2d") or rows.get("vcycle-3d")
        f32 = rows.get("vcycle-2d:float32") or rows.get("vcycle-3d:float32")
        eager = rows.get("vcycle-2d:nograph") or rows.get("vcycle-3d:nograph")
        if v is None:
            continue

        def ratio(name, v=v, rows=rows):
            r = rows.get(name)
            return f"{v.total_s / r.total_s:.3f}" if r is not None and r.info == 0 else "—"

        single = (f"{f32.iterations} | {f32.total_s:.3f}" if f32 is not None and f32.info == 0
                  else "— | —")
        solves = (f"{eager.solve_s:.4f} | {v.solve_s:.4f}" if eager is not None and eager.info == 0
                  else "— | —")
        lines.append(f"| {prob} | {v.iterations} | {v.total_s:.3f} | {ratio('cupyx-jacobi')} | "
                     f"{ratio('amg-sa')} | {single} | {solves} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda", choices=["cuda", "torch-cpu"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/gpu")
    args = ap.parse_args()
    n2, n3s = (512, (64,)) if args.quick else (2048, (128, 256))
    specs = [s.format(n=n2) for s in PROBLEMS_2D] + [s.format(n=n) for n in n3s for s in PROBLEMS_3D]
    # untimed warm-up: CUDA context, library handles, numba/NVRTC compilation on first use
    for spec in ("poisson:64", "poisson:16x16x16"):
        p = bench.make_problem(spec)
        methods = cycles(len(p.grid_shape)) + ["amg-sa", "amg-rs"]
        bench.run([p], methods + (list(GPU_BASELINES) if args.device == "cuda" else []), repeats=1,
                  device=args.device, progress=False)
    results = []
    for spec in specs:
        p = bench.make_problem(spec)
        d = len(p.grid_shape)
        methods = cycles(d) + ["amg-sa", "amg-rs"]
        if args.device == "cuda":
            methods += list(GPU_BASELINES)
        results += bench.run([p], methods, repeats=args.repeats, device=args.device, budget=60)
    md, paths = bench.write(results, args.out, rtol=1e-6, machine=bench.machine_info(device=args.device))
    text = md + "\nLearned V-cycle total time over the baselines' (issue 6 asks ≤ 1/20 of CuPy Jacobi-PCG " \
                "on 2D, ≤ 1/10 on 3D 256³, ≤ 1/100 of PyAMG SA):\n\n" + summary(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    print(text)
    print("wrote " + ", ".join(paths))


if __name__ == "__main__":
    main()
