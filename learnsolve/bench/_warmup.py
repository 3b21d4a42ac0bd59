"""Compile the numba kernels once, into their on-disk cache, before anything is timed."""

from __future__ import annotations

import time
import warnings

#: Tiny problems that reach every kernel the default benchmark uses (2D and 3D grids, a rough
#: field for the cluster coarse space, fill-in patterns, the learned factors' fused inference).
WARMUP_PROBLEMS = ("diffusion:24:contrast=1e4", "poisson:6x6x6")


def warm_up(methods=None):
    """Run ``methods`` (default: :func:`default_preconds`) once on tiny problems.

    numba compiles a kernel on its first call and caches the machine code
    beside its source, so the first benchmark on a fresh install would time
    compilation (about a minute for the default benchmark on 2 cores).
    ``make install`` runs this once (``learnsolve info --warmup``); later
    processes load the cached code.

    Returns
    -------
    float
        Seconds it took.

    Examples
    --------
    >>> from learnsolve.bench import warm_up
    >>> warm_up(["jacobi"]) >= 0
    True
    """
    from ._runner import run
    from ._suites import default_preconds, make_problem

    t0 = time.perf_counter()
    methods = list(default_preconds() if methods is None else methods)
    with warnings.catch_warnings():  # fallbacks on these toy problems are expected and harmless
        warnings.simplefilter("ignore")
        for spec in WARMUP_PROBLEMS:
            run([make_problem(spec)], methods, repeats=1, progress=False)
    return time.perf_counter() - t0
