"""Set-up cost of the learned factors against IC(0)/IC(1).

For ConDiff piecewise diffusion (contrast 1e4) at several sizes, the median over
repeats of: IC(0) and IC(1) factorizations (``precond.ic0``/``precond.ick``),
and for each learned model its inputs (pattern fill, graph features, the
classical base factor), the GNN forward with the fused numba kernels and with
torch, and the full ``aspreconditioner`` with and without the 10-step safety
probe.  One run, this machine.

    python benchmarks/factor_setup.py            # about 1 min
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import learnsolve
from learnsolve import precond
from learnsolve.bench import blas_single_thread, machine_info


def median_time(repeats, fn, *args, **kwargs):
    """Median wall time of ``fn(*args, **kwargs)``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--names", default="gnn-ic1-correct,gnn-fsai-a2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/factors/setup.md")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = []
    with blas_single_thread():
        for side in (int(s) for s in args.sizes.split(",")):
            A = learnsolve.problems.diffusion(side, contrast=1e4, seed=100).A
            precond.ic0(A), precond.ick(A, 1)  # warm-up (numba caches, allocator)
            t_ic0 = median_time(args.repeats, precond.ic0, A)
            t_ic1 = median_time(args.repeats, precond.ick, A, 1)
            rows.append((f"{side}²", A.shape[0], "IC(0) / IC(1)", f"{t_ic0:.3f} / {t_ic1:.3f}",
                         "", "", "", "", ""))
            for name in args.names.split(","):
                lf = learnsolve.pretrained(name)
                model = lf.model.eval()
                tensors, _ = precond.factor_inputs(model, A)
                lf.aspreconditioner(A)  # warm-up
                t_in = median_time(args.repeats, precond.factor_inputs, model, A)
                t_fused = median_time(args.repeats, precond.gnn_forward, model, tensors)
                with torch.no_grad():
                    t_torch = median_time(max(2, args.repeats // 2), model, **tensors)
                t_np = median_time(args.repeats, lf.aspreconditioner, A, probe=False)
                t_all = median_time(args.repeats, lf.aspreconditioner, A)
                rows.append((f"{side}²", A.shape[0], name, "", f"{t_in:.3f}", f"{t_fused:.3f}",
                             f"{t_torch:.3f}", f"{t_np:.3f}",
                             f"{t_all:.3f} ({t_all / t_ic0:.0f}× IC(0), {t_all / t_ic1:.1f}× IC(1))"))
                print(rows[-1], flush=True)
    lines = [
        "Set-up of the learned factors, ConDiff piecewise diffusion (contrast 1e4, seed 100), "
        f"medians over {args.repeats} repeats, seconds, one run.",
        "",
        machine_info(),
        "",
        "| grid | n | method | IC(0) / IC(1) | inputs | forward (fused) | forward (torch) "
        "| set-up, no probe | set-up with probe |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += ["| " + " | ".join([r[0], f"{r[1]:,}", *r[2:]]) + " |" for r in rows]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
