"""Run problems × preconditioners with the same solver and tolerance, honestly timed."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import krylov, precond
from .._backend import blas_single_thread, num_threads
from ..multigrid import NotAGrid
from ..precond import NoDevicePath


@dataclass
class Result:
    """One (problem, preconditioner) row: medians over repeats, history of the last run."""

    problem: str
    n: int
    nnz: int
    method: str
    iterations: int
    setup_s: float
    solve_s: float
    total_s: float
    relres: float
    info: int
    repeats: int
    history: list = field(default_factory=list, repr=False)  # (seconds since setup start, ‖r‖/‖b‖)

    def asdict(self, with_history=False):
        d = asdict(self)
        if not with_history:
            d.pop("history")
        return d


def nonlinear_solver(A, b, **kw):
    """The solver for nonlinear direction maps (DCDM networks): :func:`krylov.dcdm` with ``k=2``."""
    return krylov.dcdm(A, b, k=2, **kw)


def run_one(problem, method, *, rtol=1e-6, repeats=3, maxiter=None, solver=krylov.cg, budget=None,
            device="cpu", placement=None):
    """Build ``method`` on ``problem.A`` and solve ``repeats`` times; medians of times.

    ``solver`` is used for linear preconditioners; a nonlinear one
    (``M.is_linear`` false, e.g. ``dcdm-2d``) is run by :func:`nonlinear_solver`.
    With ``budget`` (seconds), repeating stops once this method's runs have taken
    that long; ``Result.repeats`` says how many ran (at least one).  ``device``
    (``'cpu'``, ``'cuda'``, ``'torch-cpu'``) says where the row runs, see
    :mod:`learnsolve.bench._device`; ``placement`` reuses a problem already moved there.
    """
    from ._device import CUPYX_BASELINES, Placement, cupyx_preconditioner, cupyx_solver

    placement = placement or Placement(problem, device)
    A, b, sync, to_host = placement.for_method(method)
    bnorm = float(np.linalg.norm(problem.b))
    setups, solves, last, label = [], [], None, method
    for _ in range(repeats):
        if budget is not None and setups and sum(setups) + sum(solves) >= budget:
            break
        t0 = time.perf_counter()
        if method in CUPYX_BASELINES:
            M, solve = cupyx_preconditioner(method, A), cupyx_solver()
        else:
            M = precond.build(method, A, grid_shape=problem.grid_shape)
            solve = solver if getattr(M, "is_linear", True) else nonlinear_solver
        if M is not None and getattr(M, "info", {}).get("fallback"):  # say so when it fell back
            label = f"{method} → {M.name} (fallback)"
        sync()
        t1 = time.perf_counter()
        residuals, stamps = [], [t1]
        x, info = solve(A, b, rtol=rtol, M=M, maxiter=maxiter, residuals=residuals,
                        callback=lambda _x, s=stamps: s.append(time.perf_counter()))
        sync()
        t2 = time.perf_counter()
        setups.append(t1 - t0)
        solves.append(t2 - t1)
        last = (x, info, residuals, stamps, t0)
    x, info, residuals, stamps, t0 = last
    x = to_host(x)
    relres = float(np.linalg.norm(problem.b - problem.A @ x) / bnorm)
    hist = [(stamps[i] - t0, residuals[i] / bnorm) for i in range(min(len(stamps), len(residuals)))]
    setup, solve = statistics.median(setups), statistics.median(solves)
    return Result(problem.name, problem.n, int(problem.A.nnz), label, len(stamps) - 1, setup, solve,
                  statistics.median(s + v for s, v in zip(setups, solves)), relres, int(info),
                  len(setups), hist)


def run(problem_list, methods, *, rtol=1e-6, repeats=3, maxiter=None, progress=True, budget=None,
        device="cpu"):
    """Run every method on every problem; returns a list of :class:`Result`.

    All linear methods use :func:`learnsolve.krylov.cg` (SciPy's iterates),
    the nonlinear DCDM direction maps :func:`learnsolve.krylov.dcdm` (``k=2``),
    with the same ``rtol`` on the true residual; BLAS is held to one thread and the
    compiled kernels use their OpenMP threads.  Grid-only methods (geometric
    and learned V-cycles) are skipped on matrices that are not grid stencils.
    ``device`` runs the rows on a GPU (``'cuda'``) or with torch tensors
    (``'torch-cpu'``), see :mod:`learnsolve.bench._device`; methods without a
    device path are skipped there, except PyAMG, which runs on the host.
    """
    from ._device import Placement

    jobs = [(p, m) for p in problem_list for m in methods]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="bench", unit="run")
    results, placement = [], None
    try:
        with blas_single_thread():
            for p, m in jobs:
                if bar is not None:
                    bar.set_postfix_str(f"{p.name} / {m}")
                if placement is None or placement.problem is not p:
                    placement = Placement(p, device)  # one problem on the device at a time
                try:
                    results.append(run_one(p, m, rtol=rtol, repeats=repeats, maxiter=maxiter,
                                           budget=budget, placement=placement))
                except NotAGrid:  # a grid method on a general matrix: not applicable, no row
                    pass
                except NoDevicePath as err:  # e.g. IC(0) on torch tensors: not applicable
                    print(f"learnsolve bench: skipped {m} on {device}: {err}", file=sys.stderr)
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    return results


def machine_info(device="cpu"):
    """A one-line description of where the numbers were taken (naming the GPU for ``'cuda'``)."""
    import os
    import platform

    import scipy

    from .. import _backend

    line = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
            f"learnsolve._C={'yes' if _backend.HAS_C else 'no'} (OpenMP threads {num_threads()})")
    if device == "cuda":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        line += f"; GPU: {name}, CuPy {cupy.__version__}"
    elif device == "torch-cpu":
        import torch

        line += f"; device path on torch {torch.__version__} CPU tensors"
    return line
