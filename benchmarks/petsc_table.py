"""PETSc comparison: learnsolve's PCPYTHON preconditioners against PETSc's own, from the C example.

Runs ``examples/petsc_c/diffusion`` (2D piecewise-constant diffusion on a DMDA,
contrast 1e4) on 1 and 2 MPI ranks with ``-ksp_type cg``, rtol 1e-6 on the
unpreconditioned residual, and each preconditioner chosen by options alone.
Each run sets up and solves ``--repeat`` times inside one process; the table
gives the median set-up and solve of repeats 2.. (warm) and the first set-up
(which for ``-pc_type python`` includes importing torch and loading numba's
cache in the embedded interpreter).  Run it in the petsc4py environment::

    make petsc && .venv-petsc/bin/python benchmarks/petsc_table.py      # = make bench-petsc
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import learnsolve.petsc  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "petsc_c")
PY = ["-pc_type", "python", "-pc_python_type", "learnsolve.petsc.PC", "-learnsolve_pc"]

# (label, options on 1 rank, options on 2 ranks or None when PETSc has no parallel version)
METHODS = [
    ("learnsolve vcycle-2d (python)", PY + ["vcycle-2d"], PY + ["vcycle-2d"]),
    ("learnsolve gnn-ic1-correct (python)", PY + ["gnn-ic1-correct"], PY + ["gnn-ic1-correct"]),
    ("learnsolve gnn-ic-correct (python)", PY + ["gnn-ic-correct"], PY + ["gnn-ic-correct"]),
    ("learnsolve amg-sa (python, PyAMG)", PY + ["amg-sa"], PY + ["amg-sa"]),
    ("gamg", ["-pc_type", "gamg"], ["-pc_type", "gamg"]),
    ("hypre BoomerAMG", ["-pc_type", "hypre", "-pc_hypre_type", "boomeramg"],
     ["-pc_type", "hypre", "-pc_hypre_type", "boomeramg"]),
    ("icc (IC(0))", ["-pc_type", "icc"], None),
    ("bjacobi + icc per rank", ["-pc_type", "bjacobi", "-sub_pc_type", "icc"],
     ["-pc_type", "bjacobi", "-sub_pc_type", "icc"]),
    ("bjacobi (default: ILU(0) per rank)", ["-pc_type", "bjacobi"], ["-pc_type", "bjacobi"]),
]

LINE = re.compile(r"its (\d+) \((\w+)\)\s+setup ([\d.]+) s\s+solve ([\d.]+) s\s+true relres ([\d.eE+-]+)"
                  r"\s+\(first set-up ([\d.]+) s")


def run(nprocs, opts, args):
    binary = os.path.join(EXAMPLE, "diffusion")
    if not os.path.exists(binary):
        subprocess.run(["make", "-C", EXAMPLE, "diffusion"], check=True)
    cmd = [] if nprocs == 1 else learnsolve.petsc.mpiexec_command(nprocs)
    base = ["-n", str(args.n), "-contrast", str(args.contrast), "-repeat", str(args.repeat),
            "-ksp_type", "cg", "-ksp_rtol", "1e-6", "-ksp_norm_type", "unpreconditioned",
            "-ksp_max_it", str(args.maxiter)]
    env = learnsolve.petsc.embedded_env()
    env.setdefault("OMP_NUM_THREADS", "1")  # one thread per rank: 2 ranks fill this machine's 2 cores
    out = subprocess.run(cmd + [binary, *base, *opts], capture_output=True, text=True, env=env,
                         timeout=args.timeout)
    m = LINE.search(out.stdout)
    if m is None:
        tail = (out.stdout + out.stderr).strip().splitlines()[-3:]
        return dict(error=" / ".join(tail)[:200])
    its, reason, setup, solve, relres, first = m.groups()
    return dict(its=int(its), reason=reason, setup=float(setup), solve=float(solve),
                relres=float(relres), first=float(first))


def table(rows, args):
    lines = [f"2D piecewise-constant diffusion {args.n}² (contrast {args.contrast:g}, 16×16 blocks), "
             f"KSPCG, rtol 1e-6 (unpreconditioned residual), `examples/petsc_c/diffusion`; "
             f"set-up/solve are medians of repeats 2..{args.repeat} in one process, "
             "first set-up is repeat 1.", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, PETSc 3.18 (Debian), "
             "one thread per rank", "",
             "| preconditioner | ranks | its | set-up s | solve s | total s | first set-up s | true relres |",
             "|---|---|---|---|---|---|---|---|"]
    for label, nprocs, r in rows:
        if r is None:
            lines.append(f"| {label} | {nprocs} | – (serial only in PETSc) | | | | | |")
        elif "error" in r:
            lines.append(f"| {label} | {nprocs} | failed: {r['error']} | | | | | |")
        else:
            its = f"{r['its']}" + ("" if r["reason"].startswith("CONVERGED") else f" ({r['reason']})")
            lines.append(f"| {label} | {nprocs} | {its} | {r['setup']:.3f} | {r['solve']:.3f} | "
                         f"{r['setup'] + r['solve']:.3f} | {r['first']:.3f} | {r['relres']:.2e} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--maxiter", type=int, default=20000)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "petsc"))
    args = ap.parse_args(argv)
    rows = []
    for label, one, many in METHODS:
        for nprocs in args.ranks:
            opts = one if nprocs == 1 else many
            r = None if opts is None else run(nprocs, opts, args)
            rows.append((label, nprocs, r))
            print(label, nprocs, r, flush=True)
    text = table(rows, args)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"petsc_{args.n}.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
