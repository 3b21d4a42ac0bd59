"""The cluster coarse space across MPI ranks, around the distributed grid cycle (balancing form).

Each rank labels the clusters its box and their blocks touch on a wider patch
(:func:`learnsolve.multigrid.patch_clusters`), numbers those whose first cell
it owns, learns the others' numbers from their owners (one exchange) and writes
its rows of ``Z`` (:func:`learnsolve.multigrid.basis_rows`): the serial
space's ``Z`` up to the order of its columns.  ``E = Zᵀ (A Z)`` (PETSc's
``MatTransposeMatMult`` of the ``A Z`` the application needs anyway) is factored
by PETSc's LU on every rank up to :data:`REDUNDANT_RANKS` ranks (``PCREDUNDANT``;
one rank: plain LU) and by MUMPS on more, and the preconditioner is the serial
one, ``M = C + (I − C A) V (I − A C)`` with ``C = Z E⁻¹ Zᵀ`` and ``V`` the cycle.
"""

from __future__ import annotations

import time

import numpy as np

from ..multigrid import BLOCK, CLUSTER_WIDTH, OMEGA, THETA, basis_rows, patch_clusters, patch_operator
from ._comm import any_rank, collectively, petsc
from ._grid_mg import _aij, _gather_patch, small_pages

#: Up to this many ranks ``E`` is gathered onto every rank and factored there (``PCREDUNDANT``
#: + LU); beyond, MUMPS factors it across the ranks.  Measured at 1024² on 2 ranks (44,810
#: clusters): 166 ms set-up and 2.7 ms a solve redundantly, 341 ms and 11.8 ms with MUMPS (its
#: orderings METIS, SCOTCH, AMD and parallel alike); the space solves twice per application.
#: The redundant copy costs every rank the whole factorization, which stops paying as ranks grow.
REDUNDANT_RANKS = 8


class ClusterSpace:
    """``Z`` (MPIAIJ, one column per cluster), ``A Z``, ``E = Zᵀ A Z`` and its factorization;
    :meth:`apply` is the balanced preconditioner around a cycle."""

    def __init__(self, A, Z, func):
        PETSc = petsc()
        self.Z = Z  # A itself is not needed: the application multiplies by A Z
        self.AZ = A.matMult(Z)
        self.E = Z.transposeMatMult(self.AZ)  # = MatPtAP(A, Z) (equal here), 15–20 ms less
        self.E.setOption(PETSc.Mat.Option.SYMMETRIC, True)
        comm = A.getComm()
        self.ksp = PETSc.KSP().create(comm=comm)
        self.ksp.setType(PETSc.KSP.Type.PREONLY)
        self.ksp.setOperators(self.E, self.E)
        pc = self.ksp.getPC()
        self.solver = solver(comm.getSize())
        if self.solver == "redundant":
            pc.setType(PETSc.PC.Type.REDUNDANT)  # its inner solver: LU
        else:
            pc.setType(PETSc.PC.Type.LU)
            if self.solver == "mumps":
                pc.setFactorSolverType("mumps")
        self.ksp.setUp()
        self.m = self.E.getSize()[0]
        self._t, self._u = self.E.createVecs()
        self._c = self._t.duplicate()
        self._w, self._y = A.createVecLeft(), A.createVecLeft()

    def apply(self, cycle, b, out):
        """``out = M b`` with ``M = C + (I − C A) V (I − A C)``, ``V b = cycle(b, y)``."""
        # C b + y − C A y = y + Z E⁻¹ (Zᵀ b − (A Z)ᵀ y), and A C b = (A Z) E⁻¹ Zᵀ b: four
        # products with Z, Zᵀ, A Z and (A Z)ᵀ, none with A
        t, c, u, w, y = self._t, self._c, self._u, self._w, self._y
        self.Z.multTranspose(b, c)  # c = Zᵀ b
        self.ksp.solve(c, u)
        self.AZ.mult(u, w)
        w.aypx(-1.0, b)  # w = b − A C b
        cycle(w, y)  # y = V (I − A C) b
        self.AZ.multTranspose(y, t)
        t.aypx(-1.0, c)  # t = Zᵀ b − (A Z)ᵀ y
        self.ksp.solve(t, u)
        self.Z.mult(u, out)
        out.axpy(1.0, y)

    def destroy(self):
        for obj in (self.ksp, self.E, self.AZ, self.Z, self._t, self._c, self._u, self._w, self._y):
            obj.destroy()


@small_pages()
def build(level, S, func, *, theta=THETA, block=BLOCK, omega=OMEGA, force=False):
    """The cluster space of the fine level (``level.A``, ``level.boxes``; ``S`` its rank's
    stencils): ``(space, info)``, ``space`` ``None`` when ``A`` has no weak coupling on any
    rank and ``force`` is off (collective)."""
    t0 = time.perf_counter()
    A, B = level.A, level.boxes
    comm = A.getComm()
    rank = comm.getRank()
    patch, values = _gather_patch(S, B, rank, comm, width=CLUSTER_WIDTH)
    op = None if patch is None else patch_operator(values, patch)
    names, weak = collectively(comm, func, _labels, op, patch, B, rank, theta, block)
    if not any_rank(comm, weak > 0) and not force:
        return None, {"clusters": 0}
    # number the clusters whose first cell this rank owns, then tell every rank the numbers
    cells = _patch_cells(patch)
    own = np.zeros(names.size, dtype=bool)
    if patch is not None:
        own[:] = True
        for c, (lo, hi) in zip(cells, B.box(rank)):
            own &= (c >= lo) & (c < hi)
    natural = np.ravel_multi_index(cells, B.shape) if patch is not None else names
    firsts = np.sort(natural[own & (names == natural)])
    counts = _all_counts(comm, firsts.size)
    offset = int(counts[:rank].sum())
    number = np.full(int(B.counts[rank]), -1.0)  # per owned cell (box order: natural order)
    number[np.searchsorted(B.natural(rank), firsts)] = offset + np.arange(firsts.size)
    _, rep = _gather_patch(number[:, None], B, rank, comm, width=CLUSTER_WIDTH)
    m = int(counts.sum())
    if patch is None:
        numbers = np.zeros(0, dtype=np.int64)
    else:
        pshape = tuple(hi - lo for lo, hi in patch)
        first = np.unravel_index(names, B.shape)  # inside the patch near the box (used there only)
        at = np.ravel_multi_index(tuple(c - lo for c, (lo, _) in zip(first, patch)), pshape, mode="clip")
        numbers = rep[at, 0].astype(np.int64)
    rows = collectively(comm, func, _basis, op, patch, numbers, B, rank, omega)
    n = int(B.counts[rank])
    Z = _aij(rows, (n, B.n), (firsts.size, m), comm, offset)
    space = ClusterSpace(A, Z, func)
    info = {"clusters": m, "cluster_block": block, "cluster_theta": theta,
            "cluster_setup_s": round(time.perf_counter() - t0, 3),
            "cluster_solver": space.solver}
    return space, info


def solver(ranks):
    """How ``E`` is factored on ``ranks`` ranks: ``"lu"`` (one), ``"redundant"`` (LU on every rank,
    up to :data:`REDUNDANT_RANKS`), ``"mumps"``."""
    return "lu" if ranks == 1 else "redundant" if ranks <= REDUNDANT_RANKS else "mumps"


def _labels(op, patch, boxes, rank, theta, block):
    if op is None:
        return np.zeros(0, dtype=np.int64), 0
    return patch_clusters(op, patch, boxes, rank, theta=theta, block=block)


def _basis(op, patch, numbers, boxes, rank, omega):
    if op is None:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return basis_rows(op, patch, numbers, boxes, rank, omega=omega)


def _patch_cells(patch):
    if patch is None:
        return (np.zeros(0, dtype=np.int64),)
    axes = np.meshgrid(*(np.arange(lo, hi) for lo, hi in patch), indexing="ij")
    return tuple(a.reshape(-1) for a in axes)


def _all_counts(comm, count):
    """Every rank's ``count`` (collective)."""
    PETSc = petsc()
    v = PETSc.Vec().createMPI((1, PETSc.DECIDE), comm=comm)
    v.setArray(np.array([float(count)]))
    scatter, out = PETSc.Scatter.toAll(v)
    scatter.scatter(v, out)
    counts = out.getArray().astype(np.int64).copy()
    for obj in (scatter, out, v):
        obj.destroy()
    return counts
