"""The grid V-cycle across MPI ranks: PETSc's ``PCMG`` filled level by level from each rank's box.

Per level, each rank reads its cells' stencils from its rows of the level
matrix, gathers a patch of them :data:`~learnsolve.multigrid.PATCH_WIDTH`
cells past its box (one PETSc scatter), and on that patch runs the serial
host kernels: the black-box interpolation and the smoother (network or
Jacobi) and the Galerkin coarse stencils ``Pᵀ A P`` (stencil arithmetic, the
serial kernels, faster here than PETSc's ``MatPtAP``: 0.55 s against 0.1 s at
1024² on 2 ranks).  It keeps its own rows of all of them, assembled as MPIAIJ
matrices; the post-smoother is ``Kᵀ``, whose rows the host kernels write with
``K``'s.  The levels go to ``PCMG`` with ``KSPRICHARDSON`` +
``PCMAT`` smoothers (pre ``K``, post ``Kᵀ``, so the cycle is symmetric and
``-ksp_type cg`` accepts it) and a redundant direct solve on the coarsest
grid.  The levels, the guard and the positive-definiteness check are the
serial cycle's (:func:`learnsolve.precond.grid_cycle`), so the cycle is the
serial one up to rounding on any number of ranks; the cluster coarse space is
not part of it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import warnings

import numpy as np

from ..multigrid import (
    PATCH_WIDTH,
    THETA,
    Boxes,
    check_rows,
    coarse_rows,
    coarsen_patch,
    coarsest_cells,
    interpolation_rows,
    matrix_rows,
    offsets,
    patch_operator,
    smoother_rows,
    stencil_rows,
    weak_couplings,
)
from ..multigrid import contraction as multigrid_contraction
from ..ops import split_columns
from ..ops import stencil as kernels
from ..precond import GUARD_RATE, RHO_FAIL
from ._comm import any_rank, collectively, petsc


class Level:
    """One level of the distributed cycle: the matrix ``A``, its split ``boxes``, smoother ``K``
    and ``KT`` (``None`` on the coarsest) and ``P`` from the next coarser level."""

    def __init__(self, A, boxes):
        self.A, self.boxes = A, boxes
        self.K = self.KT = self.P = None
        self.S = None  # the rank's stencils (n_rank, 3^d), kept on the finest level
        self.jumps = True  # the finest level: A has coefficient jumps (weak couplings) somewhere


@contextlib.contextmanager
def small_pages():
    """NumPy's new arrays on small (4 KiB) pages while the block runs: no ``MADV_HUGEPAGE``.

    A distributed set-up allocates its level arrays anew (stencils, patches, CSR rows) and
    writes each once.  On transparent huge pages each first write faults in and zeroes
    2 MiB; on the 2-core test VM that made first writes 5–20× slower than on small pages
    (a 42 MB copy: 80 ms against 12 ms) and the 1024² set-up on 2 ranks about 0.95 s
    against 0.67 s (benchmarks/results/petsc_mg/levels.md).  NumPy's own switch
    (``NUMPY_MADVISE_HUGEPAGE=0``) does the same for a whole process; this one is restored
    after the block.
    """
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _set_madvise_hugepage
    before = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(before)


def grid_levels(A, da, level_smoother, *, coarsest=None, jumps=False, func, times):
    """The levels of the distributed grid cycle of DMDA matrix ``A`` (collective).

    ``level_smoother(op) -> (K, KT, live)`` gives the smoother stencil of a host
    :class:`~learnsolve.multigrid.GridOperator` (here a rank's patch) and its transpose's.
    ``times`` collects milliseconds per stage.  Levels halve the grid until it has at most
    ``coarsest`` cells (default: the serial cycle's :func:`~learnsolve.multigrid.coarsest_cells`).
    With ``jumps`` the finest level's ``jumps`` says whether ``A`` has coefficient jumps on any
    rank (for the guard; otherwise it stays ``True``).
    """
    PETSc = petsc()
    comm = A.getComm()
    rank = comm.getRank()
    dim = da.getDim()
    shape = tuple(int(s) for s in reversed(da.getSizes()[:dim]))
    coarsest = coarsest_cells(shape) if coarsest is None else int(coarsest)
    boxes = _boxes(shape, tuple(tuple(int(c) for c in r) for r in da.getOwnershipRanges()))
    mine = tuple(tuple(int(v) for v in r) for r in reversed(da.getRanges()[:dim]))
    r0, r1 = A.getOwnershipRange()

    def layout():
        if boxes.box(rank) != mine or r1 - r0 != boxes.counts[rank]:
            raise ValueError(f"{func}: the matrix's rows on rank {rank} ({r1 - r0}) are not the DMDA's "
                             f"box {mine}; the grid cycle needs a matrix made by DMCreateMatrix on the "
                             "KSP's DMDA (or the algebraic cycle, -learnsolve_pc amg-learned).")

    collectively(comm, func, layout)
    clock = _Clock(times)
    offs = offsets(dim)
    plan = kernels.boxmg_plan(offs)
    terms = kernels.galerkin_terms(offs, np.array([2 if dim == 3 else 0, 2, 2]))
    star = np.flatnonzero(np.abs(offs).sum(axis=1) <= 1)  # what a STAR DMDA's matrix holds
    S = collectively(comm, func, _stencils, A, boxes, rank, func, star)
    clock("stencils")
    levels = [Level(A, boxes)]
    levels[0].S = S
    split = _split(comm)
    while True:
        lvl = levels[-1]
        B = lvl.boxes
        live = _live_offsets(S, comm)  # a 5/7-point fine level sends 5/7 of its 9/27 offsets
        patch, values = _gather_patch(np.ascontiguousarray(S[:, live]), B, rank, comm)
        clock("exchange")
        op = None if patch is None else patch_operator(values, patch, live)
        if len(levels) == 1:
            collectively(comm, func, _check_symmetric, op, patch, B, rank, func)
            if jumps:  # coefficient jumps anywhere (the serial rule for the guard; collective)
                lvl.jumps = any_rank(comm, op is not None
                                     and weak_couplings(op.S, op.grid, THETA) > 0)
            clock("checks")
        if B.n <= coarsest or min(B.shape) < 3:
            return levels
        coarse = B.coarse()
        Krows = collectively(comm, func, _smoother_rows, level_smoother, op, patch, B, rank, split)
        clock("smoothers")
        Prows, S = collectively(comm, func, _coarse_level, op, patch, B, coarse, rank, plan, terms,
                                split)
        clock("galerkin")
        nloc, cloc = int(B.counts[rank]), int(coarse.counts[rank])
        lvl.K = _aij(Krows[0], (nloc, B.n), (nloc, B.n), comm)
        symmetric = not any_rank(comm, not Krows[1])  # the same choice on every rank (collective)
        lvl.KT = lvl.K if symmetric else PETSc.Mat().createTranspose(lvl.K)
        lvl.P = _aij(Prows, (nloc, B.n), (cloc, coarse.n), comm)
        Ac = _aij(matrix_rows(S, coarse, rank, **split), (cloc, coarse.n), (cloc, coarse.n), comm)
        Ac.setOption(PETSc.Mat.Option.SYMMETRIC, True)
        clock("assembly")
        levels.append(Level(Ac, coarse))


def guard(levels, omega, *, steps=4, first=1):
    """Damped Jacobi on the coarse levels whose smoother does not contract (the serial
    :func:`learnsolve.precond.guard_smoothers`, the same seeded vectors); their indices."""
    replaced = []
    for l in range(first, len(levels) - 1):
        lvl = levels[l]
        e = _seeded(lvl, seed=l)
        e.scale(1.0 / e.norm())
        Ae, y = e.duplicate(), e.duplicate()
        rate = np.inf
        for _ in range(steps):
            for K in (lvl.K, lvl.KT):  # e ← (I − Kᵀ A)(I − K A) e
                lvl.A.mult(e, Ae)
                K.mult(Ae, y)
                e.axpy(-1.0, y)
            rate = e.norm()
            if not np.isfinite(rate) or rate == 0:
                break
            e.scale(1.0 / rate)
        if not rate < GUARD_RATE:
            d = lvl.A.getDiagonal()
            d.reciprocal()
            d.scale(omega)
            lvl.K = lvl.KT = _diagonal(d)
            replaced.append(l)
    return replaced


def pcmg(levels, nu, prefix=""):
    """A ``PCMG`` (set up) applying the V-cycle of ``levels``: Richardson + ``PCMAT`` smoothers,
    ``K`` before and ``Kᵀ`` after the coarse correction, a redundant LU on the coarsest."""
    PETSc = petsc()
    A = levels[0].A
    comm = A.getComm()
    mg = PETSc.PC().create(comm=comm)
    mg.setOptionsPrefix(prefix)
    mg.setType(PETSc.PC.Type.MG)
    L = len(levels)
    mg.setMGLevels(L)
    mg.setMGType(PETSc.PC.MGType.MULTIPLICATIVE)
    mg.setMGCycleType(PETSc.PC.MGCycleType.V)
    for i, lvl in enumerate(levels[:-1]):
        lev = L - 1 - i  # PETSc counts levels from the coarsest
        mg.setMGInterpolation(lev, lvl.P)
        for ksp, K in ((mg.getMGSmootherDown(lev), lvl.K), (mg.getMGSmootherUp(lev), lvl.KT)):
            ksp.setType(PETSc.KSP.Type.RICHARDSON)
            ksp.setTolerances(max_it=nu)
            ksp.setNormType(PETSc.KSP.NormType.NONE)
            ksp.setOperators(lvl.A, K)
            ksp.getPC().setType(PETSc.PC.Type.MAT)
    coarse = mg.getMGCoarseSolve()
    coarse.setType(PETSc.KSP.Type.PREONLY)
    coarse.setOperators(levels[-1].A, levels[-1].A)
    coarse.getPC().setType(PETSc.PC.Type.REDUNDANT if comm.getSize() > 1 else PETSc.PC.Type.LU)
    mg.setOperators(A, A)
    mg.setUp()
    return mg


def contraction(A, pc, e):
    """``ρ(I − M A)`` of preconditioner ``pc`` from start Vec ``e``: the serial check
    (:func:`learnsolve.multigrid.contraction`) on PETSc vectors."""

    def apply(r):
        z = r.duplicate()
        pc.apply(r, z)
        return z

    return multigrid_contraction(lambda v: A * v, apply, e)


@small_pages()
def build(A, da, level_smoother, *, nu=1, omega=None, check=True, func, prefix=""):
    """The distributed cycle of DMDA matrix ``A``: ``(pcmg, levels, info)``; ``pcmg`` is ``None``
    when the positive-definiteness check failed (``info["fallback"]`` says why; the caller falls
    back).  The caller keeps ``levels`` (the level matrices) alive as long as the PC."""
    comm = A.getComm()
    t0 = time.perf_counter()
    times = {}
    with threads_per_rank(comm):
        levels = grid_levels(A, da, level_smoother, jumps=omega is not None, func=func, times=times)
    clock = _Clock(times)
    info = dict(levels=len(levels), grid=levels[0].boxes.shape, ranks=comm.getSize(), nu=nu,
                procs=levels[0].boxes.procs, setup_times=times)
    if omega is not None:  # as the serial cycle: only across coefficient jumps
        info["guarded_levels"] = guard(levels, omega) if levels[0].jumps else []
        clock("guard")
    mg = pcmg(levels, nu, prefix)
    clock("pcmg")
    info["operator_complexity"] = round(sum(lvl.A.getInfo()["nz_used"] for lvl in levels)
                                        / levels[0].A.getInfo()["nz_used"], 3)
    if check:
        rho = contraction(A, mg, _seeded(levels[0], seed=0))  # the serial check's start vector
        clock("check")
        if not rho < RHO_FAIL:
            mg.destroy()
            info["fallback"] = (f"the V-cycle is not a convergent SPD preconditioner for this matrix "
                                f"(estimated ρ(I − M A) = {rho:.3g})")
            return None, levels, info
        info["rho"] = round(float(rho), 4)
    info["setup_s"] = round(time.perf_counter() - t0, 3)
    return mg, levels, info


@contextlib.contextmanager
def threads_per_rank(comm):
    """Numba's and torch's threads limited to this node's cores over its ranks while the block
    runs (one per rank when the ranks fill the node), so ranks do not oversubscribe the cores.

    The ranks on this node are read from OpenMPI's or MPICH's environment
    (``OMPI_COMM_WORLD_LOCAL_SIZE``, ``MPI_LOCALNRANKS``), else taken as all of ``comm``.
    """
    if comm.getSize() == 1:
        yield
        return
    import numba
    import torch

    local = os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE") or os.environ.get("MPI_LOCALNRANKS")
    n = max(1, (os.cpu_count() or 1) // max(1, int(local or comm.getSize())))
    before = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before[0])
        torch.set_num_threads(before[1])


def fallback_gamg(A, why, func, prefix=""):
    """PETSc's GAMG for ``A``, with a warning that says why (the distributed cycle's fallback)."""
    PETSc = petsc()
    warnings.warn(f"{func}: {why}; falling back to PETSc's GAMG.", RuntimeWarning, stacklevel=3)
    pc = PETSc.PC().create(comm=A.getComm())
    pc.setOptionsPrefix(prefix)
    pc.setType(PETSc.PC.Type.GAMG)
    pc.setOperators(A, A)
    pc.setUp()
    return pc


def _stencils(A, boxes, rank, func, likely):
    return stencil_rows(*A.getValuesCSR(), boxes, rank, func, likely=likely)


def _smoother_rows(level_smoother, op, patch, boxes, rank, split):
    """This rank's rows of the level's smoother, and whether it is its own transpose (Jacobi's;
    an empty box does not say otherwise)."""
    if op is None:  # an empty box
        return _empty(split), True
    K, KT, live = level_smoother(op)
    return smoother_rows(K, live, op, patch, boxes, rank, **split), KT is K


def _coarse_level(op, patch, fine, coarse, rank, plan, terms, split):
    """This rank's rows of ``P`` and its coarse cells' Galerkin stencils (from its patch)."""
    if op is None:
        return _empty(split), np.zeros((int(coarse.counts[rank]), 3 ** fine.dim))
    Pc, Sc = coarsen_patch(op, plan, terms)
    return (interpolation_rows(Pc, op, patch, fine, coarse, rank, **split),
            coarse_rows(Sc, op, patch, coarse, rank))


def _check_symmetric(op, patch, boxes, rank, func):
    if op is None:
        return
    asym, scale, low = check_rows(op, patch, boxes, rank)
    if not low > 0:
        raise ValueError(f"{func}: `A` has a diagonal entry <= 0 on rank {rank}, so it is not SPD; "
                         "pass an SPD matrix.")
    if asym > 1e-10 * scale:
        raise ValueError(f"{func}: `A` is not symmetric (max |A - A^T| = {asym:.3g}, max |A| = "
                         f"{scale:.3g}); symmetrize it, e.g. (A + A.T) / 2, or use a solver for "
                         "nonsymmetric systems.")


def _live_offsets(S, comm):
    """The offsets (columns of ``S``) nonzero on some rank (collective)."""
    PETSc = petsc()
    flags = np.any(S != 0, axis=0).astype(float)
    if comm.getSize() > 1:
        v = PETSc.Vec().createMPI((flags.size, PETSc.DECIDE), comm=comm)
        v.setArray(flags)
        scatter, out = PETSc.Scatter.toAll(v)
        scatter.scatter(v, out)
        flags = out.getArray().reshape(-1, flags.size).max(axis=0)
        for obj in (scatter, out, v):
            obj.destroy()
    flags[len(flags) // 2] = 1.0  # the diagonal, always
    return np.flatnonzero(flags)


def _gather_patch(S, boxes, rank, comm, width=None):
    """``(patch, values)``: this rank's patch (``None`` for an empty box; ``width`` cells past
    its box, default :data:`~learnsolve.multigrid.PATCH_WIDTH`) and its cells' rows of ``S``,
    gathered from every rank's ``S`` (``(n_rank, m)``) by one scatter (collective)."""
    PETSc = petsc()
    m = S.shape[1]
    S = np.ascontiguousarray(S, dtype=np.float64)
    g = PETSc.Vec().createWithArray(S.reshape(-1), size=(S.size, PETSc.DECIDE), bsize=m, comm=comm)
    patch, idx = None, np.zeros(0, dtype=np.int64)
    if boxes.counts[rank]:
        width = PATCH_WIDTH if width is None else width
        patch, idx = boxes.patch(rank, width), boxes.patch_index(rank, width)
    iset = PETSc.IS().createBlock(m, idx.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
    values = np.empty((idx.size, m))
    loc = PETSc.Vec().createWithArray(values.reshape(-1), bsize=m, comm=PETSc.COMM_SELF)
    scatter = PETSc.Scatter().create(g, iset, loc, None)
    scatter.scatter(g, loc)
    for obj in (scatter, loc, iset, g):
        obj.destroy()
    return patch, values


@functools.lru_cache(maxsize=4)
def _boxes(shape, counts):
    """The :class:`Boxes` of a DMDA's split, kept for its next set-ups with their coarser splits,
    neighbour tables and patch indices: about 40 ms a set-up saved at 1024² on 2 ranks, for some
    40 MB a rank kept (int64 tables of 5–9 columns per level)."""
    return Boxes.from_counts(shape, counts)


def _aij(csr, rows, cols, comm, col_start=0):
    """An AIJ matrix from this rank's rows: CSR ``(indptr, indices, data)`` with global columns
    (sorted in each row), or already split into the blocks of the columns the rank owns and the
    others (``blocks=True`` of the row functions); ``rows``/``cols`` are ``(local, global)``
    sizes and ``col_start`` the first column this rank owns.

    PETSc takes the arrays without copying them (the matrix keeps them): on several ranks
    as the diagonal and off-diagonal blocks (``MatCreateMPIAIJWithSplitArrays``), about 15 ms
    against 80 ms for ``MatCreateMPIAIJWithArrays`` (which inserts row by row) for a 9-point
    matrix of 524k rows.
    """
    PETSc = petsc()
    it = PETSc.IntType
    if isinstance(csr[0], tuple):
        arrays = csr
    elif comm.getSize() == 1:
        indptr, indices, data = csr
        arrays = (np.asarray(indptr, dtype=it), np.asarray(indices, dtype=it),
                  np.ascontiguousarray(data, dtype=np.float64))
    else:
        arrays = split_columns(*csr, int(col_start), int(col_start) + cols[0], it)
    return PETSc.Mat().createAIJWithArrays(size=(rows, cols), csr=arrays, comm=comm)


def _split(comm):
    """The row functions' options for :func:`_aij` on ``comm``: PETSc's index type, and the
    diagonal/off-diagonal blocks on several ranks."""
    return {"blocks": comm.getSize() > 1, "index_dtype": petsc().IntType}


def _diagonal(d):
    """The diagonal MPIAIJ matrix of Vec ``d``."""
    PETSc = petsc()
    r0, r1 = d.getOwnershipRange()
    n = r1 - r0
    it = PETSc.IntType
    return PETSc.Mat().createAIJ(size=((n, d.getSize()), (n, d.getSize())),
                                 csr=(np.arange(n + 1, dtype=it), np.arange(r0, r1, dtype=it),
                                      d.getArray().copy()), comm=d.getComm())


def _empty(split):
    """CSR arrays of no rows (both blocks with ``split["blocks"]``)."""
    it = split["index_dtype"]
    csr = np.zeros(1, it), np.zeros(0, it), np.zeros(0)
    return (csr, csr) if split["blocks"] else csr


def _seeded(lvl, seed):
    """The serial check's seeded random vector on level ``lvl`` (natural order), this rank's part."""
    v = lvl.A.createVecRight()
    v.setArray(_normal(seed, lvl.boxes.n)[lvl.boxes.natural(lvl.A.getComm().getRank())])
    return v


@functools.lru_cache(maxsize=2)
def _normal(seed, n):
    """``n`` standard normal numbers of ``seed`` (every rank draws all of them; kept for the next
    set-up, read-only)."""
    out = np.random.default_rng(seed).standard_normal(n)
    out.flags.writeable = False
    return out


class _Clock:
    """``clock(stage)`` adds the milliseconds since the last call to ``times[stage]``."""

    def __init__(self, times):
        self.times, self.last = times, time.perf_counter()

    def __call__(self, stage):
        now = time.perf_counter()
        self.times[stage] = round(self.times.get(stage, 0.0) + 1e3 * (now - self.last), 1)
        self.last = now


def grid_method(name, shape, func):
    """``(level_smoother, nu, omega, clusters)`` of grid-cycle name ``name`` (``gmg-jacobi``, a
    learned V-cycle such as ``vcycle-2d``, optionally ending in ``:clusters``/``:noclusters``)
    for a grid of ``shape``, ``None`` for other names.  ``omega`` is the guard's Jacobi damping
    (``None``: no guard); ``clusters`` is ``"auto"``, ``True`` or ``False``."""
    from ..precond import LearnedVCycle, jacobi_level_smoother
    from ..zoo import available, shipped

    base, _, options = name.partition(":")
    if base == "gmg-jacobi":
        method = jacobi_level_smoother(0.65), 1, None
    elif base in available() and isinstance(shipped(base), LearnedVCycle):
        model = shipped(base)
        if shape is not None:  # a model for another dimension: NotAGrid naming the right one
            model.grid_shape(None, shape, func)
        method = model.level_smoother, int(model.meta.get("nu", 1)), model.model.omega
    else:
        return None
    options = [o for o in options.split(":") if o]
    if any(o not in ("clusters", "noclusters") for o in options):
        raise ValueError(f"{func}: {name!r}: the distributed cycle takes no options but ':clusters' "
                         "and ':noclusters' (it runs in float64); drop them, or use -learnsolve_mg "
                         "false for the per-rank (block-Jacobi) cycle that takes them.")
    clusters = {"clusters": True, "noclusters": False}[options[-1]] if options else "auto"
    return (*method, clusters)
