"""petsc4py, imported on first use, and errors every rank agrees on (no MPI job left hanging)."""

from __future__ import annotations

import numpy as np

#: Characters of an error message that :func:`agree` carries to the other ranks.
MESSAGE = 1024


def petsc():
    """``petsc4py.PETSc``, or an ImportError saying how to install it."""
    from .. import _backend

    if not _backend.HAS_PETSC4PY:
        raise ImportError("learnsolve.petsc needs petsc4py: install Debian's python3-petsc4py and use "
                          "a venv made with --system-site-packages (`make petsc`).")
    from petsc4py import PETSc

    return PETSc


def any_rank(comm, flag):
    """True on every rank when ``flag`` is true on some rank (a max-reduction through a Vec)."""
    PETSc = petsc()
    if comm.getSize() == 1:
        return bool(flag)
    v = PETSc.Vec().createMPI((1, PETSc.DECIDE), comm=comm)
    v.set(1.0 if flag else 0.0)
    out = v.max()[1] > 0.5
    v.destroy()
    return bool(out)


def agree(comm, error):
    """The first failing rank's ``error`` (a string, or ``None`` where this rank succeeded) on every
    rank, ``None`` when no rank failed: a collective call."""
    if comm.getSize() == 1 or not any_rank(comm, error is not None):
        return error
    PETSc = petsc()
    codes = np.zeros(MESSAGE)
    if error is not None:
        raw = np.frombuffer(error.encode("utf-8", "replace")[:MESSAGE], dtype=np.uint8)
        codes[:raw.size] = raw
    v = PETSc.Vec().createMPI((MESSAGE, PETSc.DECIDE), comm=comm)
    v.setArray(codes)
    scatter, out = PETSc.Scatter.toAll(v)
    scatter.scatter(v, out)
    rows = out.getArray().reshape(-1, MESSAGE)
    first = rows[np.flatnonzero(rows.any(axis=1))[0]]
    for obj in (scatter, out, v):
        obj.destroy()
    return bytes(first[first > 0].astype(np.uint8)).decode("utf-8", "replace")


def collectively(comm, what, fn, *args):
    """``fn(*args)`` on this rank; if it raised on any rank, a RuntimeError on every rank with the
    first failing rank's message prefixed by ``what``."""
    try:
        out, error = fn(*args), None
    except Exception as exc:  # re-raised on every rank below
        text = str(exc)
        text = text[len(what) + 2:] if text.startswith(f"{what}: ") else text
        out, error = None, f"{type(exc).__name__}: {text}"
    error = agree(comm, error)
    if error is not None:
        raise RuntimeError(f"{what}: {error}")
    return out
