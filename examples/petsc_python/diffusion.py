"""2D variable-coefficient diffusion on a PETSc DMDA from petsc4py, preconditioned by learnsolve.

The same problem as ``examples/petsc_c/diffusion.c`` (same coefficient field,
same matrix, same right-hand side), assembled with NumPy instead of a loop.
The preconditioner is set from Python (``learnsolve.petsc.PC('vcycle-2d')``)
and every PETSc option still overrides it::

    .venv-petsc/bin/python examples/petsc_python/diffusion.py -n 256
    mpiexec -n 2 .venv-petsc/bin/python examples/petsc_python/diffusion.py -learnsolve_pc gnn-ic-correct
    .venv-petsc/bin/python examples/petsc_python/diffusion.py -pc_type hypre      # PETSc's own PCs too

Options: ``-n <256>`` cells per side, ``-contrast <1e4>``, ``-blocks <16>``, plus any KSP/PC option.
"""

import sys
import time

import petsc4py

petsc4py.init(sys.argv)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from petsc4py import PETSc  # noqa: E402

import learnsolve.petsc  # noqa: E402


def coefficient(i, j, n, blocks, contrast):
    """The C example's field: 1 or ``contrast`` per block, by a hash of the block index."""
    bi = (i * blocks // n).astype(np.uint64)
    bj = (j * blocks // n).astype(np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    h = ((bi * np.uint64(73856093)) & mask) ^ ((bj * np.uint64(19349663)) & mask)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0x5BD1E995)) & mask
    h ^= h >> np.uint64(15)
    return np.where(h & np.uint64(1), contrast, 1.0)


def assemble(da, n, blocks, contrast):
    """The rank's rows of the 5-point matrix (harmonic face coefficients, Dirichlet boundary)."""
    (xs, xe), (ys, ye) = da.getRanges()
    j, i = np.meshgrid(np.arange(ys, ye), np.arange(xs, xe), indexing="ij")  # x fastest, as PETSc
    i, j = i.ravel(), j.ravel()
    k = coefficient(i, j, n, blocks, contrast)
    rows, cols, vals = [], [], []
    diag = np.zeros(i.size)
    local = np.arange(i.size)
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ii, jj = i + di, j + dj
        inside = (ii >= 0) & (ii < n) & (jj >= 0) & (jj < n)
        kn = coefficient(np.clip(ii, 0, n - 1), np.clip(jj, 0, n - 1), n, blocks, contrast)
        face = np.where(inside, 2 * k * kn / (k + kn), 2 * k)
        diag += face
        rows.append(local[inside])
        cols.append((jj * n + ii)[inside])  # natural ordering, mapped to PETSc's below
        vals.append(-face[inside])
    nat = np.concatenate(cols + [j * n + i]).astype(PETSc.IntType)
    glob = da.getAO().app2petsc(nat)
    A = sp.csr_array((np.concatenate(vals + [diag]), (np.concatenate(rows + [local]), glob)),
                     shape=(i.size, n * n))
    A.sort_indices()
    it = PETSc.IntType
    M = PETSc.Mat().createAIJ(size=((i.size, n * n), (i.size, n * n)),
                              csr=(A.indptr.astype(it), A.indices.astype(it), A.data), comm=da.comm)
    M.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    return M


def main():
    opts = PETSc.Options()
    n = opts.getInt("n", 256)
    blocks = opts.getInt("blocks", 16)
    contrast = opts.getReal("contrast", 1e4)
    da = PETSc.DMDA().create([n, n], dof=1, stencil_width=1, stencil_type=PETSc.DMDA.StencilType.STAR,
                             comm=PETSc.COMM_WORLD)
    A = assemble(da, n, blocks, contrast)
    b = A.createVecLeft()
    b.set(1.0 / n**2)
    x, r = b.duplicate(), b.duplicate()

    ksp = PETSc.KSP().create(comm=da.comm)
    ksp.setDM(da)
    ksp.setDMActive(False)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.setTolerances(rtol=1e-6)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(learnsolve.petsc.PC("vcycle-2d"))  # -learnsolve_pc / -pc_type override it
    ksp.setFromOptions()

    t0 = time.perf_counter()
    ksp.setUp()
    t1 = time.perf_counter()
    ksp.solve(b, x)
    t2 = time.perf_counter()

    A.mult(x, r)
    r.aypx(-1.0, b)
    relres = r.norm() / b.norm()
    reason = ksp.getConvergedReason()
    name = ""
    if pc.getType() == "python":
        name = " " + pc.getPythonContext().name
    PETSc.Sys.Print(f"diffusion {n}^2 contrast {contrast:g} ranks {da.comm.getSize()}: ksp {ksp.getType()} "
                    f"pc {pc.getType()}{name}  its {ksp.getIterationNumber()} ({reason})"
                    f"  setup {t1 - t0:.3f} s  solve {t2 - t1:.3f} s  true relres {relres:.2e}")
    return 0 if reason > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
