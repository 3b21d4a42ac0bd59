import os

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve

SHARED = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "matrices"))


@pytest.fixture(scope="session")
def small_spd():
    """A small variable-coefficient SPD problem (fast for every check)."""
    return learnsolve.problems.diffusion(24, variance=1.0, seed=3)


@pytest.fixture
def no_compiled(monkeypatch):
    """Run the numba/SciPy fallback path."""
    from learnsolve import _backend

    monkeypatch.setattr(_backend, "HAS_C", False)
    monkeypatch.setattr(_backend, "C_OPENMP", False)


def exact_inverse(A):
    """M = A^{-1} as a LinearOperator (sparse LU)."""
    lu = sp.linalg.splu(sp.csc_matrix(A))
    return sp.linalg.LinearOperator(A.shape, matvec=lu.solve, dtype=np.float64)


def converged_iterations(p, M, rtol=1e-6):
    """CG iterations with ``M`` on problem ``p``, asserting convergence on the true residual."""
    import learnsolve

    res = []
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=rtol, M=M, residuals=res)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < rtol
    return len(res) - 1
