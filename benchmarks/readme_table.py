"""Reproduce the main benchmark table (docs/benchmarks.md): every preconditioner with CG.

Problems: 2D Poisson 512², ConDiff-type piecewise-constant diffusion 256²
(contrast 1e4), 3D Poisson 64³ and every matrix in ../shared/matrices;
rtol 1e-6 on the true residual, medians over 3 repeats, one run.

    python benchmarks/readme_table.py [--repeats 3] [--budget 8] [--out benchmarks/results/readme]
"""

import argparse

from learnsolve import bench


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--budget", type=float, default=8.0,
                    help="stop repeating a method once its runs took this many seconds")
    ap.add_argument("--out", default="benchmarks/results/readme")
    args = ap.parse_args()
    problems = [bench.make_problem(s) for s in bench.expand(bench.README_PROBLEMS)]
    results = bench.run(problems, bench.default_preconds(), rtol=args.rtol, repeats=args.repeats,
                        budget=args.budget)
    md, paths = bench.write(results, args.out, rtol=args.rtol, machine=bench.machine_info())
    print(md)
    print("wrote " + ", ".join(paths))


if __name__ == "__main__":
    main()
