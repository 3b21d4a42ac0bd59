"""Factorized sparse approximate inverses ``M⁻¹ = Gᵀ G``: two SpMVs per apply, no triangular solve."""

from __future__ import annotations

import scipy.sparse as sp

from ..ops import CSRMatrix, fsai_factor, fsai_pattern
from ._base import Preconditioner, timed
from ._device import accepts_device
from ._factored import _spd_input


def inverse_factored(G, *, name, setup_time=0.0, info=None):
    """:class:`Preconditioner` applying ``M⁻¹ = Gᵀ G`` for a sparse lower ``G`` by two SpMVs.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.precond import inverse_factored
    >>> G = sp.csr_array(np.array([[0.5, 0], [0.1, 0.25]]))
    >>> z = inverse_factored(G, name="demo") @ np.array([1.0, 1.0])
    >>> bool(np.allclose(z, G.T @ (G @ np.array([1.0, 1.0]))))
    True
    """
    G = sp.csr_array(G)
    Gm, Gt = CSRMatrix(G), CSRMatrix(sp.csr_array(G.T))

    def apply(r):
        return Gt.matvec(Gm.matvec(r))

    P = Preconditioner(apply, G.shape, G.dtype, name=name, setup_time=setup_time,
                       info=dict(info or {}, nnz_G=int(G.nnz)))
    P.recipe = ("gtg", G)
    return P


@accepts_device("gtg")
def fsai(A, pattern="A2"):
    """Classical factorized sparse approximate inverse: ``M⁻¹ = Gᵀ G ≈ A⁻¹``.

    ``G`` is lower triangular on ``tril`` of the pattern (default ``A²``'s,
    the usual choice; ``'A'`` is cheaper and weaker) and minimizes the Kaporin
    condition number of ``G A Gᵀ`` there (:func:`learnsolve.ops.fsai_factor`).
    Applying it is two SpMVs, so it parallelizes where triangular solves do not.

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite.
    pattern : {'A2', 'ic1', 'A', 'adaptive'}
        ``'adaptive'``: each row keeps as many entries as ``tril(A²)`` has,
        chosen from ``tril(A³)`` by forward selection to lower its share of the
        Kaporin number (:func:`learnsolve.ops.fsai_pattern`; adaptive FSAI).
        Same cost per apply as ``'A2'``; fewer iterations where the
        coefficients jump, a few times the set-up.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.diffusion(64, variance=2.0, seed=0)
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.fsai(p.A), rtol=1e-8)
    >>> info
    0
    """
    func = "learnsolve.precond.fsai"
    with timed() as t:
        A = _spd_input(A, func)
        G = fsai_factor(A, fsai_pattern(A, "greedy") if pattern == "adaptive" else pattern)
        P = inverse_factored(G, name="fsai" if pattern == "A2" else f"fsai-{pattern}",
                             info={"pattern": pattern})
    P.setup_time = t[0]
    return P
