"""Command line: ``learnsolve bench``, ``learnsolve train``, ``learnsolve info``."""

from __future__ import annotations

import argparse
import os
import sys


def _bench(args):
    from . import bench

    specs = bench.expand(args.problem or [bench.DEFAULT_PROBLEM])
    methods = [m.strip() for m in args.precond.split(",") if m.strip()]
    problems = [bench.make_problem(s) for s in specs]
    results = bench.run(problems, methods, rtol=args.rtol, repeats=args.repeats,
                        maxiter=args.maxiter, progress=not args.quiet, budget=args.budget,
                        device=args.device)
    md, paths = bench.write(results, args.out, rtol=args.rtol,
                            machine=bench.machine_info(device=args.device),
                            plot=not args.no_plot)
    print(md)
    print("wrote " + ", ".join(paths))
    failed = [r for r in results if r.info != 0]
    return 1 if failed and args.strict else 0


def _given(args, **names):
    """The options the user set (``None`` ones are left to the config's defaults)."""
    return {field: getattr(args, opt) for field, opt in names.items() if getattr(args, opt) is not None}


def _train(args):
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.method == "dcdm":
        from .train import DCDMConfig, fit_dcdm

        cfg = DCDMConfig(dim=args.dim, seed=args.seed, **_given(
            args, epochs="epochs", lr="lr", hidden="channels", minutes="minutes",
            steps_per_epoch="samples", base="base"))
        history = fit_dcdm(cfg, args.out, resume=args.resume, progress=not args.quiet)
        best = min(h["val"] for h in history)
        print(f"wrote {args.out} (best mean validation DCDM iterations {best:.2f}; "
              f"V-cycle alone {history[0]['val']:.2f})")
        return 0
    if args.method in ("amg", "vcycle"):
        from . import train

        amg = args.method == "amg"
        config, fit_cycle = ((train.AMGConfig, train.fit_amg) if amg else
                             (train.VCycleConfig, train.fit_vcycle))
        cfg = config(seed=args.seed, **({} if amg else {"dim": args.dim}), **_given(
            args, epochs="epochs", lr="lr", hidden="channels", layers="layers", minutes="minutes",
            steps_per_epoch="samples"))
        history = fit_cycle(cfg, args.out, resume=args.resume, progress=not args.quiet)
        best = min(h["val"] for h in history)
        start = (f"local-Chebyshev start {history[0]['val']:.2f}" if amg else
                 f"over {len(history) - 1} epochs")
        print(f"wrote {args.out} (best mean validation PCG iterations {best:.2f}; {start})")
        return 0
    from .train import TrainConfig, fit

    cfg = TrainConfig(kind=args.kind, loss=args.loss, seed=args.seed, **_given(
        args, epochs="epochs", lr="lr", channels="channels", layers="layers", minutes="minutes",
        samples_per_epoch="samples", family="family", pattern="pattern",
        correction="correction", sizes="sizes", val_size="val_size"))
    history = fit(cfg, args.out, resume=args.resume, progress=not args.quiet)
    best = min(h["val_ratio"] for h in history) if history else float("nan")
    print(f"wrote {args.out} (best validation PCG-iteration ratio {best:.3f} over {len(history)} epochs)")
    return 0


def _info(args):
    from . import __version__, _backend

    print(f"learnsolve {__version__}")
    print(f"compiled kernels (learnsolve._C): {_backend.HAS_C}, OpenMP: {_backend.C_OPENMP}, "
          f"threads: {_backend.num_threads()}")
    print(f"CuPy with a CUDA device: {_backend.HAS_CUPY}")
    if args.warmup:
        from .bench import warm_up

        print(f"numba kernels compiled and cached in {warm_up():.0f} s")
    return 0


def main(argv=None):
    """Entry point of the ``learnsolve`` command."""
    from . import __version__
    from .bench import default_preconds

    parser = argparse.ArgumentParser(prog="learnsolve", description=__doc__)
    parser.add_argument("--version", action="version", version=f"learnsolve {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="benchmark preconditioners with CG on problems")
    b.add_argument("--problem", action="append",
                   help="problem spec (repeatable): poisson:512, poisson:64x64x64, "
                        "diffusion:256:contrast=1e4, anisotropic:256:eps=0.01, pyamg:airfoil, "
                        "a .mtx path, or 'shared' (../shared/matrices). Default: "
                        "diffusion:256:contrast=1e4")
    b.add_argument("--precond", default=",".join(default_preconds()),
                   help="comma-separated preconditioners; grid cycles take options, e.g. "
                        "vcycle-2d:float32, vcycle-2d:noclusters (default: %(default)s)")
    b.add_argument("--rtol", type=float, default=1e-6)
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--maxiter", type=int, default=None)
    b.add_argument("--budget", type=float, default=None,
                   help="seconds per method and problem: stop repeating a slow method once its runs "
                        "took this long (the table says how many ran)")
    b.add_argument("--device", default="cpu", choices=["cpu", "cuda", "torch-cpu"],
                   help="where to run: the host, a CUDA GPU through CuPy (plus the GPU baselines "
                        "cupyx-cg and cupyx-jacobi; PyAMG rows run on the host CPU), or torch "
                        "tensors on the CPU (the device code path without a GPU)")
    b.add_argument("--out", default="results")
    b.add_argument("--no-plot", action="store_true")
    b.add_argument("--quiet", action="store_true")
    b.add_argument("--strict", action="store_true", help="exit 1 if any run did not converge")
    b.set_defaults(func=_bench)
    t = sub.add_parser("train", help="train a learned factor or V-cycle (checkpoints every epoch)")
    t.add_argument("--method", default="factor", choices=["factor", "vcycle", "amg", "dcdm"],
                   help="GNN factor (gnn-ic*, gnn-fsai), grid V-cycle smoothers (vcycle-2d/3d), "
                        "algebraic V-cycle smoothers for any sparse SPD matrix (amg-learned) "
                        "or the DCDM correction on a V-cycle (dcdm-2d/3d)")
    t.add_argument("--dim", type=int, default=2, choices=[2, 3],
                   help="grid dimension (vcycle, dcdm)")
    t.add_argument("--base", default=None,
                   help="dcdm: the V-cycle to build on, a zoo name or weights path "
                        "(default vcycle-<dim>d)")
    t.add_argument("--kind", default="correct", choices=["ic", "correct", "fsai", "select"],
                   help="factor: L (ic), a correction of IC (correct), G (fsai), or the pattern of "
                        "G with FSAI's values (select: pattern A3, loss imitate)")
    t.add_argument("--family", default=None, choices=["condiff-2d", "fem"],
                   help="factor: training problems (2D ConDiff grids, or P1 FEM on unstructured "
                        "2D/3D meshes)")
    t.add_argument("--pattern", default=None, choices=["A", "ic1", "ic2", "ic3", "A2", "A3"],
                   help="factor: sparsity pattern of L/G (A's, IC(k)'s level-k fill, or A²'s; "
                        "A³'s: the candidates of kind select)")
    t.add_argument("--correction", default=None, choices=["add", "scale"],
                   help="factor, kind correct: additive or relative correction of the base factor")
    t.add_argument("--loss", default="lowfreq",
                   choices=["lowfreq", "hutchinson", "both", "kaporin", "fsai", "imitate"],
                   help="imitate (kind select): logistic loss against the Kaporin-optimal pattern")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--samples", type=int, default=None,
                   help="problems (factor) or batches (vcycle, amg) per epoch")
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--sizes", type=lambda v: tuple(int(n) for n in v.split(",")), default=None,
                   help="factor, condiff-2d: grid sides to train on, e.g. 32,64,128")
    t.add_argument("--val-size", type=int, default=None,
                   help="factor, condiff-2d: grid side of the validation problems")
    t.add_argument("--channels", type=int, default=None)
    t.add_argument("--layers", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--minutes", type=float, default=None, help="wall-time budget")
    t.add_argument("--out", required=True, help="weights file to write (checkpoint: OUT.ckpt)")
    t.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)
    i = sub.add_parser("info", help="show which kernels and devices are available")
    i.add_argument("--warmup", action="store_true",
                   help="also compile the numba kernels into their cache (the default benchmark's "
                        "preconditioners once on tiny problems), so no later run times compilation")
    i.set_defaults(func=_info)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:  # bad input: a message, not a traceback
        print(f"learnsolve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
