"""SciPy's own tests of ``scipy.sparse.linalg.cg``, run against ``learnsolve.krylov.cg``.

The test module ships with SciPy (``scipy/sparse/linalg/_isolve/tests/test_iterative.py``);
nothing of it is copied here.  Its cases that apply to CG (the symmetric and Hermitian
positive definite ones, real and complex, single and double precision) and its
solver-level checks run with ``cg`` swapped for ours, so code written for SciPy's
``cg`` keeps working when it switches.
"""

import importlib

import pytest

from learnsolve import krylov

try:
    sci = importlib.import_module("scipy.sparse.linalg._isolve.tests.test_iterative")
except ImportError:  # a SciPy installed without its tests
    sci = None

pytestmark = pytest.mark.skipif(sci is None, reason="SciPy was installed without its test modules")


class OurCase:
    """A SciPy test case with our ``cg`` as its solver."""

    def __init__(self, case):
        self.A, self.b, self.name = case.A, case.b, case.name
        self.convergence = case.name not in [c.name for c in ()]  # every CG case converges
        self.solver = krylov.cg


def _cg_cases():
    if sci is None:
        return []
    return [OurCase(c) for c in sci.IterativeParams().cases if sci.cg not in c.skip]


CASES = _cg_cases()
CASE_TESTS = ("test_maxiter", "test_convergence", "test_precond_dummy", "test_x0_equals_Mb")
SOLVER_TESTS = ("test_atol", "test_zero_rhs", "test_x0_working", "test_x0_solves_problem_exactly",
                "test_positional_error")


def test_the_cases_include_complex_hermitian_and_single_precision():
    names = [c.name for c in CASES]
    assert "rand-cmplx-sym-pd" in names and "rand-cmplx-sym-pd-F" in names
    assert "poisson2d" in names and len(names) >= 8


@pytest.mark.parametrize("test", CASE_TESTS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_scipy_case(test, case):
    getattr(sci, test)(case)


@pytest.mark.parametrize("test", SOLVER_TESTS)
def test_scipy_solver_check(test):
    getattr(sci, test)(krylov.cg)


@pytest.mark.parametrize("atol", ["legacy", None, -1])
def test_scipy_invalid_atol(atol):
    sci.test_invalid_atol(krylov.cg, atol)


@pytest.mark.parametrize("name", ["poisson1d", "poisson2d"])
def test_scipy_precond_inverse(name, monkeypatch):
    case = next(c for c in sci.IterativeParams().cases if c.name == name)
    monkeypatch.setattr(sci, "_SOLVERS", [krylov.cg])
    sci.test_precond_inverse.__wrapped__(case) if hasattr(sci.test_precond_inverse, "__wrapped__") \
        else sci.test_precond_inverse(case)
