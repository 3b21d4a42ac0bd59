"""ConDiff-type variable-coefficient diffusion problems."""

from __future__ import annotations

import numpy as np

from ._fields import COVARIANCES, gaussian_random_field
from ._grid import _shape_arg, assemble, face_coefficients
from ._problem import Problem, make_rhs


def diffusion(n, *, dim=2, variance=1.0, covariance="exponential", length_scale=0.1,
              contrast=None, seed=0, rhs="random"):
    """``-div(k ∇u) = f`` on the unit square/cube, cell-centred finite volumes, Dirichlet.

    ``k = exp(g)`` for a Gaussian random field ``g`` (log-normal), or with
    ``contrast`` a piecewise-constant field: ``k = contrast`` where ``g > 0``,
    ``1`` elsewhere.  Face coefficients are harmonic averages.  Deterministic
    for a seed.

    Parameters
    ----------
    n : int or tuple of int
        Cells per side (``dim`` sides), or the full grid shape.
    dim : {2, 3}
    variance : float
        Variance of ``g`` (0.1–2 typical).
    covariance : {'exponential', 'gaussian', 'cubic'}
    length_scale : float
        Correlation length of ``g`` (domain units).
    contrast : float, optional
        Piecewise-constant coefficient with this ratio (e.g. 1e4).
    seed : int
    rhs : {'random', 'ones'}

    Examples
    --------
    >>> from learnsolve.problems import diffusion
    >>> p = diffusion(64, contrast=1e4, seed=0)
    >>> p.grid_shape, float(p.coeff.max() / p.coeff.min())
    ((64, 64), 10000.0)
    """
    func = "learnsolve.problems.diffusion"
    if dim not in (2, 3):
        raise ValueError(f"{func}: `dim` must be 2 or 3, got {dim!r}.")
    shape = _shape_arg((n,) * dim if isinstance(n, (int, np.integer)) else n, func)
    if covariance not in COVARIANCES:
        raise ValueError(f"{func}: unknown `covariance`={covariance!r}; use one of {COVARIANCES}.")
    if not variance > 0:
        raise ValueError(f"{func}: `variance` must be positive, got {variance!r}.")
    if contrast is not None and not contrast >= 1:
        raise ValueError(f"{func}: `contrast` must be >= 1, got {contrast!r}.")
    g = gaussian_random_field(shape, covariance_kind=covariance, variance=variance,
                              length_scale=length_scale, seed=seed)
    if contrast is None:
        k, family = np.exp(g), "lognormal"
    else:
        k, family = np.where(g > 0, float(contrast), 1.0), "piecewise"
    A = assemble(shape, *face_coefficients(k))
    tag = f"c{contrast:g}" if contrast is not None else f"var{variance:g}"
    if covariance != "exponential":  # the default is left out of the name
        tag += f"-{covariance}"
    name = f"diffusion-{family}-{'x'.join(map(str, shape))}-{tag}-s{seed}"
    meta = {"family": family, "variance": variance, "covariance": covariance,
            "length_scale": length_scale, "contrast": contrast, "seed": seed, "rhs": rhs}
    return Problem(A, make_rhs(A.shape[0], rhs, seed), name, "diffusion", shape, k, meta)


def grid_inclusions(n, *, dim=2, contrast=1e5, count=None, seed=0, rhs="random"):
    """``-div(k ∇u) = f`` on a grid with ``k = contrast`` in random disks/balls, 1 elsewhere.

    The inclusions of :func:`learnsolve.problems.inclusions` (24 disks in 2D,
    16 balls in 3D, radii 0.05–0.15) sampled at the cell centres; cell-centred
    finite volumes with harmonic face averages, Dirichlet, as :func:`diffusion`.
    Deterministic for a seed.

    Parameters
    ----------
    n : int or tuple of int
        Cells per side (``dim`` sides), or the full grid shape.
    dim : {2, 3}
    contrast : float
        ``k`` inside the inclusions (``>= 1``).
    count : int, optional
        Number of inclusions.
    seed : int
    rhs : {'random', 'ones'}

    Examples
    --------
    >>> from learnsolve.problems import grid_inclusions
    >>> p = grid_inclusions(64, contrast=1e5)
    >>> p.grid_shape, float(p.coeff.max())
    ((64, 64), 100000.0)
    """
    from ._mesh import inclusion_coefficient, inclusions

    func = "learnsolve.problems.grid_inclusions"
    if dim not in (2, 3):
        raise ValueError(f"{func}: `dim` must be 2 or 3, got {dim!r}.")
    if not contrast >= 1:
        raise ValueError(f"{func}: `contrast` must be >= 1, got {contrast!r}.")
    shape = _shape_arg((n,) * dim if isinstance(n, (int, np.integer)) else n, func)
    centres, radii = inclusions(dim, count, seed=seed)
    x = np.stack(np.meshgrid(*[(np.arange(s) + 0.5) / s for s in shape], indexing="ij"))
    k = inclusion_coefficient(x, centres, radii, contrast)
    A = assemble(shape, *face_coefficients(k))
    name = f"diffusion-inclusions-{'x'.join(map(str, shape))}-c{contrast:g}-s{seed}"
    meta = {"family": "inclusions", "contrast": contrast, "count": len(radii), "seed": seed,
            "rhs": rhs}
    return Problem(A, make_rhs(A.shape[0], rhs, seed), name, "diffusion", shape, k, meta)
