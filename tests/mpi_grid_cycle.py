"""The distributed grid cycle on the ranks of ``mpiexec -n N`` (run by tests/test_petsc_mg.py).

Prints one JSON line (rank 0): per problem the CG iterations and true residual with
``-learnsolve_pc vcycle-<d>d`` as a distributed cycle (``:clusters`` for ``clusters-*``), the
symmetry defect ``|yᵀ M x − xᵀ M y| / |yᵀ M x|``, the largest difference of ``M r`` from the
serial preconditioner's (``learnsolve.pretrained(...).aspreconditioner``, the same cluster-space
rule) relative to its largest entry; the distributed algebraic cycles on the bare matrix; and
the messages of the bad inputs.
"""

import json
import os
import sys

import petsc4py

petsc4py.init(sys.argv)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from petsc4py import PETSc  # noqa: E402

import learnsolve  # noqa: E402
import learnsolve.petsc  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                                "petsc_python"))
from diffusion import assemble, field  # noqa: E402

COMM = PETSc.COMM_WORLD
PROBLEMS = {"blocks-2d": (2, 256, "blocks"),  # 256²: a 16×16 coarsest grid, sparse LU
            "lognormal-2d": (2, 64, "lognormal"),
            "lognormal-3d": (3, 16, "lognormal"), "clusters-2d": (2, 48, "piecewise"),
            "clusters-2d-mumps": (2, 48, "piecewise")}  # E factored by MUMPS on 2 and 4 ranks


def dmda(shape, comm=COMM, ranges=None):
    kw = {} if ranges is None else {"ownership_ranges": ranges,
                                    "proc_sizes": tuple(len(r) for r in ranges)}
    return PETSc.DMDA().create(list(reversed(shape)), dof=1, stencil_width=1,
                               stencil_type=PETSc.DMDA.StencilType.STAR, comm=comm, **kw)


def ksp_for(A, da, name, mg=True):
    ksp = PETSc.KSP().create(comm=A.getComm())
    if da is not None:
        ksp.setDM(da)
        ksp.setDMActive(False)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.setTolerances(rtol=1e-8, atol=0.0, max_it=500)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(learnsolve.petsc.PC(name, mg=mg))
    return ksp


def solve(A, da, name, mg=True):
    ksp = ksp_for(A, da, name, mg)
    b = A.createVecLeft()
    b.set(1.0)
    x, r = b.duplicate(), b.duplicate()
    ksp.solve(b, x)
    A.mult(x, r)
    r.aypx(-1.0, b)
    return ksp, ksp.getIterationNumber(), r.norm() / b.norm(), int(ksp.getConvergedReason())


def natural_vec(A, da, values):
    """A Vec holding ``values`` (natural order, the whole grid) on this rank's cells."""
    from learnsolve.multigrid import Boxes

    dim = da.getDim()
    B = Boxes.from_counts(tuple(reversed(da.getSizes()[:dim])), da.getOwnershipRanges())
    v = A.createVecRight()
    nat = B.natural(COMM.getRank())
    v.setArray(values[nat])
    return v, nat


def check(key):
    dim, n, kind = PROBLEMS[key]
    shape = (n,) * dim
    k = field(shape, kind)
    da = dmda(shape)
    A = assemble(da, k)
    clusters = key.startswith("clusters")
    from learnsolve.petsc import _clusters_mg

    before = _clusters_mg.REDUNDANT_RANKS
    _clusters_mg.REDUNDANT_RANKS = 0 if key.endswith("mumps") else before
    try:
        ksp, its, relres, reason = solve(A, da, f"vcycle-{dim}d" + (":clusters" if clusters else ""))
    finally:
        _clusters_mg.REDUNDANT_RANKS = before
    pc = ksp.getPC()
    rng = np.random.default_rng(7)
    u, w = rng.standard_normal((2, n ** dim))
    x, nat = natural_vec(A, da, u)
    y, _ = natural_vec(A, da, w)
    Mx, My = x.duplicate(), y.duplicate()
    pc.apply(x, Mx)
    pc.apply(y, My)
    sym = abs(y.dot(Mx) - x.dot(My)) / abs(y.dot(Mx))
    # the serial cycle of the whole matrix, on every rank
    whole = assemble(dmda(shape, PETSc.COMM_SELF), k)
    indptr, indices, data = whole.getValuesCSR()
    As = sp.csr_array((data, indices, indptr), shape=(n ** dim,) * 2)
    M = learnsolve.pretrained(f"vcycle-{dim}d").aspreconditioner(As, shape,
                                                                 clusters=True if clusters else "auto")
    ref = (M @ u)[nat]
    local = np.abs(Mx.getArray() - ref).max() / np.abs(M @ u).max()
    diff = A.createVecLeft()
    diff.set(local)
    return dict(its=its, relres=relres, reason=reason, sym=sym, serial=diff.max()[1],
                serial_clusters=M.info.get("clusters", 0),
                info={k: v for k, v in pc.getPythonContext().info.items() if k != "setup_times"})


def error_of(fn):
    try:
        fn()
    except Exception as exc:  # what PETSc raised through the python PC
        return str(exc)
    return None


def bad_inputs():
    out = {}
    shape = (32, 32)
    k = field(shape, "blocks")
    da = dmda(shape)
    A = assemble(da, k)
    # the grid matrix without its DMDA: on several ranks the grid cycle needs the grid
    out["no_dmda"] = error_of(lambda: solve(A, None, "vcycle-2d"))
    # a non-symmetric matrix: one rank changes a coupling, every rank stops with the message
    N = A.duplicate(copy=True)
    r0 = N.getOwnershipRange()[0]
    if COMM.getRank() == COMM.getSize() - 1:
        cols, vals = N.getRow(r0)
        off = np.flatnonzero(cols != r0)[0]
        N.setValue(r0, cols[off], 2 * vals[off])
    N.assemble()
    out["nonsymmetric"] = error_of(lambda: solve(N, da, "vcycle-2d"))
    out["options"] = error_of(lambda: solve(A, da, "vcycle-2d:float32"))
    out["other_dim"] = error_of(lambda: solve(A, da, "vcycle-3d"))
    # one rank one column wide: its boxes are empty from the second level on
    size = COMM.getSize()
    xs = [1] + [(31 + i) // (size - 1) for i in range(size - 1)] if size > 1 else [32]
    da1 = dmda(shape, ranges=(xs, [32]) if size > 1 else None)
    _, its, relres, reason = solve(assemble(da1, k), da1, "vcycle-2d")
    _, its_ref, _, _ = solve(A, da, "vcycle-2d")
    out["narrow_rank"] = dict(its=its, its_ref=its_ref, relres=relres, reason=reason)
    # Jacobi smoothing (K = Kᵀ) with empty boxes: every rank must make the same transpose choice
    out["narrow_rank_jacobi"] = solve(assemble(da1, k), da1, "gmg-jacobi")[1:]
    # a bare matrix whose rank 0 has no rows: the algebraic cycle and a per-rank preconditioner
    p = learnsolve.problems.diffusion(48, variance=1.0, seed=2)
    S, n = p.A.tocsr(), p.A.shape[0]
    counts = [n] if size == 1 else [0] + [n // (size - 1) + (i < n % (size - 1)) for i in range(size - 1)]
    r0 = sum(counts[:COMM.getRank()])
    rows = S[r0:r0 + counts[COMM.getRank()]]
    it = PETSc.IntType
    Z = PETSc.Mat().createAIJ(size=((rows.shape[0], n), (rows.shape[0], n)), comm=COMM,
                              csr=(rows.indptr.astype(it), rows.indices.astype(it), rows.data))
    out["zero_rows"] = {name: solve(Z, None, name)[1:] for name in ("amg-learned", "ic0")}
    return out


def algebraic():
    """amg-learned / amg-chebyshev on the bare matrix (no DMDA): GAMG's levels, learned smoothers."""
    out = {}
    shape = (160, 160)  # 25,600 rows: the finest level gets the network (NET_MIN_ROWS)
    A = assemble(dmda(shape), field(shape, "lognormal"))
    r0, r1 = A.getOwnershipRange()
    for name in ("amg-learned", "amg-chebyshev"):
        ksp, its, relres, reason = solve(A, None, name)
        pc = ksp.getPC()
        x, y = A.createVecs()
        u, w = np.random.default_rng(3).standard_normal((2, A.getSize()[0]))
        x.setArray(u[r0:r1])
        y.setArray(w[r0:r1])
        Mx, My = x.duplicate(), y.duplicate()
        pc.apply(x, Mx)
        pc.apply(y, My)
        out[name] = dict(its=its, relres=relres, reason=reason,
                         sym=abs(y.dot(Mx) - x.dot(My)) / abs(y.dot(Mx)),
                         info={k: v for k, v in pc.getPythonContext().info.items() if k != "setup_times"})
    gamg = PETSc.KSP().create(comm=COMM)
    gamg.setOperators(A)
    gamg.setType("cg")
    gamg.setTolerances(rtol=1e-8, atol=0.0, max_it=500)
    gamg.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    gamg.getPC().setType("gamg")
    b, x = A.createVecs()
    b.set(1.0)
    gamg.solve(b, x)
    out["gamg_its"] = gamg.getIterationNumber()
    return out


def main():
    result = {"ranks": COMM.getSize(), **{key: check(key) for key in PROBLEMS}, "algebraic": algebraic(),
              "bad": bad_inputs()}
    if COMM.getRank() == 0:
        print("RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
