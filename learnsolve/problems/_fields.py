"""Stationary Gaussian random fields on grids by FFT (circulant embedding)."""

from __future__ import annotations

import numpy as np

COVARIANCES = ("exponential", "gaussian", "cubic")


def covariance(r, kind, variance, length_scale):
    """Covariance ``C(r)`` of the named model."""
    s = r / length_scale
    if kind == "exponential":
        return variance * np.exp(-s)
    if kind == "gaussian":
        return variance * np.exp(-0.5 * s**2)
    if kind == "cubic":  # compactly supported cubic model (C², zero beyond the length scale)
        c = 1 - 7 * s**2 + 8.75 * s**3 - 3.5 * s**5 + 0.75 * s**7
        return variance * np.where(s < 1, c, 0.0)
    raise ValueError(
        f"learnsolve.problems.gaussian_random_field: unknown `covariance`={kind!r}; "
        f"use one of {COVARIANCES}."
    )


def gaussian_random_field(shape, *, covariance_kind="exponential", variance=1.0,
                          length_scale=0.1, seed=0):
    """A zero-mean stationary Gaussian field on the cell centres of ``[0, 1]^d``.

    The covariance is embedded in a periodic grid twice as large in each
    direction, its spectrum computed by FFT (negative eigenvalues clipped) and
    white noise filtered by its square root: O(N log N), no dense covariance.

    Parameters
    ----------
    shape : tuple of int
        Grid shape (2D or 3D).
    covariance_kind : {'exponential', 'gaussian', 'cubic'}
    variance : float
    length_scale : float
        Correlation length in units of the domain.
    seed : int

    Examples
    --------
    >>> from learnsolve.problems import gaussian_random_field
    >>> f = gaussian_random_field((128, 128), variance=2.0, seed=0)
    >>> f.shape, bool(0.5 < f.var() < 4)
    ((128, 128), True)
    """
    shape = tuple(int(s) for s in shape)
    padded = tuple(2 * s for s in shape)
    r2 = 0.0
    for axis, (m, s) in enumerate(zip(padded, shape)):
        d = np.minimum(np.arange(m), m - np.arange(m)) / s
        r2 = r2 + (d**2).reshape([-1 if a == axis else 1 for a in range(len(shape))])
    c = covariance(np.sqrt(r2), covariance_kind, variance, length_scale)
    lam = np.clip(np.fft.rfftn(c).real, 0.0, None)
    noise = np.random.default_rng([int(seed), 0]).standard_normal(padded)
    axes = tuple(range(len(shape)))
    field = np.fft.irfftn(np.sqrt(lam) * np.fft.rfftn(noise), s=padded, axes=axes)
    return np.ascontiguousarray(field[tuple(slice(0, s) for s in shape)])
