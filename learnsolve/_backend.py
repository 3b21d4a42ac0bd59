"""Optional dependencies, probed once at import and read at call time.

Tests switch a backend off with ``monkeypatch.setattr(_backend, "HAS_C", False)``;
every caller reads the flag when it runs, never at its own import.

Attributes
----------
HAS_C : bool
    The compiled extension ``learnsolve._C`` imported.
C_OPENMP : bool
    The extension was built with OpenMP.
HAS_CUPY : bool
    CuPy imported and sees a CUDA device.
HAS_PETSC4PY : bool
    petsc4py is installed (found, not imported: importing it initializes PETSc and MPI).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import warnings

HAS_C = False
C_OPENMP = False
_C = None
try:
    _C = importlib.import_module("learnsolve._C")
    HAS_C = True
    C_OPENMP = bool(_C.with_openmp)
except ImportError as exc:  # pragma: no cover - depends on the build
    warnings.warn(
        f"learnsolve: compiled kernels unavailable ({exc}); using the numba/SciPy fallback. "
        "Reinstall with a C++17 compiler (`pip install -e .`) for the fast path.",
        RuntimeWarning,
        stacklevel=2,
    )

HAS_CUPY = False
try:  # pragma: no cover - no GPU on CI
    import cupy as _cupy

    HAS_CUPY = _cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # ImportError, or CUDA driver errors on a GPU-less machine
    HAS_CUPY = False

HAS_PETSC4PY = importlib.util.find_spec("petsc4py") is not None


def compiled():
    """Return the compiled module when it may be used now, else ``None``."""
    return _C if HAS_C else None


def num_threads():
    """OpenMP threads the compiled kernels use (1 without the extension)."""
    return int(_C.num_threads()) if HAS_C else 1


_CONTROLLER = None


def blas_single_thread():
    """Context limiting BLAS to one thread (cached threadpoolctl controller).

    Krylov loops run under it (a 2-thread BLAS costs ~8 ms per short call on a
    loaded 2-core machine), and so do numba kernels that call BLAS from their
    own parallel threads.
    """
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or unusable
        return contextlib.nullcontext()
