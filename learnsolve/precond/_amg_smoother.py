"""Smoothers of the algebraic cycle: the inputs of :class:`~learnsolve.nn.AMGSmootherNet`, its
fused inference and the sparse smoother ``K`` on ``A``'s pattern (numba, parallel over rows).

:func:`smoother_inputs` gives the network's inputs as NumPy arrays (training
and the torch reference); :func:`learned_smoother` runs the same arithmetic
in parallel passes over the rows — features; message passing and the MLP
fused; assembly — without ``rows × channels`` arrays; with the network's
output zero it is :func:`chebyshev_smoother`, the classical local-Chebyshev
smoother (tested against the torch module).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp
from numba import prange

from .._validation import as_csr, positive_diagonal

#: Row features the network reads (see :class:`learnsolve.nn.AMGSmootherNet`).
NODE_INPUTS = 6
#: The Chebyshev interval's lower end over its upper end, for the classical smoother.
RATIO = 1 / 8


@numba.njit(parallel=True, cache=True)
def _row_features(indptr, indices, data, s, x):  # pragma: no cover - jitted
    """``x[i] = (Σ|ã|, Σã, max|ã|, Σ max(ã, 0), Σã², log(1 + degree))`` over row ``i``'s
    off-diagonal entries of ``Ã = D^-1/2 A D^-1/2`` (``s = 1/√diag(A)``)."""
    for i in prange(indptr.size - 1):
        s_abs = s_sum = s_max = s_pos = s_sq = 0.0
        deg = 0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j == i:
                continue
            a = data[k] * s[i] * s[j]
            s_abs += abs(a)
            s_sum += a
            s_max = max(s_max, abs(a))
            s_pos += max(a, 0.0)
            s_sq += a * a
            deg += 1
        x[i, 0], x[i, 1], x[i, 2], x[i, 3], x[i, 4] = s_abs, s_sum, s_max, s_pos, s_sq
        x[i, 5] = math.log1p(deg)


@numba.njit(cache=True)
def _chebyshev(lam, ratio):  # pragma: no cover - jitted
    """:func:`learnsolve.nn.chebyshev_coefficients` for one ``λ``."""
    lmin = lam * ratio
    centre, half = (lam + lmin) / 2, (lam - lmin) / 2
    t2 = 2 * (centre / half) ** 2 - 1
    a2 = 2 / (half * half * t2)
    a1 = -4 * centre / (half * half * t2)
    return -a1 - a2, -a2


_CHUNK = 512  # rows per parallel task of the fused network (small buffers allocated per task)


@numba.njit(parallel=True, cache=True, fastmath=True)
def _network(indptr, indices, data, s, x, w_in, b_in, w_hid, b_hid, w_out, b_out,
             uv):  # pragma: no cover - jitted
    """``uv[i]`` = the network's output for row ``i``: its inputs ``[x_i, Σ_j w_ij x_j,
    max_j x_j0]`` (``w_ij = |ã_ij| / Σ_j |ã_ij|`` over the off-diagonal entries: one round of
    message passing), then the MLP (ReLU hidden layers, ``2 tanh`` output) — row by row in
    blocks, with no ``rows × channels`` arrays."""
    n, f = x.shape
    hidden = b_in.size
    for t in prange((n + _CHUNK - 1) // _CHUNK):
        z = np.empty(2 * f + 1)
        a = np.empty(hidden)
        c = np.empty(hidden)
        for i in range(t * _CHUNK, min(n, (t + 1) * _CHUNK)):
            for q in range(f):
                z[q] = x[i, q]
                z[f + q] = 0.0
            z[2 * f] = 0.0
            scale = 1.0 / max(x[i, 0], 1e-300)
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if j == i:
                    continue
                w = abs(data[k]) * s[i] * s[j] * scale
                for q in range(f):
                    z[f + q] += w * x[j, q]
                z[2 * f] = max(z[2 * f], x[j, 0])
            for r in range(hidden):
                acc = b_in[r]
                for q in range(z.size):
                    acc += w_in[r, q] * z[q]
                a[r] = max(acc, 0.0)
            for layer in range(w_hid.shape[0]):
                for r in range(hidden):
                    acc = b_hid[layer, r]
                    for q in range(hidden):
                        acc += w_hid[layer, r, q] * a[q]
                    c[r] = max(acc, 0.0)
                a[:] = c
            for r in range(2):
                acc = b_out[r]
                for q in range(hidden):
                    acc += w_out[r, q] * a[q]
                uv[i, r] = 2.0 * math.tanh(acc)


@numba.njit(parallel=True, cache=True)
def _scale(x, uv, ratio, g, h):  # pragma: no cover - jitted
    """``g_i, h_i``: the Chebyshev coefficients of ``λ_i = 1 + x_i0`` scaled by ``e^u``, ``e^v``
    (``uv`` with no columns: unscaled)."""
    for i in prange(x.shape[0]):
        gd, eta = _chebyshev(1.0 + x[i, 0], ratio)
        if uv.shape[1]:
            gd *= math.exp(uv[i, 0])
            eta *= math.exp(uv[i, 1])
        g[i], h[i] = gd, eta


@numba.njit(parallel=True, cache=True)
def _assemble(indptr, indices, data, s, g, h, out):  # pragma: no cover - jitted
    """``K_ii = g_i / d_i``, ``K_ij = a_ij (h_i + h_j) / (2 d_i d_j)`` on ``A``'s pattern
    (``s = 1/√d``)."""
    for i in prange(indptr.size - 1):
        si = s[i] * s[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j == i:
                out[k] = g[i] * si
            else:
                out[k] = data[k] * (h[i] + h[j]) * (0.5 * si * s[j] * s[j])


def _inv_sqrt_diagonal(A):
    return 1.0 / np.sqrt(A.diagonal())


def row_features(A, s=None):
    """The network's row inputs ``(n, NODE_INPUTS)`` of CSR ``A`` (positive diagonal; ``s``:
    ``1/√diag(A)`` if already at hand)."""
    x = np.empty((A.shape[0], NODE_INPUTS))
    _row_features(A.indptr, A.indices, A.data, _inv_sqrt_diagonal(A) if s is None else s, x)
    return x


def smoother_inputs(A):
    """The network's inputs for CSR ``A``: ``(x, edge_index, weight, scaled_offdiagonal)``.

    ``x`` are the row features, ``edge_index`` (2, E) the off-diagonal entries
    as ``j → i``, ``weight`` ``|ã_ij| / Σ_j |ã_ij|`` per edge, and
    ``scaled_offdiagonal`` ``Ã − I`` as CSR (what training applies ``K̃`` with).

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.problems import poisson
    >>> x, edges, w, off = smoother_inputs(poisson((4, 4)).A)
    >>> x.shape, edges.shape, bool(np.allclose(np.bincount(edges[1], w), 1))
    ((16, 6), (2, 48), True)
    """
    d = A.diagonal()
    s = 1 / np.sqrt(d)
    T = sp.csr_array((s[:, None] * A) * s[None, :])
    T.setdiag(0)
    T.eliminate_zeros()
    T.sort_indices()
    x = row_features(A)
    coo = T.tocoo()
    weight = np.abs(coo.data) / np.maximum(x[coo.row, 0], 1e-300)
    return x, np.stack([coo.col, coo.row]).astype(np.int64), weight, T


def network_parameters(model):
    """The MLP of an :class:`~learnsolve.nn.AMGSmootherNet` as float64 arrays for the kernels:
    ``(w_in, b_in, w_hidden, b_hidden, w_out, b_out, ratio)`` (hidden layers stacked)."""
    def arr(v):
        return np.ascontiguousarray(v.detach().double().numpy())

    first, rest = model.linears[0], list(model.linears[1:])
    hidden = first.out_features
    w_hid = np.stack([arr(lin.weight) for lin in rest]) if rest else np.zeros((0, hidden, hidden))
    b_hid = np.stack([arr(lin.bias) for lin in rest]) if rest else np.zeros((0, hidden))
    return (arr(first.weight), arr(first.bias), w_hid, b_hid, arr(model.out.weight),
            arr(model.out.bias), float(model.ratio))


def coefficients(A, parameters=None, s=None):
    """``(g, h)`` per row of CSR ``A`` from the network ``parameters`` (local Chebyshev without;
    ``s``: ``1/√diag(A)`` if already at hand)."""
    n = A.shape[0]
    s = _inv_sqrt_diagonal(A) if s is None else s
    x = row_features(A, s)
    g, h = np.empty(n), np.empty(n)
    if parameters is None:
        _scale(x, np.zeros((n, 0)), RATIO, g, h)
        return g, h
    *weights, ratio = parameters
    uv = np.empty((n, 2))
    _network(A.indptr, A.indices, A.data, s, x, *weights, uv)
    _scale(x, uv, ratio, g, h)
    return g, h


def learned_smoother(A, parameters=None, *, func="learnsolve.precond.learned_smoother"):
    """The smoother ``K`` (CSR, ``A``'s pattern, symmetric) of sparse ``A`` with positive diagonal.

    ``parameters`` from :func:`network_parameters`; ``None`` gives the
    classical local-Chebyshev smoother (:func:`chebyshev_smoother`).
    """
    A = as_csr(A, func)
    positive_diagonal(A, func)
    return smoother(A.astype(np.float64, copy=False), parameters)


def smoother(A, parameters=None):
    """:func:`learned_smoother` of a float64 canonical CSR ``A`` with positive diagonal (unchecked:
    the levels of a hierarchy built from a checked matrix)."""
    s = _inv_sqrt_diagonal(A)
    g, h = coefficients(A, parameters, s)
    out = np.empty_like(A.data, dtype=np.float64)
    _assemble(A.indptr, A.indices, A.data, s, g, h, out)
    return sp.csr_array((out, A.indices, A.indptr), shape=A.shape)


def smoother_values(indptr, indices, data, s, parameters=None, exchange=None):
    """The smoother's entries on some rows of a matrix whose other rows live elsewhere (a rank's
    rows under MPI): ``K``'s values in ``data``'s places.

    ``indptr``/``indices``/``data`` are the ``n`` rows in a local numbering whose
    columns ``0..n-1`` are these rows' own (row ``i``'s diagonal is column ``i``)
    and ``n..`` the ghosts; ``s`` is ``1/√diag`` of all columns;
    ``exchange(v)`` returns a per-row array ``v`` (``(n, k)``) with the ghost
    rows' values appended (``(n + ghosts, k)``, from their owners).  The network
    reads its rows' features and their neighbours' (one round of message
    passing), ``K_ij`` the neighbour's scale ``h_j``: two exchanges.  With no
    ghosts and ``exchange=None`` this is :func:`smoother`'s values (tested).
    """
    n = indptr.size - 1
    exchange = exchange or (lambda v: v)
    x = np.empty((n, NODE_INPUTS))
    _row_features(indptr, indices, data, s, x)
    x = exchange(x)
    m = x.shape[0]
    ext = np.concatenate([indptr, np.full(m - n, indptr[-1], dtype=indptr.dtype)])  # ghosts: no entries
    g, h = np.empty(m), np.empty(m)
    if parameters is None:
        _scale(x, np.zeros((m, 0)), RATIO, g, h)
    else:
        *weights, ratio = parameters
        uv = np.empty((m, 2))
        _network(ext, indices, data, s, x, *weights, uv)
        _scale(x, uv, ratio, g, h)
    h = exchange(h[:n, None])[:, 0]  # the owners' h for the ghost columns
    out = np.empty(data.size)
    _assemble(indptr, indices, data, s, g, h, out)
    return out


def chebyshev_smoother(A):
    """The local-Chebyshev smoother of CSR ``A``: ``K = D^-1/2 p(Ã) D^-1/2`` with ``p`` the
    degree-1 polynomial of :func:`learnsolve.nn.chebyshev_coefficients` (ratio :data:`RATIO`) for
    each row's Gershgorin bound ``λ_i = 1 + Σ_j |ã_ij|`` (no eigenvalue estimate; one sparse
    product per sweep).

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.problems import poisson
    >>> A = poisson((16, 16)).A
    >>> K = chebyshev_smoother(A)
    >>> K.nnz == A.nnz, bool(abs(K - K.T).max() < 1e-15)
    (True, True)
    """
    return learned_smoother(A, None, func="learnsolve.precond.chebyshev_smoother")
