"""learnsolve preconditioners inside PETSc: a ``PCPYTHON`` context chosen by options.

A PETSc code (C, Fortran or petsc4py) picks it at run time::

    -pc_type python -pc_python_type learnsolve.petsc.PC -learnsolve_pc vcycle-2d

or from Python with ``pc.setType('python'); pc.setPythonContext(learnsolve.petsc.PC('ic0'))``.
(A C program must call ``PetscPythonInitialize(NULL, NULL)`` after
``PetscInitialize`` so that PETSc can load Python preconditioners.)

``setUp`` reads each rank's rows (``MatGetValuesCSR``), keeps the diagonal
block (columns the rank owns) and builds the learnsolve preconditioner on it,
so on several ranks it acts as block Jacobi over ranks with a learned
preconditioner per block.  On a DMDA the block is the rank's sub-grid, and the
grid methods (``vcycle-2d``/``-3d``, ``gmg-jacobi``, ``dcdm-*``) read its shape
from the DM.  Set-up failures (unknown name, non-symmetric operator, a model
for another problem kind) are agreed on by all ranks before anyone raises, so
an MPI job stops with the message instead of hanging.

Options (with the KSP's prefix):

``-learnsolve_pc NAME``
    Any name of ``learnsolve.precond.build`` or ``learnsolve.pretrained()``.
    Default: ``vcycle-<d>d`` on a DMDA, ``ic0`` otherwise.
``-learnsolve_check BOOL``
    Positive-definiteness check of the V-cycles (default true).

petsc4py is optional: this module imports without it and only its methods
need it (Debian: ``apt-get install python3-petsc4py``; ``make petsc``).
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import numpy as np
import scipy.sparse as sp

FLEXIBLE_KSP = ("fcg", "pipefcg", "fgmres", "gcr", "pipegcr")


def _petsc():
    from . import _backend

    if not _backend.HAS_PETSC4PY:
        raise ImportError("learnsolve.petsc needs petsc4py: install Debian's python3-petsc4py and use "
                          "a venv made with --system-site-packages (`make petsc`).")
    from petsc4py import PETSc

    return PETSc


def diagonal_block(mat):
    """The rank's diagonal block of an AIJ ``petsc4py.PETSc.Mat`` as a SciPy CSR array."""
    r0, r1 = mat.getOwnershipRange()
    indptr, indices, data = mat.getValuesCSR()
    rows = np.repeat(np.arange(r1 - r0), np.diff(indptr))
    keep = (indices >= r0) & (indices < r1)
    A = sp.csr_array((data[keep], (rows[keep], indices[keep] - r0)), shape=(r1 - r0, r1 - r0))
    A.sum_duplicates()
    return A


def dm_grid(pc):
    """``(dim, local grid shape in C order)`` of the rank's part of a DMDA, or ``(None, None)``."""
    try:
        dm = pc.getDM()
    except Exception:
        return None, None
    if dm is None or not bool(dm) or dm.getType() != "da":  # a null DM is falsy (and segfaults on use)
        return None, None
    dim = dm.getDim()
    _, sizes = dm.getCorners()
    return dim, tuple(int(s) for s in reversed(sizes[:dim]))


def embedded_env(env=None):
    """Environment for a C/Fortran PETSc program whose embedded Python must find learnsolve.

    The interpreter that ``PetscPythonInitialize`` starts inside a compiled
    program knows only the system's packages; this puts learnsolve's checkout
    and the running interpreter's ``site-packages`` (e.g. ``.venv-petsc``)
    on its ``PYTHONPATH``, and the interpreter's ``bin`` on ``PATH``.

    Parameters
    ----------
    env : dict, optional
        Base environment (default: ``os.environ``).

    Returns
    -------
    dict

    Examples
    --------
    >>> env = embedded_env({"PATH": "/usr/bin"})
    >>> env["PYTHONPATH"].split(os.pathsep)[0] == os.path.dirname(os.path.dirname(__file__))
    True
    """
    import site

    env = dict(os.environ if env is None else env)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [root, *site.getsitepackages()]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def mpiexec_command(nprocs):
    """``mpiexec -n nprocs`` (with OpenMPI's flags for running as root), or ``None`` without mpiexec.

    Examples
    --------
    >>> cmd = mpiexec_command(2)
    >>> cmd is None or cmd[-2:] == ["-n", "2"]
    True
    """
    exe = shutil.which("mpiexec")
    if exe is None:
        return None
    cmd = [exe]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd += ["--allow-run-as-root", "--oversubscribe"]
    return cmd + ["-n", str(int(nprocs))]


_LIVE = []  # (context, pc) pairs set up in this process


def _register(ctx, pc):
    """Remember ``pc`` so that its Python context is detached before the interpreter ends.

    petsc4py runs ``PetscFinalize`` after the interpreter has shut down (a
    C-level exit hook); a PC still holding a Python context then calls back
    into the dead interpreter and crashes it at exit (seen with petsc4py
    3.18, Python 3.11).  A Python ``atexit`` hook runs earlier: it switches
    the remembered PCs to ``PCNONE``, which releases the contexts while
    Python is still whole.
    """
    if not _LIVE:
        import atexit

        atexit.register(_detach_all)
    for item in list(_LIVE):  # PCs only this list still holds: the code dropped them, release now
        if item[1].getRefCount() <= 1:
            _LIVE.remove(item)
            _detach(item[1])
    if all(c is not ctx for c, _ in _LIVE):
        _LIVE.append((ctx, pc))


def _detach(pc):
    try:
        if pc.getType() == "python":
            pc.setType("none")
    except Exception:  # pragma: no cover - PETSc already finalized
        pass


def _detach_all():
    while _LIVE:
        _detach(_LIVE.pop()[1])


def _any_rank(comm, flag):
    """True on every rank when ``flag`` is true on some rank (a max-reduction through a Vec)."""
    PETSc = _petsc()
    if comm.getSize() == 1:
        return bool(flag)
    v = PETSc.Vec().createMPI((1, PETSc.DECIDE), comm=comm)
    v.set(1.0 if flag else 0.0)
    out = v.max()[1] > 0.5
    v.destroy()
    return bool(out)


class PC:
    """PETSc python-PC context applying a learnsolve preconditioner.

    Parameters
    ----------
    name : str, optional
        Preconditioner name; ``-learnsolve_pc`` overrides it.
    check : bool
        V-cycle positive-definiteness check in set-up.
    shape : tuple of int, optional
        Grid shape of the rank's block when there is no DMDA.

    Attributes
    ----------
    M : learnsolve.precond.Preconditioner
        What ``setUp`` built (``None`` before).

    Examples
    --------
    >>> import learnsolve.petsc  # doctest: +SKIP
    >>> pc.setType("python"); pc.setPythonContext(learnsolve.petsc.PC("vcycle-2d"))  # doctest: +SKIP
    """

    def __init__(self, name=None, *, check=True, shape=None):
        self.name = name
        self.check = bool(check)
        self.shape = shape
        self.M = None
        self.setup_time = 0.0
        self.ksp_type = None

    # -- PETSc callbacks ---------------------------------------------------
    def setFromOptions(self, pc):
        PETSc = _petsc()
        opts = PETSc.Options(pc.getOptionsPrefix())
        # (petsc4py treats a default of None as "required": ask hasName first)
        if opts.hasName("learnsolve_pc"):
            self.name = opts.getString("learnsolve_pc")
        if opts.hasName("learnsolve_check"):
            self.check = opts.getBool("learnsolve_check")
        if opts.hasName("ksp_type"):
            self.ksp_type = opts.getString("ksp_type")

    def setUp(self, pc):
        from . import precond

        t0 = time.perf_counter()
        _register(self, pc)
        _, P = pc.getOperators()
        dim, grid = dm_grid(pc)
        name = self.name or (f"vcycle-{dim}d" if dim in (2, 3) else "ic0")
        error = None
        try:
            A = diagonal_block(P)
            M = precond.build(name, A, grid_shape=grid or self.shape)
            if not getattr(M, "is_linear", True):
                ksp = (self.ksp_type or "").lower()
                if ksp not in FLEXIBLE_KSP:
                    raise ValueError(
                        f"{name!r} is a nonlinear direction map (is_linear=False) but the KSP is "
                        f"{self.ksp_type or 'not a flexible method'!r}; use -ksp_type fcg or fgmres "
                        "with it, or a linear SPD preconditioner (e.g. -learnsolve_pc "
                        f"vcycle-{dim or 2}d) with -ksp_type cg")
        except Exception as exc:  # turned into a PETSc error below, on every rank
            error = f"{type(exc).__name__}: {exc}"
        if _any_rank(pc.getComm(), error is not None):
            why = error or "the set-up failed on another rank (see its message)"
            raise RuntimeError(f"learnsolve.petsc.PC: -learnsolve_pc {name}: {why}")
        self.M, self.name = M, name
        self.setup_time = time.perf_counter() - t0

    def apply(self, pc, x, y):
        # x.array_r: a read-only view released properly (passing getArray(readonly=True) on to
        # NumPy code crashed the interpreter at exit with petsc4py 3.18)
        y.setArray(self.M._matvec(x.array_r))

    def applyTranspose(self, pc, x, y):
        if not self.M.is_spd:
            raise RuntimeError(f"learnsolve.petsc.PC: {self.name!r} is not symmetric; its transpose "
                               "is not available.")
        self.apply(pc, x, y)

    def view(self, pc, viewer):
        M = self.M
        if M is None:
            viewer.printfASCII(f"  learnsolve preconditioner {self.name!r} (not set up)\n")
            return
        info = ", ".join(f"{k}={v}" for k, v in M.info.items())
        viewer.printfASCII(f"  learnsolve preconditioner {M.name!r}: n={M.shape[0]} (rank's diagonal "
                           f"block), linear={M.is_linear}, spd={M.is_spd}\n")
        viewer.printfASCII(f"  set-up {self.setup_time:.3f} s; {info}\n")
