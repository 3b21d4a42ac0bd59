"""Per level of the distributed learned V-cycle: rows per rank, ghost values and neighbour ranks of
each product a cycle makes — the measured start of the scaling estimate in docs/petsc.md.

Run under mpiexec in the petsc4py environment::

    mpiexec -n 4 .venv-petsc/bin/python benchmarks/petsc_mg_levels.py -n 1024 [-dim 2]

Prints (rank 0) one line per level: cells, the largest and smallest rank's rows, and for ``A``,
the smoother ``K`` and the interpolation ``P`` the largest rank's ghost values (off-rank
columns of its rows) and neighbour ranks.  One V-cycle exchanges ghosts six times per level
(``K``, ``A``, ``Pᵀ``, ``P``, ``A``, ``Kᵀ``; ``Pᵀ`` and ``Kᵀ`` send back what ``P`` and ``K``
receive).
"""

import os
import sys

import petsc4py

petsc4py.init(sys.argv)

import numpy as np  # noqa: E402
from petsc4py import PETSc  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                                "petsc_python"))
from diffusion import assemble, field  # noqa: E402

import learnsolve  # noqa: E402
import learnsolve.petsc  # noqa: E402


def ghosts(mat):
    """(off-rank columns of this rank's rows, ranks owning them)."""
    c0, c1 = mat.getOwnershipRangeColumn()
    _, cols, _ = mat.getValuesCSR()
    off = np.unique(cols[(cols < c0) | (cols >= c1)])
    owners = np.searchsorted(mat.getOwnershipRangesColumn(), off, side="right") - 1
    return off.size, np.unique(owners).size


def gather_max(comm, values):
    """Per entry the largest over ranks."""
    v = PETSc.Vec().createMPI((len(values), PETSc.DECIDE), comm=comm)
    v.setArray(np.asarray(values, dtype=float))
    scatter, out = PETSc.Scatter.toAll(v)
    scatter.scatter(v, out)
    return out.getArray().reshape(-1, len(values)).max(axis=0)


def main():
    opts = PETSc.Options()
    n, dim = opts.getInt("n", 1024), opts.getInt("dim", 2)
    comm = PETSc.COMM_WORLD
    da = PETSc.DMDA().create([n] * dim, dof=1, stencil_width=1, stencil_type=PETSc.DMDA.StencilType.STAR,
                             comm=comm)
    A = assemble(da, field((n,) * dim, "lognormal"))
    _, levels, info = learnsolve.petsc.distributed_grid_cycle(A, da)
    PETSc.Sys.Print(f"{n}^{dim} on {comm.getSize()} ranks (process grid {info['procs']}), "
                    f"set-up stages (ms): {info['setup_times']}")
    PETSc.Sys.Print("| level | cells | rows per rank (max/min) | A ghosts / neighbours | "
                    "K ghosts / neighbours | P ghosts / neighbours |")
    PETSc.Sys.Print("|---|---|---|---|---|---|")
    for l, lvl in enumerate(levels):
        rows = lvl.A.getLocalSize()[0]
        stats = [rows, -rows, *ghosts(lvl.A)]
        stats += [*ghosts(lvl.K), *ghosts(lvl.P)] if lvl.P is not None else [0, 0, 0, 0]
        m = gather_max(comm, stats)
        cells = "coarsest (redundant LU)" if lvl.P is None else ""
        PETSc.Sys.Print(f"| {l} | {lvl.boxes.n} {cells} | {int(m[0])} / {int(-m[1])} | {int(m[2])} / "
                        f"{int(m[3])} | {int(m[4])} / {int(m[5])} | {int(m[6])} / {int(m[7])} |")


if __name__ == "__main__":
    main()
