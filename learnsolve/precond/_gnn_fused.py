"""Fused float32 inference of :class:`~learnsolve.nn.FactorGNN` (numba, parallel over rows).

The torch forward materializes several ``edges × channels`` tensors per layer
and is bound by memory traffic on a CPU (0.95 s for 1.6 M edges measured on 2
cores).  Here each block of rows runs its edges' MLP while the block is in
cache (BLAS at one thread inside the parallel loop), and the aggregation
reads the transposed edges of the row (the factor patterns are symmetric), so
no scatter is needed.  Same arithmetic as
:meth:`FactorGNN.forward`, which is the reference these kernels are tested
against (``tests/test_learned.py``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._backend import blas_single_thread

_CHUNK = 256  # rows per parallel task (about 1.5k edges on a 2D pattern: a block fits in L2)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _edge_update(ptr, dst, e, p_src, p_dst, w_edge_t, b1, w2_t, b2):  # pragma: no cover - jitted
    """In place ``e_k += b2 + W2 relu(b1 + W_e e_k + p_src[i] + p_dst[j])`` for every edge
    ``k = (i, j)`` (``p_*`` are the node blocks of the first layer, applied per node).

    Blocks of ``_CHUNK`` rows: two small GEMMs per block (BLAS), the gathers and the ReLU in
    between, so the block's ``edges × hidden`` values stay in cache.
    """
    n = ptr.size - 1
    hidden = b1.size
    for t in prange((n + _CHUNK - 1) // _CHUNK):
        i0, i1 = t * _CHUNK, min(n, (t + 1) * _CHUNK)
        k0, k1 = ptr[i0], ptr[i1]
        if k1 == k0:
            continue
        z = e[k0:k1] @ w_edge_t
        for i in range(i0, i1):
            for k in range(ptr[i], ptr[i + 1]):
                j = dst[k]
                for o in range(hidden):
                    z[k - k0, o] = max(z[k - k0, o] + b1[o] + p_src[i, o] + p_dst[j, o], 0.0)
        out = z @ w2_t
        for k in range(k1 - k0):
            for c in range(e.shape[1]):
                e[k0 + k, c] += out[k, c] + b2[c]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _encode(attr, w, b):  # pragma: no cover - jitted
    """``attr @ wᵀ + b`` for a few input columns (a BLAS GEMM with K ≤ 4 is slow)."""
    out = np.empty((attr.shape[0], w.shape[0]), np.float32)
    for k in prange(attr.shape[0]):
        for o in range(w.shape[0]):
            s = b[o]
            for c in range(attr.shape[1]):
                s += w[o, c] * attr[k, c]
            out[k, o] = s
    return out


@numba.njit(parallel=True, fastmath=True, cache=True)
def _aggregate(ptr, reverse, e, agg):  # pragma: no cover - jitted
    """``agg[i] = Σ_{edges (j → i)} e`` read through the transposed edges of row ``i``."""
    n = ptr.size - 1
    for i in prange(n):
        for c in range(e.shape[1]):
            agg[i, c] = 0.0
        for k in range(ptr[i], ptr[i + 1]):
            r = reverse[k]
            for c in range(e.shape[1]):
                agg[i, c] += e[r, c]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _edge_head(lower, reverse, e, w_a, w_b, bias, out):  # pragma: no cover - jitted
    """``out[m] = e[k] · w_a + e[reverse[k]] · w_b + bias`` for ``k = lower[m]``."""
    for m in prange(lower.size):
        k = lower[m]
        r = reverse[k]
        s = bias
        for c in range(e.shape[1]):
            s += e[k, c] * w_a[c] + e[r, c] * w_b[c]
        out[m] = s


@numba.njit(parallel=True, cache=True)
def edge_features(row, col, reverse, lowpos, w, low_vals, logs):  # pragma: no cover - jitted
    """Float32 edge inputs of a model that corrects a base factor: ``[ã_ij, base_ij]`` and,
    with ``logs``, ``-log10(|·| + 1e-6) / 6`` of both.  ``base`` is ``low_vals`` (given on the
    lower edges, ``lowpos`` their positions) mirrored onto the upper edges."""
    feat = np.empty((w.size, 4 if logs else 2), np.float32)
    for k in prange(w.size):
        kk = np.int64(k) if row[k] > col[k] else reverse[k]
        base = low_vals[lowpos[kk]]
        feat[k, 0] = w[k]
        feat[k, 1] = base
        if logs:
            feat[k, 2] = -np.log10(abs(w[k]) + 1e-6) / 6.0
            feat[k, 3] = -np.log10(abs(base) + 1e-6) / 6.0
    return feat


def _np(t):
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)


def _linear(x, layer):
    return x @ _np(layer.weight).T + _np(layer.bias)


def fused_forward(model, x, edge_index, edge_attr, lower, reverse, base_offdiag, base_diag):
    """:meth:`FactorGNN.forward` without autograd, on NumPy/torch inputs from
    :func:`~learnsolve.precond.factor_inputs`; returns float64 NumPy ``(offdiag, diag)``.

    Edges must be sorted by source row (as ``factor_inputs`` makes them) on a
    symmetric pattern, ``reverse`` the index of each transposed edge.
    """
    as_np = lambda a: a.numpy() if hasattr(a, "numpy") else np.asarray(a)  # noqa: E731
    src, dst = (np.ascontiguousarray(a, dtype=np.int64) for a in as_np(edge_index))
    reverse = np.ascontiguousarray(as_np(reverse), dtype=np.int64)
    lower = np.ascontiguousarray(as_np(lower), dtype=np.int64)
    x = np.asarray(as_np(x), dtype=np.float32)
    n = x.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    with blas_single_thread():  # BLAS is also called from numba's threads
        h = _linear(x, model.node_enc)
        e = _encode(np.ascontiguousarray(as_np(edge_attr), np.float32), _np(model.edge_enc.weight),
                    _np(model.edge_enc.bias))
        c = h.shape[1]
        agg = np.empty((n, c), np.float32)
        for conv in model.convs:
            first, second = conv.edge_mlp[0], conv.edge_mlp[2]
            w1 = _np(first.weight)
            p_src = np.ascontiguousarray(h @ w1[:, :c].T)
            p_dst = np.ascontiguousarray(h @ w1[:, c:2 * c].T)
            _edge_update(ptr, dst, e, p_src, p_dst, np.ascontiguousarray(w1[:, 2 * c:].T),
                         _np(first.bias), np.ascontiguousarray(_np(second.weight).T),
                         _np(second.bias))
            _aggregate(ptr, reverse, e, agg)
            w_node = _np(conv.node_mlp[0].weight)  # [h, agg] split by blocks: no concatenated copy
            hidden = h @ w_node[:, :c].T + agg @ w_node[:, c:].T + _np(conv.node_mlp[0].bias)
            h = h + _linear(np.maximum(hidden, 0.0, out=hidden), conv.node_mlp[2])
    w = _np(model.edge_head.weight)[0]
    f = np.empty(lower.size, np.float32)
    _edge_head(lower, reverse, e, np.ascontiguousarray(w[:c]), np.ascontiguousarray(w[c:]),
               np.float32(model.edge_head.bias.item()), f)
    g = _linear(h, model.node_head)[:, 0]
    return model.combine(f.astype(np.float64), g.astype(np.float64),
                         np.asarray(as_np(base_offdiag), np.float64),
                         np.asarray(as_np(base_diag), np.float64))
