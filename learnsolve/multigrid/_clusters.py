"""The coefficient-cluster coarse space of a grid matrix, combined with a cycle in balancing form.

On high-contrast coefficients (islands and thin channels of large ``k`` in a
small-``k`` background) the near-null space of ``A`` contains one function per
cluster: nearly constant on it, decaying outside.  A fixed every-other-cell
coarse grid loses the clusters smaller than its cells, level by level; these
kernels give the piecewise-constant basis that keeps them.

- :func:`cluster_labels` cuts ``A``'s graph at its weak couplings
  (``|a_ij| / √(a_ii a_jj) ≤ theta``, i.e. across coefficient jumps) and at the
  faces of ``block``-wide grid blocks; each connected piece is one cluster
  (a numba union-find; 0.3 s at 2048², against 0.7–1.2 s for SciPy's
  ``connected_components``).
- :func:`smoothed_basis` is the cluster indicators after one damped-Jacobi
  step, ``Z = (I − ω D⁻¹ A) Z₀`` (one column per cluster).
- :func:`galerkin` is ``Zᵀ A Z`` (and ``A Z``); :func:`factorize` its sparse LU.
- :class:`ClusterSpace` holds them and combines a cycle ``V`` with
  ``C = Z (Zᵀ A Z)⁻¹ Zᵀ`` as ``M = C + (I − C A) V (I − A C)``, which is
  symmetric, and positive definite whenever ``V`` is (the balancing
  Neumann–Neumann form).

NumPy/SciPy with two numba kernels; :func:`cluster_labels_reference`
(SciPy's ``connected_components``) and :func:`smoothed_basis_reference`
(sparse products) are the references they are tested against.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from .._validation import as_csr, positive_diagonal
from ..ops import CSRMatrix


def _checked(A, shape, func):
    """``A`` as canonical float CSR, square, finite, one row per cell of ``shape`` (else a named
    ``ValueError``): the numba kernels below index with its arrays unchecked."""
    A = as_csr(A, func)
    if int(np.prod(shape)) != A.shape[0]:
        raise ValueError(f"{func}: `shape` {tuple(shape)} has {int(np.prod(shape))} cells but `A` has "
                         f"{A.shape[0]} rows; pass the grid shape of `A`.")
    return A


def _block_ids(shape, block):
    """Index of each cell's ``block``-wide grid block (C order)."""
    coords = np.indices(tuple(shape)).reshape(len(shape), -1)
    nb = [-(-s // block) for s in shape]
    ids = np.zeros(coords.shape[1], dtype=np.int64)
    for c, m in zip(coords, nb):
        ids = ids * m + c // block
    return ids


def cluster_labels(A, shape, *, theta=0.05, block=6):
    """Label the coefficient clusters of the grid matrix ``A``.

    Parameters
    ----------
    A : scipy.sparse CSR array
        SPD matrix on a grid of ``shape`` (C order), positive diagonal.
    shape : tuple of int
        Grid shape.
    theta : float
        Couplings with ``|a_ij| / √(a_ii a_jj) ≤ theta`` are cut (on a 5-point
        stencil an unscaled coupling is 0.25, one across a ``k`` jump of 1e4 is 0.005).
    block : int
        Edge of the grid blocks that also cut the graph (``0``: no blocks).

    Returns
    -------
    labels : ndarray of int64
        Cluster of every unknown, ``0 .. m-1``.
    weak : int
        Number of weak couplings, each pair once (0 means no coefficient jumps).

    Examples
    --------
    >>> from learnsolve.problems import diffusion
    >>> from learnsolve.multigrid import cluster_labels
    >>> p = diffusion(32, contrast=1e4, seed=0)
    >>> labels, weak = cluster_labels(p.A, p.grid_shape)
    >>> bool(labels.max() >= 35 and weak > 0)   # at least the 6×6 grid of blocks, and jumps exist
    True
    """
    return _labels(_checked(A, shape, "learnsolve.multigrid.cluster_labels"), shape, theta, block)


def _labels(A, shape, theta, block):
    """:func:`cluster_labels` of a checked canonical CSR ``A``."""
    ids = _block_ids(shape, block) if block else np.zeros(A.shape[0], dtype=np.int64)
    labels, weak = _union_labels(A.indptr, A.indices, np.asarray(A.data, dtype=np.float64),
                                 np.asarray(A.diagonal(), dtype=np.float64), ids, float(theta))
    return labels, int(weak) // 2


def cluster_labels_reference(A, shape, *, theta=0.05, block=6):
    """:func:`cluster_labels` by SciPy's ``connected_components`` (the reference it is tested against)."""
    A = sp.csr_array(A)
    d = A.diagonal()
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    cols = A.indices
    strong = np.abs(A.data) > theta * np.sqrt(d[rows] * d[cols])
    strong &= rows != cols
    weak = int(np.count_nonzero(~strong & (rows != cols)))
    if block:
        ids = _block_ids(shape, block)
        strong &= ids[rows] == ids[cols]
    S = sp.csr_array((strong.astype(np.int8), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    S.eliminate_zeros()
    _, labels = connected_components(S, directed=False)
    return labels.astype(np.int64), weak // 2


@numba.njit(cache=True)
def _root(parent, i):  # pragma: no cover - jitted
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@numba.njit(cache=True)
def _union_labels(indptr, indices, data, diag, ids, theta):  # pragma: no cover - jitted
    """Union-find over the strong same-block couplings; each component's root is its smallest
    index, so labels count components in the order of their smallest member (as SciPy's
    ``connected_components`` does)."""
    n = indptr.size - 1
    parent = np.arange(n)
    weak = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j == i:
                continue
            if not abs(data[p]) > theta * np.sqrt(diag[i] * diag[j]):
                weak += 1
                continue
            if ids[i] != ids[j]:
                continue
            ri, rj = _root(parent, i), _root(parent, j)
            if ri < rj:
                parent[rj] = ri
            elif rj < ri:
                parent[ri] = rj
    labels = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        r = _root(parent, i)
        if r == i:
            labels[i] = count
            count += 1
        else:
            labels[i] = labels[r]
    return labels, weak


@numba.njit(cache=True)
def _basis(indptr, indices, data, labels, omega):  # pragma: no cover - jitted
    n = indptr.size - 1
    cnt = np.zeros(n + 1, dtype=np.int64)
    seen = np.empty(64, dtype=np.int64)
    for i in range(n):  # pass 1: distinct labels per row
        k = 0
        for p in range(indptr[i], indptr[i + 1]):
            c = labels[indices[p]]
            new = True
            for q in range(k):
                if seen[q] == c:
                    new = False
                    break
            if new:
                seen[k] = c
                k += 1
        cnt[i + 1] = cnt[i] + k
    zcol = np.empty(cnt[n], dtype=np.int64)
    zval = np.zeros(cnt[n])
    for i in range(n):  # pass 2: Z[i, c] = δ(labels_i, c) − ω / a_ii Σ_{j: labels_j = c} a_ij
        diag = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] == i:
                diag = data[p]
        s, k = cnt[i], 0
        for p in range(indptr[i], indptr[i + 1]):
            c = labels[indices[p]]
            q = 0
            while q < k and zcol[s + q] != c:
                q += 1
            if q == k:
                zcol[s + q] = c
                k += 1
            zval[s + q] -= omega * data[p] / diag
        for q in range(k):
            if zcol[s + q] == labels[i]:
                zval[s + q] += 1.0
    return cnt, zcol, zval


def smoothed_basis(A, labels, *, omega=2 / 3):
    """``Z = (I − ω D⁻¹ A) Z₀`` with ``Z₀`` the indicators of ``labels`` (CSR, ``n × m``)."""
    func = "learnsolve.multigrid.smoothed_basis"
    A = as_csr(A, func)
    labels = np.asarray(labels)
    if labels.shape != (A.shape[0],) or labels.dtype.kind not in "iu" or (
            labels.size and labels.min() < 0):
        raise ValueError(f"{func}: `labels` must be {A.shape[0]} non-negative integers (one cluster "
                         f"per row of `A`), got an array of shape {labels.shape} and dtype "
                         f"{labels.dtype}; pass the labels of cluster_labels(A, shape).")
    return _smoothed_basis(A, labels, omega)


def _smoothed_basis(A, labels, omega):
    """:func:`smoothed_basis` of a checked CSR ``A`` and labels."""
    if A.indptr.size > 1 and np.diff(A.indptr).max() > 64:
        raise ValueError("learnsolve.multigrid.smoothed_basis: rows with more than 64 entries "
                         "(not a grid stencil matrix)")
    m = int(labels.max()) + 1 if labels.size else 0
    indptr, zcol, zval = _basis(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                                A.data.astype(np.float64), labels.astype(np.int64), float(omega))
    return sp.csr_array((zval, zcol, indptr), shape=(A.shape[0], m))


def smoothed_basis_reference(A, labels, *, omega=2 / 3):
    """:func:`smoothed_basis` by sparse products (the reference the tests compare against)."""
    A = sp.csr_array(A)
    n = A.shape[0]
    Z0 = sp.csr_array((np.ones(n), (np.arange(n), labels)), shape=(n, int(labels.max()) + 1))
    return sp.csr_array(Z0 - omega * (sp.diags_array(1 / A.diagonal()) @ (A @ Z0)))


@numba.njit(cache=True)
def _dissection_ranks(nb, leaf):  # pragma: no cover - jitted
    """Rank of every block of the ``nb`` block grid (C order, 2 or 3 axes) in a nested-dissection
    order: a box is split at the middle slab of its longest axis, the two halves are numbered
    first, the slab last; boxes with every side ≤ ``leaf`` are numbered in C order."""
    d = nb.size
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * nb[a + 1]
    rank = np.empty(strides[0] * nb[0], dtype=np.int64)
    # stack of boxes (lo, hi per axis) still to number; a slab is pushed as a box to number
    # directly (flag 1) beneath the two halves, so it is numbered after both
    stack = np.empty((64 * 64, 2 * d + 1), dtype=np.int64)
    for a in range(d):
        stack[0, a], stack[0, d + a] = 0, nb[a]
    stack[0, 2 * d] = 0
    top = 1
    count = 0
    while top > 0:
        top -= 1
        box = stack[top].copy()
        longest, size = 0, 0
        for a in range(d):
            if box[d + a] - box[a] > size:
                longest, size = a, box[d + a] - box[a]
        if size <= 0:
            continue
        if box[2 * d] == 1 or size <= leaf:
            lo, hi = box[:d], box[d:2 * d]
            total = 1
            for a in range(d):
                total *= hi[a] - lo[a]
            for k in range(total):  # C order inside the box
                r, flat = k, 0
                for a in range(d - 1, -1, -1):
                    ext = hi[a] - lo[a]
                    flat += (lo[a] + r % ext) * strides[a]
                    r //= ext
                rank[flat] = count
                count += 1
            continue
        mid = box[longest] + size // 2
        slab, left, right = box.copy(), box.copy(), box.copy()
        slab[longest], slab[d + longest], slab[2 * d] = mid, mid + 1, 1
        left[d + longest] = mid
        right[longest] = mid + 1
        stack[top], stack[top + 1], stack[top + 2] = slab, right, left
        top += 3
    return rank


def dissection_labels(labels, shape, block, *, leaf=2):
    """Renumber block-aligned clusters in a nested-dissection order of their grid blocks.

    Clusters never cross the ``block``-wide grid blocks (:func:`cluster_labels`
    cuts the graph at their faces) and ``Zᵀ A Z`` couples only clusters of
    neighbouring blocks, so a nested dissection of the block grid (the middle
    block slab of the longest side separates two halves, recursively) is a
    fill-reducing order of ``Zᵀ A Z`` known before it is assembled.  At 2048²
    (153k clusters) SuperLU then factorizes in 0.40 s instead of 0.85 s with
    its own minimum-degree order (which is most of that time), for about 10 %
    slower solves (see :data:`DISSECTION_MIN`).

    Returns the new labels: the clusters of each block keep their relative order.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.problems import diffusion
    >>> from learnsolve.multigrid import cluster_labels, dissection_labels
    >>> p = diffusion(48, contrast=1e4, seed=0)
    >>> labels, _ = cluster_labels(p.A, p.grid_shape)
    >>> new = dissection_labels(labels, p.grid_shape, 6)
    >>> pairs = np.unique(np.stack([labels, new]), axis=1)    # old and new numbers of each cell
    >>> bool(pairs.shape[1] == labels.max() + 1 == new.max() + 1)   # one new number per cluster
    True
    """
    m = int(labels.max()) + 1 if labels.size else 0
    if m == 0:
        return labels
    nb = np.array([-(-s // block) for s in shape], dtype=np.int64)
    cluster_block = np.empty(m, dtype=np.int64)
    cluster_block[labels] = _block_ids(shape, block)  # every cell of a cluster is in one block
    rank = _dissection_ranks(nb, int(leaf))
    order = np.argsort(rank[cluster_block], kind="stable")
    new = np.empty(m, dtype=np.int64)
    new[order] = np.arange(m)
    return new[labels]


def galerkin(A, Z):
    """``Zᵀ A Z`` as a CSC matrix (ready for a sparse factorization), and ``A Z`` for reuse."""
    AZ = A @ Z
    return sp.csc_matrix(Z.T @ AZ), AZ


def factorize(E, *, ordered=False):
    """Sparse LU of the SPD ``E = Zᵀ A Z`` (SuperLU, no pivoting): in ``E``'s own order when
    ``ordered`` (the clusters are numbered by :func:`dissection_labels`), else with SuperLU's
    minimum degree on ``Eᵀ + E``."""
    return spla.splu(E, permc_spec="NATURAL" if ordered else "MMD_AT_PLUS_A",
                     diag_pivot_thresh=0.0, options={"SymmetricMode": True})


#: Couplings at or below this scaled strength are coefficient jumps (see :func:`cluster_labels`).
THETA = 0.05
#: Edge of the grid blocks the clusters are cut into.
BLOCK = 6
#: Damping of the Jacobi step that smooths the cluster indicators.
OMEGA = 0.85
#: 2D spaces with at least this many clusters are numbered by :func:`dissection_labels` before
#: the LU (measured on rough contrast-1e4 fields: at 2048², 153k clusters, the factorization
#: takes 0.40 s instead of 0.85 s and a solve 26 ms instead of 23 ms; at 1024², 42k clusters,
#: 93 ms instead of 128 ms but 5.9 ms instead of 4.7 ms a solve, a wash over 12 iterations; in
#: 3D the block slabs are poor separators: 3× the fill at 64³ and 100³).
DISSECTION_MIN = 60_000
#: ``clusters="auto"`` adds the space when the cycle's estimated ``ρ(I − M A)`` exceeds this.
RHO_GATE = 0.2


class ClusterSpace:
    """The cluster coarse space of the grid matrix ``A``: labels, basis ``Z``, ``Zᵀ A Z`` and its LU.

    Built in stages so that each can be timed: the labels at construction
    (cheap: they also say whether ``A`` has coefficient jumps at all,
    :attr:`weak`), then :meth:`build` (basis, ``Zᵀ A Z``, sparse LU);
    :attr:`times` holds the seconds of each stage.

    Parameters
    ----------
    A : scipy.sparse CSR array
        The fine grid matrix (SPD, positive diagonal).
    shape : tuple of int
        Grid shape.
    theta, block : float, int
        See :func:`cluster_labels`.
    omega : float
        Damping of the Jacobi step applied to the indicators.
    check : bool
        Validate ``A`` first (CSR structure, finite, one row per cell, positive
        diagonal; a named ``ValueError`` otherwise).  The grid cycles pass
        ``False`` for the canonical CSR matrix they have already validated: the
        kernels index with its arrays unchecked.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.problems import diffusion
    >>> from learnsolve.multigrid import ClusterSpace
    >>> p = diffusion(32, contrast=1e4, seed=0)
    >>> space = ClusterSpace(p.A, p.grid_shape).build()
    >>> M = space.balanced(lambda r: r / p.A.diagonal())   # the space around a Jacobi step
    >>> space.m > 0, bool(np.allclose(space.Z.T @ (p.A @ M(p.b)), space.Z.T @ p.b))
    (True, True)
    """

    def __init__(self, A, shape, *, theta=THETA, block=BLOCK, omega=OMEGA, check=True):
        if check:
            self.A = _checked(A, shape, "learnsolve.multigrid.ClusterSpace")
            positive_diagonal(self.A, "learnsolve.multigrid.ClusterSpace")
        else:
            self.A = sp.csr_array(A)
        self.shape, self.theta, self.block, self.omega = tuple(shape), theta, block, omega
        t0 = time.perf_counter()
        self.labels, self.weak = _labels(self.A, self.shape, theta, block)
        self.times = {"labels": time.perf_counter() - t0}
        self.Z = self.E = self.AZ = self.lu = None

    def build(self):
        """Basis, ``Zᵀ A Z`` and its sparse LU (timed in :attr:`times`); returns self.

        On 2D grids with at least :data:`DISSECTION_MIN` clusters they are first
        renumbered in the nested-dissection order of their grid blocks
        (:func:`dissection_labels`; :attr:`labels` changes), the order the LU then
        keeps; otherwise SuperLU orders by minimum degree.
        """
        t = [time.perf_counter()]
        ordered = bool(self.block) and len(self.shape) == 2 and self.m >= DISSECTION_MIN
        if ordered:  # a fill-reducing numbering of the clusters, before Z is built
            self.labels = dissection_labels(self.labels, self.shape, self.block)
        t.append(time.perf_counter())
        self.Z = _smoothed_basis(self.A, self.labels, self.omega)
        t.append(time.perf_counter())
        self.E, self.AZ = galerkin(self.A, self.Z)
        t.append(time.perf_counter())
        self.lu = factorize(self.E, ordered=ordered)
        t.append(time.perf_counter())
        self.times.update(order=t[1] - t[0], basis=t[2] - t[1], galerkin=t[3] - t[2],
                          factorize=t[4] - t[3])
        return self

    @property
    def m(self):
        """Number of basis vectors (clusters)."""
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def info(self):
        """What a preconditioner built on this space reports."""
        return {"clusters": self.m, "cluster_nnz_lu": int(self.lu.L.nnz + self.lu.U.nnz),
                "cluster_block": self.block, "cluster_theta": self.theta}

    def balanced(self, cycle):
        """``M = C + (I − C A) V (I − A C)`` for the SPD cycle ``V = cycle`` (float64 in and out)."""
        # C b + y − C A y = y + Z E⁻¹ (Zᵀ b − (A Z)ᵀ y) and A C b = (A Z) E⁻¹ Zᵀ b: four
        # products with Z, Zᵀ, A Z and (A Z)ᵀ instead of five (no product with A), each the
        # compiled parallel one where it is built (10–15 % of a rough field's solve at 1024²)
        Z, AZ, Zt, AZt = (CSRMatrix(M, func="learnsolve.multigrid.ClusterSpace.balanced")
                          for M in (self.Z, self.AZ, self.Z.T, self.AZ.T))
        lu = self.lu

        def apply(b):
            c = Zt @ b
            y = cycle(b - AZ @ lu.solve(c))
            return y + Z @ lu.solve(c - AZt @ y)

        return apply
