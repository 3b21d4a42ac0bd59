import pytest

import learnsolve

# run under mpiexec by tests/test_petsc_mg.py, not collected (it initializes MPI at import)
collect_ignore = ["mpi_grid_cycle.py"]


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
