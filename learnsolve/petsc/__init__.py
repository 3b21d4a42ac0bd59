"""learnsolve preconditioners inside PETSc: a ``PCPYTHON`` context chosen by options.

A PETSc code (C, Fortran or petsc4py) picks it at run time::

    -pc_type python -pc_python_type learnsolve.petsc.PC -learnsolve_pc vcycle-2d

or from Python with ``pc.setType('python'); pc.setPythonContext(learnsolve.petsc.PC('ic0'))``.
(A C program must call ``PetscPythonInitialize(NULL, NULL)`` after
``PetscInitialize`` so that PETSc can load Python preconditioners.)

On several ranks the grid cycles (``vcycle-2d``/``-3d``, ``gmg-jacobi``) on a
DMDA are distributed: the learned V-cycle across ranks as PETSc's ``PCMG``,
built level by level from each rank's box (:mod:`learnsolve.petsc._grid_mg`),
the same cycle as on one rank up to rounding.  Every other preconditioner is
built per rank: ``setUp`` reads each rank's rows (``MatGetValuesCSR``), keeps
the diagonal block (columns the rank owns) and builds the learnsolve
preconditioner on it, so on several ranks it acts as block Jacobi over ranks
(on a DMDA the grid methods, ``dcdm-*`` included, read the sub-grid's shape
from the DM).  Set-up failures (unknown name, non-symmetric operator, a model
for another problem kind, a grid cycle on several ranks without a DMDA) are
agreed on by all ranks before anyone raises, so an MPI job stops with the
message instead of hanging.

Options (with the KSP's prefix):

``-learnsolve_pc NAME``
    Any name of ``learnsolve.precond.build`` or ``learnsolve.pretrained()``.
    Default: ``vcycle-<d>d`` on a DMDA, ``ic0`` otherwise.
``-learnsolve_check BOOL``
    Positive-definiteness check of the V-cycles (default true).  A distributed
    cycle that fails it falls back, with a warning, to PETSc's GAMG.
``-learnsolve_mg BOOL``
    The distributed cycles (true): the grid cycles on a DMDA as one ``PCMG``
    (:mod:`learnsolve.petsc._grid_mg`), ``amg-learned``/``amg-chebyshev`` on
    any MPIAIJ matrix as GAMG's hierarchy with the learned smoothers
    (:mod:`learnsolve.petsc._amg_mg`); or the per-rank cycles (false: block
    Jacobi over ranks, with the cluster coarse space and the name options).
    Default: distributed on more than one rank.
``-learnsolve_reuse_interpolation BOOL``
    When the operator changes (a new ``PCSetUp`` with the same method and
    size), refresh the in-process algebraic cycle (``amg-learned``,
    ``amg-chebyshev``: the same coarsening, new Galerkin levels, coarsest LU,
    smoothers and check) instead of building it anew, as GAMG's
    ``-pc_gamg_reuse_interpolation`` does.  One rank, or ``-learnsolve_mg
    false``; other methods build anew.  Default false.

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

from ._comm import collectively
from ._comm import petsc as _petsc

#: The checkout (or site-packages) folder that holds the ``learnsolve`` package.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEXIBLE_KSP = ("fcg", "pipefcg", "fgmres", "gcr", "pipegcr")


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
    >>> env["PYTHONPATH"].split(os.pathsep)[0] == ROOT
    True
    """
    import site

    env = dict(os.environ if env is None else env)
    paths = [ROOT, *site.getsitepackages()]
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


def distributed_grid_cycle(A, da, name=None, *, check=True):
    """The distributed grid V-cycle of a DMDA matrix as a set-up PETSc ``PCMG`` (collective).

    What ``-learnsolve_pc NAME`` builds on several ranks, without the cluster
    space, for codes (and benchmarks) that want the ``PCMG`` itself.

    Parameters
    ----------
    A : petsc4py.PETSc.Mat
        MPIAIJ matrix from ``DMCreateMatrix`` on ``da`` (SPD).
    da : petsc4py.PETSc.DMDA
    name : str, optional
        ``vcycle-2d``/``-3d`` (default: the DMDA's dimension) or ``gmg-jacobi``.
    check : bool
        The positive-definiteness check (a failed one raises).

    Returns
    -------
    pc : petsc4py.PETSc.PC
    levels : list
        Per level ``A``, ``K``, ``KT``, ``P`` (from the next coarser) and ``boxes`` (keep them
        with ``pc``).
    info : dict
    """
    from . import _grid_mg

    dim = da.getDim()
    name = name or f"vcycle-{dim}d"
    func = f"learnsolve.petsc.distributed_grid_cycle({name!r})"
    method = _grid_mg.grid_method(name, tuple(reversed(da.getSizes()[:dim])), func)
    if method is None:
        raise ValueError(f"{func}: {name!r} is not a grid cycle; use vcycle-2d, vcycle-3d or gmg-jacobi.")
    smoother, nu, omega, _ = method
    pc, levels, info = _grid_mg.build(A, da, smoother, nu=nu, omega=omega, check=check, func=func)
    if pc is None:
        raise RuntimeError(f"{func}: {info['fallback']}")
    return pc, levels, info


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
    reuse_interpolation : bool
        Refresh the algebraic cycle on a new operator instead of rebuilding it
        (``-learnsolve_reuse_interpolation``; see the module).

    Attributes
    ----------
    M : learnsolve.precond.Preconditioner
        What ``setUp`` built (``None`` before).

    Examples
    --------
    >>> import learnsolve.petsc  # doctest: +SKIP
    >>> pc.setType("python"); pc.setPythonContext(learnsolve.petsc.PC("vcycle-2d"))  # doctest: +SKIP
    """

    def __init__(self, name=None, *, check=True, shape=None, mg=None, reuse_interpolation=False):
        self.name = name
        self.check = bool(check)
        self.reuse_interpolation = bool(reuse_interpolation)
        self._previous = None  # the last set-up's preconditioner (for reuse_interpolation)
        self._built = None  # the name it was built for
        self.shape = shape
        self.mg = mg  # None: distributed on more than one rank
        self.M = None
        self.inner = None  # the distributed cycle's PCMG (or its GAMG fallback)
        self.space = None  # the distributed cluster space around it
        self.levels = None
        self.info = {}
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
        if opts.hasName("learnsolve_mg"):
            self.mg = opts.getBool("learnsolve_mg")
        if opts.hasName("learnsolve_reuse_interpolation"):
            self.reuse_interpolation = opts.getBool("learnsolve_reuse_interpolation")
        if opts.hasName("ksp_type"):
            self.ksp_type = opts.getString("ksp_type")

    def setUp(self, pc):
        from . import _amg_mg, _grid_mg

        t0 = time.perf_counter()
        _register(self, pc)
        self._release()
        _, P = pc.getOperators()
        comm = pc.getComm()
        dim, grid = dm_grid(pc)
        name = self.name or (f"vcycle-{dim}d" if dim in (2, 3) else "ic0")
        what = f"learnsolve.petsc.PC: -learnsolve_pc {name}"
        if self.mg is not False and (self.mg or comm.getSize() > 1):
            shape = None if dim is None else tuple(reversed(pc.getDM().getSizes()[:dim]))
            method = collectively(comm, what, _grid_mg.grid_method, name, shape, what)
            if method is not None:
                if dim is None:
                    raise RuntimeError(
                        f"{what}: the distributed grid cycle needs the grid: a matrix from "
                        "DMCreateMatrix on a DMDA given to the KSP (KSPSetDM, KSPSetDMActive false); "
                        "for a matrix without one use the algebraic cycle, -learnsolve_pc "
                        "amg-learned, or -learnsolve_mg false for a grid cycle per rank")
                self._distributed(pc, P, method, name, what, t0)
                return
            parameters = collectively(comm, what, _amg_mg.algebraic_method, name, what)
            if parameters is not False:
                self._algebraic(pc, P, parameters, name, what, t0)
                return
        self._per_rank(pc, P, dim, grid, name, what, t0)

    def _algebraic(self, pc, P, parameters, name, what, t0):
        from . import _amg_mg

        prefix = (pc.getOptionsPrefix() or "") + "learnsolve_"
        inner, smoothers, info = _amg_mg.build(P, parameters, check=self.check, func=what,
                                               prefix=prefix)
        self.inner, self.levels, self.info, self.name = inner, smoothers, info, name
        self.setup_time = time.perf_counter() - t0

    def _distributed(self, pc, P, method, name, what, t0):
        from ..multigrid import RHO_GATE
        from . import _clusters_mg, _grid_mg

        smoother, nu, omega, clusters = method
        prefix = (pc.getOptionsPrefix() or "") + "learnsolve_"
        inner, levels, info = _grid_mg.build(P, pc.getDM(), smoother, nu=nu, omega=omega,
                                             check=self.check, func=what, prefix=prefix)
        if inner is None:
            inner = _grid_mg.fallback_gamg(P, info["fallback"], what, prefix)
        elif clusters and (clusters is True or info.get("rho") is None or info["rho"] > RHO_GATE):
            # as the serial cycle: the space when A has coefficient jumps and the cycle alone
            # contracts worse than RHO_GATE (always with :clusters, or with the check off)
            space, more = _clusters_mg.build(levels[0], levels[0].S, what, force=clusters is True)
            info.update(more)
            self.space = space
        self.inner, self.levels, self.info, self.name = inner, levels, info, name
        self.setup_time = time.perf_counter() - t0

    def _per_rank(self, pc, P, dim, grid, name, what, t0):
        from .. import precond

        def build():
            block = diagonal_block(P)
            if block.shape[0] == 0:  # a rank with no rows: nothing to precondition here
                return precond.Preconditioner(lambda r: r.copy(), (0, 0), np.float64, name=name,
                                              info={"rows": 0})
            M = self._refreshed(block, name)
            if M is None:
                M = precond.build(name, block, grid_shape=grid or self.shape)
            if not getattr(M, "is_linear", True):
                ksp = (self.ksp_type or "").lower()
                if ksp not in FLEXIBLE_KSP:
                    raise ValueError(
                        f"{name!r} is a nonlinear direction map (is_linear=False) but the KSP is "
                        f"{self.ksp_type or 'not a flexible method'!r}; use -ksp_type fcg or fgmres "
                        "with it, or a linear SPD preconditioner (e.g. -learnsolve_pc "
                        f"vcycle-{dim or 2}d) with -ksp_type cg")
            return M

        self.M = collectively(pc.getComm(), what, build)
        self.name, self._built, self.info = name, name, dict(self.M.info)
        self.setup_time = time.perf_counter() - t0

    def _refreshed(self, block, name):
        """With ``reuse_interpolation``, the last set-up's algebraic cycle refreshed for ``block``
        (its coarsening kept, as GAMG's ``-pc_gamg_reuse_interpolation``), or ``None``."""
        prev = self._previous
        if (not self.reuse_interpolation or prev is None or name != self._built
                or tuple(prev.shape) != tuple(block.shape) or not hasattr(prev, "refresh")):
            return None
        return prev.refresh(block)

    def _release(self):
        """Free the previous set-up's distributed cycle (a new operator is being set up)."""
        if self.space is not None:
            self.space.destroy()
            self.space = None
        if self.inner is not None:
            self.inner.destroy()
            for lvl in self.levels or ():  # grid levels, or the algebraic cycle's smoothers
                mats = (lvl.K, lvl.KT, lvl.P) if hasattr(lvl, "K") else (lvl,)
                for mat in {id(m): m for m in mats if m is not None}.values():
                    mat.destroy()
            self.inner = self.levels = None
        self._previous, self.M = self.M, None

    def apply(self, pc, x, y):
        if self.space is not None:
            self.space.apply(self.inner.apply, x, y)
            return
        if self.inner is not None:
            self.inner.apply(x, y)
            return
        # x.array_r: a read-only view released properly (passing getArray(readonly=True) on to
        # NumPy code crashed the interpreter at exit with petsc4py 3.18)
        y.setArray(self.M._matvec(x.array_r))

    def applyTranspose(self, pc, x, y):
        if self.inner is None and not self.M.is_spd:
            raise RuntimeError(f"learnsolve.petsc.PC: {self.name!r} is not symmetric; its transpose "
                               "is not available.")
        self.apply(pc, x, y)  # the distributed cycle is symmetric (K before, Kᵀ after)

    def view(self, pc, viewer):
        info = ", ".join(f"{k}={v}" for k, v in self.info.items())
        if self.inner is not None:
            kind = ("PETSc GAMG (fallback)" if "fallback" in self.info else
                    "GAMG's levels, learnsolve smoothers" if "network_levels" in self.info else "PCMG")
            cycle = "algebraic" if "network_levels" in self.info else "grid"
            viewer.printfASCII(f"  learnsolve preconditioner {self.name!r}: distributed {cycle} V-cycle "
                               f"across {pc.getComm().getSize()} ranks ({kind}), linear=True, "
                               "spd=True\n")
            viewer.printfASCII(f"  set-up {self.setup_time:.3f} s; {info}\n")
            return
        M = self.M
        if M is None:
            viewer.printfASCII(f"  learnsolve preconditioner {self.name!r} (not set up)\n")
            return
        viewer.printfASCII(f"  learnsolve preconditioner {M.name!r}: n={M.shape[0]} (rank's diagonal "
                           f"block), linear={M.is_linear}, spd={M.is_spd}\n")
        viewer.printfASCII(f"  set-up {self.setup_time:.3f} s; {info}\n")
