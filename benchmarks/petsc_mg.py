"""The learned V-cycle across MPI ranks (PETSc PCMG) against GAMG and BoomerAMG on 1, 2, 4 ranks.

Runs ``examples/petsc_python/diffusion.py`` (a DMDA problem assembled from
petsc4py) under ``mpiexec -n 1|2|4`` with ``-ksp_type cg``, rtol 1e-6 on the
unpreconditioned residual, every preconditioner chosen by options alone, one
thread per rank.  Each process sets up and solves ``--repeat`` times; set-up
and solve are the medians of repeats 2.., "first set-up" is repeat 1 (for the
learned cycle it includes importing torch and loading numba's cache).  On 1 and
2 ranks every configuration runs ``--rounds`` times, the methods interleaved,
and the table gives the median over rounds of those medians (this shared
machine's timings move by 15-40 % from one minute to the next).  4 ranks
oversubscribe this 2-core machine: their iterations count, their times do not.
Run it in the petsc4py environment::

    make petsc && .venv-petsc/bin/python benchmarks/petsc_mg.py       # about 30 minutes

Writes ``benchmarks/results/petsc_mg/petsc_mg.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import learnsolve.petsc  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "petsc_python", "diffusion.py")
PROBLEMS = [
    ("2D 1024², contrast 1e4 (16×16 blocks)", ["-dim", "2", "-n", "1024", "-field", "blocks"]),
    ("2D 1024², log-normal (variance 1)", ["-dim", "2", "-n", "1024", "-field", "lognormal"]),
    ("2D 1024², contrast 1e4 (thresholded random field)",
     ["-dim", "2", "-n", "1024", "-field", "piecewise"]),
    ("3D 100³, log-normal (variance 1)", ["-dim", "3", "-n", "100", "-field", "lognormal"]),
    ("2D 1024², log-normal, no DMDA (algebraic)",
     ["-dim", "2", "-n", "1024", "-field", "lognormal", "-use_dm", "0"]),
]
PY = ["-pc_type", "python", "-pc_python_type", "learnsolve.petsc.PC"]


def methods(dim, algebraic=False, jumps=False):
    """(label, options, rank counts); ``jumps``: with the cluster space forced as well."""
    name = f"vcycle-{dim}d"
    if algebraic:
        return [
            ("learnsolve amg-learned, distributed (GAMG's levels)",
             PY + ["-learnsolve_pc", "amg-learned", "-learnsolve_mg", "1"], (1, 2, 4)),
            ("learnsolve amg-learned, per rank (block Jacobi; 1 rank: in-process cycle)",
             PY + ["-learnsolve_pc", "amg-learned", "-learnsolve_mg", "0"], (1, 2)),
            ("hypre BoomerAMG", ["-pc_type", "hypre", "-pc_hypre_type", "boomeramg"], (1, 2, 4)),
            ("gamg", ["-pc_type", "gamg"], (1, 2, 4)),
        ]
    return [
        (f"learnsolve {name}, distributed (PCMG)", PY + ["-learnsolve_pc", name, "-learnsolve_mg", "1"],
         (1, 2, 4)),
        (f"learnsolve {name}, per rank (block Jacobi; 1 rank: in-process cycle)",
         PY + ["-learnsolve_pc", name, "-learnsolve_mg", "0"], (1, 2)),
        ("hypre BoomerAMG", ["-pc_type", "hypre", "-pc_hypre_type", "boomeramg"], (1, 2, 4)),
        ("gamg", ["-pc_type", "gamg"], (1, 2, 4)),
    ] + ([(f"learnsolve {name}:clusters, distributed (PCMG + cluster space, redundant LU)",
           PY + ["-learnsolve_pc", f"{name}:clusters", "-learnsolve_mg", "1"], (1, 2))] if jumps else [])


LINE = re.compile(r"its (\d+) \((-?\d+)\)\s+setup ([\d.]+) s\s+solve ([\d.]+) s\s+true relres "
                  r"([\d.eE+-]+)\s+\(first set-up ([\d.]+) s")


def run(nprocs, problem, opts, args):
    cmd = learnsolve.petsc.mpiexec_command(nprocs)
    base = ["-repeat", str(args.repeat), "-ksp_rtol", "1e-6", "-ksp_max_it", "2000"]
    env = learnsolve.petsc.embedded_env()
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")  # one thread per rank
    t0 = time.perf_counter()
    out = subprocess.run(cmd + [sys.executable, EXAMPLE, *problem, *base, *opts], capture_output=True,
                         text=True, env=env, timeout=args.timeout)
    m = LINE.search(out.stdout)
    if m is None:
        tail = (out.stdout + out.stderr).strip().splitlines()[-3:]
        return dict(error=" / ".join(tail)[:300])
    its, reason, setup, solve, relres, first = m.groups()
    return dict(its=int(its), reason=int(reason), setup=float(setup), solve=float(solve),
                relres=float(relres), first=float(first), wall=round(time.perf_counter() - t0, 1))


def _median(runs):
    """The run whose set-up + solve is the median of ``runs`` (the lower middle one), with every
    round's total."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    ok.sort(key=lambda r: r["setup"] + r["solve"])
    return dict(ok[(len(ok) - 1) // 2], rounds=[round(r["setup"] + r["solve"], 3) for r in ok])


def table(rows, args):
    lines = ["CG, rtol 1e-6 on the unpreconditioned residual, b = 1/n², `examples/petsc_python/diffusion.py` "
             f"on a DMDA; set-up/solve: medians of repeats 2..{args.repeat} in one process, on 1 and 2 ranks "
             f"the median of {args.rounds} such processes (methods interleaved; every round's total in the "
             "last column); first set-up: repeat 1. 4 ranks oversubscribe the 2 cores: iterations only "
             "(times in *italics*).", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, PETSc 3.18 (Debian), one thread "
             "per rank.", "",
             "| problem | preconditioner | ranks | its | set-up s | solve s | total s | first set-up s "
             "| true relres | rounds' totals s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, method, nprocs, r in rows:
        if "error" in r:
            lines.append(f"| {label} | {method} | {nprocs} | failed: {r['error']} | | | | | | |")
            continue
        its = f"{r['its']}" + ("" if r["reason"] > 0 else f" (reason {r['reason']})")
        cells = [f"{r['setup']:.3f}", f"{r['solve']:.3f}", f"{r['setup'] + r['solve']:.3f}",
                 f"{r['first']:.3f}"]
        if nprocs > (os.cpu_count() or 1):
            cells = [f"*{c}*" for c in cells]
        lines.append(f"| {label} | {method} | {nprocs} | {its} | " + " | ".join(cells)
                     + f" | {r['relres']:.2e} | {', '.join(map(str, r.get('rounds', [])))} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--only", default=None, help="run the problems whose label contains this")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "petsc_mg"))
    ap.add_argument("--name", default="petsc_mg", help="result files' name")
    args = ap.parse_args(argv)
    rows = []
    for label, problem in PROBLEMS:
        if args.only and args.only not in label:
            continue
        dim, algebraic, jumps = int(problem[1]), "-use_dm" in problem, "blocks" in problem
        for nprocs in (1, 2, 4):  # rank counts outside, methods inside: neighbours share conditions
            runs = {}
            for _ in range(args.rounds if nprocs <= (os.cpu_count() or 1) else 1):
                for method, opts, ranks in methods(dim, algebraic, jumps):
                    if nprocs in ranks:
                        r = run(nprocs, problem, opts, args)
                        runs.setdefault(method, []).append(r)
                        print(label, "|", method, "|", nprocs, "|", r, flush=True)
            rows += [(label, method, nprocs, _median(rs)) for method, rs in runs.items()]
    order = {m: i for i, (m, _, _) in enumerate(methods(2, jumps=True) + methods(3) + methods(2, True))}
    rows.sort(key=lambda r: ([p for p, _ in PROBLEMS].index(r[0]), order[r[1]], r[2]))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.name}.json"), "w") as f:
        json.dump([dict(problem=p, method=m, ranks=n, **r) for p, m, n, r in rows], f, indent=1)
    text = table(rows, args)
    with open(os.path.join(args.out, f"{args.name}.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
