"""Benchmark harness: problems × preconditioners, medians, Markdown/JSON/PNG reports, and the
peers (hypre BoomerAMG through petsc4py) with their timing protocol.

``blas_single_thread()`` is the context every timed solve runs in (one BLAS thread; the
compiled and numba kernels keep their own threads).
"""

from .._backend import blas_single_thread
from ._peers import HYPRE, hypre_rows, hypre_run, timed_runs
from ._report import markdown, plot_convergence, write
from ._runner import Result, machine_info, run, run_one
from ._suites import CLASSICAL, DEFAULT_PROBLEM, README_PROBLEMS, default_preconds, expand, make_problem
from ._warmup import warm_up

__all__ = ["CLASSICAL", "DEFAULT_PROBLEM", "HYPRE", "README_PROBLEMS", "Result",
           "blas_single_thread", "default_preconds", "expand", "hypre_rows", "hypre_run",
           "machine_info", "make_problem", "markdown", "plot_convergence", "run", "run_one",
           "timed_runs", "warm_up", "write"]
