"""The cluster space from each rank's box (multigrid.patch_clusters, basis_rows), every rank run in
one process against the serial cluster_labels / smoothed_basis."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve.multigrid import (
    BLOCK,
    CLUSTER_WIDTH,
    OMEGA,
    THETA,
    Boxes,
    basis_rows,
    cluster_labels,
    patch_clusters,
    patch_operator,
    smoothed_basis,
    stencil_rows,
)


def distributed_basis(A, shape, edges, width=CLUSTER_WIDTH):
    """``(Z, first, weak)``: every rank's rows of ``Z`` stacked (box numbering), the natural index
    of each column's first cell, the ranks' weak-coupling counts."""
    B = Boxes(shape, edges)
    order = np.concatenate([B.natural(r) for r in range(B.size)])
    Ab = A.tocsr()[order][:, order]
    rows_of = [Ab[B.start[r]:B.start[r + 1]] for r in range(B.size)]
    S = np.concatenate([stencil_rows(m.indptr, m.indices, m.data, B, r) for r, m in enumerate(rows_of)])
    parts, rep, weak = [], np.full(B.n, -1), []
    for r in range(B.size):  # each rank: its patch, labels, and the clusters it numbers
        patch = B.patch(r, width)
        cells = tuple(a.reshape(-1) for a in np.meshgrid(*(np.arange(lo, hi) for lo, hi in patch),
                                                         indexing="ij"))
        op = patch_operator(S[B.index(cells)], patch)
        names, w = patch_clusters(op, patch, B, r, theta=THETA, block=BLOCK)
        weak.append(w)
        nat = np.ravel_multi_index(cells, shape)
        firsts = np.sort(nat[np.isin(nat, B.natural(r)) & (names == nat)])
        rep[firsts] = (rep.max() + 1) + np.arange(firsts.size)
        parts.append((patch, op, names))
    m = rep.max() + 1
    rows = [sp.csr_array(basis_rows(op, patch, rep[names], B, r, omega=OMEGA)[::-1], shape=(B.counts[r], m))
            for r, (patch, op, names) in enumerate(parts)]
    first = np.empty(m, dtype=np.int64)
    first[rep[rep >= 0]] = np.flatnonzero(rep >= 0)
    return sp.vstack(rows).tocsr(), order, first, weak


@pytest.mark.parametrize("make, edges", [
    (lambda: learnsolve.problems.diffusion(61, contrast=1e4, seed=3), [[0, 17, 30, 61], [0, 13, 14, 40, 61]]),
    (lambda: learnsolve.problems.diffusion(19, dim=3, contrast=1e4, seed=3),
     [[0, 7, 19], [0, 1, 10, 19], [0, 9, 9, 19]]),
])
def test_each_ranks_rows_of_z_are_the_serial_basis(make, edges):
    p = make()
    Z, order, first, weak = distributed_basis(p.A, p.grid_shape, edges)
    labels, serial_weak = cluster_labels(p.A, p.grid_shape, theta=THETA, block=BLOCK)
    Zs = smoothed_basis(p.A, labels, omega=OMEGA)
    assert Z.shape == Zs.shape and sum(weak) > 0 and serial_weak > 0
    assert abs(Z - Zs[order][:, labels[first]]).max() <= 1e-14


def test_a_narrow_cluster_patch_mislabels():
    p = learnsolve.problems.diffusion(48, contrast=1e4, seed=1)
    labels, _ = cluster_labels(p.A, p.grid_shape, theta=THETA, block=BLOCK)
    Z, order, first, _ = distributed_basis(p.A, p.grid_shape, [[0, 20, 48], [0, 27, 48]], width=2)
    Zs = smoothed_basis(p.A, labels, omega=OMEGA)
    assert Z.shape != Zs.shape or abs(Z - Zs[order][:, labels[first]]).max() > 0.1
