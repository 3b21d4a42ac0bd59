"""Benchmark harness: problems × preconditioners, medians, Markdown/JSON/PNG reports."""

from ._report import markdown, plot_convergence, write
from ._runner import Result, machine_info, run, run_one
from ._suites import CLASSICAL, DEFAULT_PROBLEM, README_PROBLEMS, default_preconds, expand, make_problem

__all__ = ["CLASSICAL", "DEFAULT_PROBLEM", "default_preconds", "README_PROBLEMS", "Result", "expand",
           "machine_info", "make_problem", "markdown", "plot_convergence", "run", "run_one",
           "write"]
