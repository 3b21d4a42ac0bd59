"""2D/3D variable-coefficient diffusion on a PETSc DMDA from petsc4py, preconditioned by learnsolve.

With the default ``-field blocks`` in 2D, the problem of ``examples/petsc_c/diffusion.c``
(same coefficient field, same matrix, same right-hand side), assembled with
NumPy instead of a loop.  The preconditioner is set from Python
(``learnsolve.petsc.PC('vcycle-<d>d')``) and every PETSc option still overrides it::

    .venv-petsc/bin/python examples/petsc_python/diffusion.py -n 256
    mpiexec -n 2 .venv-petsc/bin/python examples/petsc_python/diffusion.py -n 1024 -field lognormal
    mpiexec -n 2 .venv-petsc/bin/python examples/petsc_python/diffusion.py -dim 3 -n 100
    .venv-petsc/bin/python examples/petsc_python/diffusion.py -pc_type hypre      # PETSc's own PCs too

On several ranks ``vcycle-2d``/``-3d`` run as one distributed V-cycle (PETSc's
PCMG, built by ``learnsolve.petsc.PC``); ``-learnsolve_mg false`` gives the
per-rank (block-Jacobi) cycle instead.

Options: ``-n <256>`` cells per side, ``-dim <2>``, ``-field <blocks>`` (``blocks``: the C
example's 1-or-contrast field on ``-blocks <16>`` blocks per side; ``lognormal``: ``exp(g)``;
``piecewise``: ``contrast`` where ``g > 0``; ``g`` a Gaussian random field of variance
``-variance <1>`` from ``learnsolve.problems``, seed ``-seed <0>``), ``-contrast <1e4>``,
``-repeat <1>`` (set up and solve this many times, report the medians of repeats 2..),
``-use_dm <true>`` (false: the KSP gets the bare matrix, and the default preconditioner is the
algebraic ``amg-learned``), plus any KSP/PC option.
"""

import sys
import time

import petsc4py

petsc4py.init(sys.argv)

import numpy as np  # noqa: E402
from petsc4py import PETSc  # noqa: E402

import learnsolve.petsc  # noqa: E402
from learnsolve.problems import gaussian_random_field  # noqa: E402


def coefficient(index, n, blocks, contrast):
    """The C example's field: 1 or ``contrast`` per block, by a hash of the block index
    (``index``: the cell's ``(i, j)``, x first; a third index ``k`` in 3D)."""
    mask = np.uint64(0xFFFFFFFF)
    h = np.zeros(np.shape(index[0]), dtype=np.uint64)
    for a, prime in zip(index, (73856093, 19349663, 83492791)):
        h ^= ((np.asarray(a) * blocks // n).astype(np.uint64) * np.uint64(prime)) & mask
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0x5BD1E995)) & mask
    h ^= h >> np.uint64(15)
    return np.where(h & np.uint64(1), contrast, 1.0)


def field(shape, kind, *, blocks=16, contrast=1e4, variance=1.0, seed=0):
    """Cell coefficients on ``shape`` (C order), the same on every rank."""
    if kind == "blocks":
        idx = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")[::-1]  # i (x), j (y), k
        return coefficient(idx, shape[-1], blocks, contrast)
    g = gaussian_random_field(shape, variance=variance, seed=seed)
    if kind == "lognormal":
        return np.exp(g)
    if kind == "piecewise":
        return np.where(g > 0, contrast, 1.0)
    raise ValueError(f"diffusion.py: -field must be blocks, lognormal or piecewise, got {kind!r}")


def assemble(da, k):
    """The rank's rows of the 5/7-point matrix of cell field ``k`` (harmonic face coefficients,
    Dirichlet boundary: a boundary face gets ``2 k``)."""
    shape = k.shape
    dim = len(shape)
    ranges = [range(*r) for r in reversed(da.getRanges()[:dim])]  # C order
    cells = [a.reshape(-1) for a in np.meshgrid(*[np.arange(r.start, r.stop) for r in ranges],
                                                indexing="ij")]
    kc = k[tuple(cells)]
    local = np.arange(kc.size)
    rows, cols, vals = [], [], []
    diag = np.zeros(kc.size)
    for axis in reversed(range(dim)):  # x first: the C example sums the diagonal in that order
        for step in (-1, 1):
            nb = [c.copy() for c in cells]
            nb[axis] += step
            inside = (nb[axis] >= 0) & (nb[axis] < shape[axis])
            nb[axis] = np.clip(nb[axis], 0, shape[axis] - 1)
            kn = k[tuple(nb)]
            face = np.where(inside, 2 * kc * kn / (kc + kn), 2 * kc)
            diag += face
            rows.append(local[inside])
            cols.append(np.ravel_multi_index(tuple(c[inside] for c in nb), shape))
            vals.append(-face[inside])
    nat = np.concatenate(cols + [np.ravel_multi_index(tuple(cells), shape)]).astype(PETSc.IntType)
    glob = da.getAO().app2petsc(nat)  # natural ordering -> PETSc's
    import scipy.sparse as sp

    N = int(np.prod(shape))
    A = sp.csr_array((np.concatenate(vals + [diag]), (np.concatenate(rows + [local]), glob)),
                     shape=(kc.size, N))
    A.sort_indices()
    it = PETSc.IntType
    M = PETSc.Mat().createAIJ(size=((kc.size, N), (kc.size, N)),
                              csr=(A.indptr.astype(it), A.indices.astype(it), A.data), comm=da.comm)
    M.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    return M


def main():
    opts = PETSc.Options()
    n = opts.getInt("n", 256)
    dim = opts.getInt("dim", 2)
    kind = opts.getString("field", "blocks")
    contrast = opts.getReal("contrast", 1e4)
    repeat = opts.getInt("repeat", 1)
    k = field((n,) * dim, kind, blocks=opts.getInt("blocks", 16), contrast=contrast,
              variance=opts.getReal("variance", 1.0), seed=opts.getInt("seed", 0))
    da = PETSc.DMDA().create([n] * dim, dof=1, stencil_width=1, stencil_type=PETSc.DMDA.StencilType.STAR,
                             comm=PETSc.COMM_WORLD)
    A = assemble(da, k)
    b = A.createVecLeft()
    b.set(1.0 / n**2)
    x, r = b.duplicate(), b.duplicate()

    ksp = PETSc.KSP().create(comm=da.comm)
    if opts.getBool("use_dm", True):  # -use_dm false: a bare MPIAIJ matrix (the algebraic cycles)
        ksp.setDM(da)
        ksp.setDMActive(False)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.setTolerances(rtol=1e-6)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    pc = ksp.getPC()
    pc.setType("python")
    default = f"vcycle-{dim}d" if opts.getBool("use_dm", True) else "amg-learned"
    pc.setPythonContext(learnsolve.petsc.PC(default))  # -learnsolve_pc / -pc_type override it
    ksp.setFromOptions()

    setups, solves = [], []
    for rep in range(repeat):
        if rep:  # a "new" matrix: the next set-up rebuilds the preconditioner
            A.assemble()
            ksp.setOperators(A)
        x.set(0.0)
        da.comm.barrier()
        t0 = time.perf_counter()
        ksp.setUp()
        t1 = time.perf_counter()
        ksp.solve(b, x)
        t2 = time.perf_counter()
        setups.append(t1 - t0)
        solves.append(t2 - t1)
    warm = slice(1 if repeat > 1 else 0, None)

    A.mult(x, r)
    r.aypx(-1.0, b)
    relres = r.norm() / b.norm()
    reason = ksp.getConvergedReason()
    name = ""
    if pc.getType() == "python":
        name = " " + pc.getPythonContext().name
    label = f"contrast {contrast:g}" if kind in ("blocks", "piecewise") else kind
    PETSc.Sys.Print(f"diffusion {n}^{dim} {label} ranks {da.comm.getSize()}: ksp {ksp.getType()} "
                    f"pc {pc.getType()}{name}  its {ksp.getIterationNumber()} ({reason})"
                    f"  setup {np.median(setups[warm]):.3f} s  solve {np.median(solves[warm]):.3f} s"
                    f"  true relres {relres:.2e}  (first set-up {setups[0]:.3f} s, repeats {repeat})")
    return 0 if reason > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
