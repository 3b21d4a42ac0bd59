"""The learned algebraic V-cycle across MPI ranks: PETSc's GAMG hierarchy, the learned smoothers.

``PCGAMG`` builds the distributed aggregation hierarchy of any MPIAIJ matrix
(its interpolations, Galerkin operators and coarse solve); on every level the
smoother is then replaced by the one :class:`learnsolve.precond.LearnedAMG`
predicts (``amg-learned``; ``amg-chebyshev``: its classical local-Chebyshev
smoother), each rank predicting its own rows from its rows and its ghost rows'
features (:func:`learnsolve.precond.smoother_values`, three ghost exchanges),
applied with ``KSPRICHARDSON`` + ``PCMAT``.  ``K`` is symmetric, so the cycle
is symmetric and ``-ksp_type cg`` accepts it.  The hierarchy is GAMG's, not the
serial cycle's (PyAMG's aggregation): iteration counts differ from the serial
``amg-learned`` and may move by one or two with the rank count, as GAMG's own do.
GAMG's options apply under the prefix ``-learnsolve_amg_`` (e.g.
``-learnsolve_amg_pc_gamg_threshold 0.02``).
"""

from __future__ import annotations

import time

import numpy as np

from ..precond import NET_MIN_ROWS, RHO_FAIL, smoother_values
from ._comm import collectively, petsc
from ._grid_mg import contraction, fallback_gamg, small_pages, threads_per_rank


class Ghosts:
    """This rank's rows of an MPIAIJ matrix in a local numbering (own columns first, then the
    ghost columns), and the exchange that appends ghost rows' values to a per-row array."""

    def __init__(self, A):
        self.comm = A.getComm()
        self.r0, self.r1 = A.getOwnershipRange()
        self.n = self.r1 - self.r0
        indptr, cols, self.data = A.getValuesCSR()
        self.indptr = np.asarray(indptr, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        own = (cols >= self.r0) & (cols < self.r1)
        self.ghost = np.unique(cols[~own])
        self.global_cols = cols
        self.indices = np.where(own, cols - self.r0,
                                self.n + np.searchsorted(self.ghost, cols)).astype(np.int64)
        self.N = A.getSize()[0]
        self._scatters = {}  # per values-per-row k: the scatter to the ghost rows, built once

    def exchange(self, v):
        """``v`` (``(n, k)``, this rank's rows) with the ghost rows' values appended (collective)."""
        PETSc = petsc()
        v = np.ascontiguousarray(v, dtype=np.float64)
        k = v.shape[1]
        g = PETSc.Vec().createWithArray(v.reshape(-1), size=(v.size, PETSc.DECIDE), bsize=k,
                                        comm=self.comm)
        out = np.empty((self.ghost.size, k))
        loc = PETSc.Vec().createWithArray(out.reshape(-1), bsize=k, comm=PETSc.COMM_SELF)
        if k not in self._scatters:
            iset = PETSc.IS().createBlock(k, self.ghost.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
            self._scatters[k] = PETSc.Scatter().create(g, iset, loc, None)
            iset.destroy()
        self._scatters[k].scatter(g, loc)
        for obj in (loc, g):
            obj.destroy()
        return np.concatenate([v, out])

    def destroy(self):
        for scatter in self._scatters.values():
            scatter.destroy()


def level_smoother(A, parameters, func):
    """The learned (``parameters``) or local-Chebyshev (``None``) smoother of MPIAIJ ``A`` as an
    MPIAIJ matrix on ``A``'s pattern (collective)."""
    PETSc = petsc()
    rows = Ghosts(A)
    d = A.getDiagonal().getArray().copy()
    collectively(rows.comm, func, _positive, d, func)
    s = rows.exchange((1.0 / np.sqrt(d))[:, None])[:, 0]
    values = smoother_values(rows.indptr, rows.indices, np.asarray(rows.data, dtype=np.float64), s,
                             parameters, rows.exchange)
    rows.destroy()
    it = PETSc.IntType
    n, N = rows.n, rows.N
    return PETSc.Mat().createAIJ(size=((n, N), (n, N)), csr=(rows.indptr.astype(it),
                                                            rows.global_cols.astype(it), values),
                                 comm=rows.comm)


def _positive(d, func):
    if d.size and not d.min() > 0:
        raise ValueError(f"{func}: `A` has a diagonal entry <= 0, so it is not SPD; pass an SPD matrix.")


@small_pages()
def build(A, parameters, *, nu=1, min_rows=NET_MIN_ROWS, check=True, func, prefix=""):
    """GAMG's hierarchy of ``A`` with the learned smoothers: ``(pc, smoothers, info)`` (set up;
    the caller keeps ``smoothers`` alive with ``pc``); ``pc`` is plain GAMG, ``info["fallback"]``
    saying why, when the cycle fails the positive-definiteness check."""
    PETSc = petsc()
    comm = A.getComm()
    t0 = time.perf_counter()
    pc = PETSc.PC().create(comm=comm)
    pc.setOptionsPrefix(prefix + "amg_")
    pc.setType(PETSc.PC.Type.GAMG)
    pc.setOperators(A, A)
    pc.setFromOptions()
    pc.setUp()
    t1 = time.perf_counter()
    L = pc.getMGLevels()
    smoothers, network = [], 0
    with threads_per_rank(comm):
        for lev in range(1, L):  # PETSc's level 0 is the coarsest (GAMG's direct solve)
            ksp = pc.getMGSmoother(lev)
            Al = ksp.getOperators()[0]
            use = parameters if Al.getSize()[0] >= min_rows else None
            network += use is not None
            K = level_smoother(Al, use, func)
            down, up = pc.getMGSmootherDown(lev), pc.getMGSmootherUp(lev)
            up.setInitialGuessNonzero(True)  # (PCMG sets it in its set-up, which has run)
            for k in (down, up):
                k.setType(PETSc.KSP.Type.RICHARDSON)
                k.setTolerances(max_it=nu)
                k.setNormType(PETSc.KSP.NormType.NONE)
                k.setOperators(Al, K)
                k.getPC().setType(PETSc.PC.Type.MAT)
                k.setUp()
            smoothers.append(K)
    rows = [pc.getMGSmoother(lev).getOperators()[0].getSize()[0] for lev in range(L - 1, 0, -1)]
    info = dict(levels=L, rows=rows, network_levels=network, ranks=comm.getSize(), nu=nu,
                setup_times=dict(gamg=round(1e3 * (t1 - t0), 1),
                                 smoothers=round(1e3 * (time.perf_counter() - t1), 1)))
    if check:
        e = A.createVecRight()
        r0, r1 = e.getOwnershipRange()
        e.setArray(np.random.default_rng(0).standard_normal(e.getSize())[r0:r1])
        rho = contraction(A, pc, e)
        if not rho < RHO_FAIL:
            pc.destroy()
            why = (f"the learned algebraic cycle is not a convergent SPD preconditioner for this "
                   f"matrix (estimated ρ(I − M A) = {rho:.3g})")
            return fallback_gamg(A, why, func, prefix), smoothers, dict(info, fallback=why)
        info["rho"] = round(float(rho), 4)
    info["setup_s"] = round(time.perf_counter() - t0, 3)
    return pc, smoothers, info


def algebraic_method(name, func):
    """``parameters`` of ``amg-learned`` (its network) or ``None`` for ``amg-chebyshev``; ``False``
    for other names."""
    from ..zoo import shipped

    base, _, options = name.partition(":")
    if base not in ("amg-learned", "amg-chebyshev"):
        return False
    if options:
        raise ValueError(f"{func}: {name!r}: the distributed algebraic cycle takes no options (it "
                         "coarsens with GAMG's aggregation; tune it with -learnsolve_amg_pc_gamg_*); "
                         "use -learnsolve_mg false for the per-rank cycle that takes them.")
    return shipped(base).parameters if base == "amg-learned" else None
