"""``auto``: the preconditioner to take without knowing the methods."""

from __future__ import annotations

from ..multigrid import NotAGrid, grid_shape_of, grid_stencil
from ..zoo import shipped
from ._device import device_kind


def auto(A, shape=None):
    """The default preconditioner for SPD ``A``: a learned multigrid V-cycle, chosen by ``A``'s form.

    - ``A`` couples only neighbouring cells of a 2D or 3D grid (``shape`` given,
      or ``A``'s size a square or cube): the learned grid V-cycle
      (``vcycle-2d`` / ``vcycle-3d``), the fastest method measured on grids;
    - any other sparse SPD matrix (meshes, graphs, real matrices): the learned
      algebraic V-cycle (``amg-learned``).

    ``info["auto"]`` says which and why.  Both are linear and symmetric (plain
    CG accepts them), check their own convergence and fall back with a
    warning.  SciPy, cupyx and torch CSR matrices are accepted.

    Parameters
    ----------
    A : sparse matrix
    shape : tuple of int, optional
        The grid of a grid matrix that is not square or cube; a ``shape`` that
        does not fit ``A`` raises :class:`learnsolve.multigrid.NotAGrid`.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> grid = learnsolve.problems.diffusion(64, contrast=1e4)
    >>> mesh = learnsolve.problems.fem_diffusion(64, contrast=1e4)
    >>> [learnsolve.precond.auto(p.A).name for p in (grid, mesh)]
    ['vcycle-2d', 'amg-learned']
    >>> x, info = spla.cg(mesh.A, mesh.b, M=learnsolve.precond.auto(mesh.A), rtol=1e-8)
    >>> info
    0
    """
    func = "learnsolve.precond.auto"
    try:  # SciPy: a quick pass over the column indices; device matrices: the stencils
        grid = grid_shape_of(A, shape, func=func) if device_kind(A) is None else \
            grid_stencil(A, shape, func=func)[1]
    except NotAGrid:
        if shape is not None:
            raise
        P = shipped("amg-learned").aspreconditioner(A)
        P.info["auto"] = "not a grid stencil matrix: the learned algebraic V-cycle (amg-learned)"
        return P
    model = f"vcycle-{len(grid)}d"
    P = shipped(model).aspreconditioner(A, grid)
    P.info["auto"] = (f"a {len(grid)}D grid stencil matrix on {'×'.join(map(str, grid))}: the "
                      f"learned grid V-cycle ({model})")
    return P
