"""Stencil kernels for grid multigrid (numba, parallel over grid lines).

Arrays are flat views of zero-padded grids (the layout of :mod:`learnsolve.multigrid`):
a grid function is ``(N,)`` with ``N = Pz·Py·Px``; a level's stencil ``S`` is
``(m, N)`` (offset by offset, as the set-up kernels read it), while the kernels a
cycle runs (:func:`residual`, :func:`matvec`, :func:`add_rmatvec`,
:func:`transpose_stencil`) take *cell-major* stencils
``(N, k)``: one cell's ``k`` entries are contiguous, a single stream for the
prefetcher instead of ``k`` (2.4× faster for 27 offsets here), and ``delta``
gives the flat step of each of the ``k`` offsets held (the rows of ``S`` that are
not all zero, or the centre alone for a diagonal smoother).  Coarse cell ``C``
(padded index) sits on fine cell ``(sz·Cz, 2·Cy, 2·Cx)``; ``sz`` is 2 in 3D and
0 in 2D.  A prolongation is stored per coarse cell as ``Pc[q, C]`` = weight of
coarse ``C`` at fine cell ``fine(C) + offsets[q]`` (a 3^d "stencil" of ``P``'s
column).  The references these
kernels are tested against are the torch grid hierarchy of
:mod:`learnsolve.multigrid` (the same arithmetic, vectorized), the SciPy
products ``Pᵀ A P`` and, for the smoother network's inputs and outputs
(:func:`inverse_sqrt_diagonal`, :func:`smoother_features`, :func:`smoother_assemble`),
the torch forward of :class:`learnsolve.nn.SmootherNet`.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, cache=True)
def nonzero_rows(S):
    """Which rows of a stencil ``(m, N)`` hold a nonzero (each row scanned up to its first one)."""
    out = np.zeros(S.shape[0], dtype=np.bool_)
    for o in prange(S.shape[0]):
        for p in range(S.shape[1]):
            if S[o, p] != 0:
                out[o] = True
                break
    return out


@numba.njit(parallel=True, cache=True)
def far_rows(indptr, indices, nz, ny, nx):  # pragma: no cover - jitted
    """How many rows of CSR ``(indptr, indices)`` (sorted columns) couple a cell of the
    ``nz × ny × nx`` grid (C order) to one that is not a neighbour: each row's columns merged
    against its in-grid 3^d neighbours, in increasing order (no divisions)."""
    bad = 0
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                i = (z * ny + y) * nx + x
                p, end = indptr[i], indptr[i + 1]
                ok = True
                for dz in range(-1, 2):
                    if z + dz < 0 or z + dz >= nz:
                        continue
                    for dy in range(-1, 2):
                        if y + dy < 0 or y + dy >= ny:
                            continue
                        for dx in range(-1, 2):
                            if x + dx < 0 or x + dx >= nx:
                                continue
                            c = i + (dz * ny + dy) * nx + dx
                            if p < end and indices[p] < c:
                                ok = False
                            while p < end and indices[p] == c:
                                p += 1
                if p < end or not ok:
                    bad += 1
    return bad


@numba.njit(parallel=True, cache=True)
def residual(S, delta, b, x, r, z0, z1, Py, Px):
    """``r = b - S x`` on interior cells (``S`` cell-major; ghosts of ``r`` untouched)."""
    ny = Py - 2
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        for p in range(base + 1, base + Px - 1):
            s = b[p]
            for o in range(delta.shape[0]):
                s -= S[p, o] * x[p + delta[o]]
            r[p] = s


@numba.njit(parallel=True, cache=True)
def matvec(K, delta, r, x, z0, z1, Py, Px, add):
    """``x = K r`` (``add`` false) or ``x += K r`` (``add`` true) on interior cells (``K``
    cell-major; ghosts of ``x`` untouched)."""
    ny = Py - 2
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        for p in range(base + 1, base + Px - 1):
            s = 0.0
            for o in range(delta.shape[0]):
                s += K[p, o] * r[p + delta[o]]
            if add:
                x[p] += s
            else:
                x[p] = s


@numba.njit(parallel=True, cache=True)
def add_rmatvec(K, delta, mirror, r, x, z0, z1, Py, Px):
    """``x += Kᵀ r`` on interior cells (``K`` cell-major; ``K[p + δ_o, mirror[o]]`` is
    ``Kᵀ[p, p + δ_o]``)."""
    ny = Py - 2
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        for p in range(base + 1, base + Px - 1):
            s = 0.0
            for o in range(delta.shape[0]):
                q = p + delta[o]
                s += K[q, mirror[o]] * r[q]
            x[p] += s


@numba.njit(parallel=True, cache=True)
def stencil_defects(S, delta, mirror, z0, z1, Py, Px, out):
    """Per interior grid line ``t``: ``out[t] = (max |S[o, p] − S[mirror[o], p + δ_o]|,
    max |S[o, p]|, min S[centre, p])`` over the line's cells (``S`` offset-major ``(m, N)``).

    One pass for :func:`learnsolve.multigrid.check_stencil` on the host (symmetry and a
    positive diagonal, about 10× faster than the sliced array version).
    """
    c = S.shape[0] // 2
    ny = Py - 2
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        asym, big, low = 0.0, 0.0, np.inf
        for p in range(base + 1, base + Px - 1):
            low = min(low, S[c, p])
            for o in range(S.shape[0]):
                v = S[o, p]
                big = max(big, abs(v))
                asym = max(asym, abs(v - S[mirror[o], p + delta[o]]))
        out[t, 0], out[t, 1], out[t, 2] = asym, big, low


@numba.njit(parallel=True, cache=True)
def weak_couplings(S, delta, theta, z0, z1, Py, Px, out):
    """Per interior grid line ``t``: ``out[t]`` = how many of its nonzero off-diagonal entries
    have ``|S[o, p]| ≤ θ √(s_p s_{p+δ_o})`` (``s`` the centre row): couplings across coefficient
    jumps (:func:`learnsolve.multigrid.weak_couplings`; squares, no root, per entry)."""
    c = S.shape[0] // 2
    ny = Py - 2
    t2 = theta * theta
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        count = 0
        for p in range(base + 1, base + Px - 1):
            for o in range(S.shape[0]):
                v = S[o, p]
                if o != c and v != 0.0 and v * v <= t2 * S[c, p] * S[c, p + delta[o]]:
                    count += 1
        out[t] = count


@numba.njit(parallel=True, cache=True)
def transpose_stencil(K, delta, mirror, KT, z0, z1, Py, Px):
    """``KT`` = the stencil of ``Kᵀ``: ``KT[p, o] = K[p + δ_o, mirror[o]]`` on interior cells
    (both cell-major).

    With it the post-smoother ``x += Kᵀ r`` is :func:`matvec` on ``KT`` (about twice as
    fast here as :func:`add_rmatvec`, whose reads are spread over ``m`` cells).
    """
    ny = Py - 2
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        for p in range(base + 1, base + Px - 1):
            for o in range(delta.shape[0]):
                KT[p, o] = K[p + delta[o], mirror[o]]


@numba.njit(parallel=True, cache=True)
def restrict(Pc, fdelta, rf, rc, cz0, cz1, cPy, cPx, fPy, fPx, sz):
    """``rc = Pᵀ rf`` on interior coarse cells."""
    ny = cPy - 2
    for t in prange((cz1 - cz0) * ny):
        cz = cz0 + t // ny
        cy = 1 + t % ny
        cbase = (cz * cPy + cy) * cPx
        fbase = (sz * cz * fPy + 2 * cy) * fPx
        for cx in range(1, cPx - 1):
            c = cbase + cx
            f = fbase + 2 * cx
            s = 0.0
            for q in range(fdelta.shape[0]):
                s += Pc[q, c] * rf[f + fdelta[q]]
            rc[c] = s


@numba.njit(inline="always")
def _parents(f):
    """The coarse cells of fine index ``f`` along one axis as ``(count, o0, c0, o1, c1)``: ``f = 2c + o``
    with ``o`` in ``{-1, 0, 1}``, offsets ascending (one parent when ``f`` is even, two when odd)."""
    if f & 1:
        return 2, -1, (f + 1) // 2, 1, (f - 1) // 2
    return 1, 0, f // 2, 0, 0


@numba.njit(parallel=True, cache=True)
def prolong_add(Pc, ec, xf, z0, z1, fPy, fPx, cPy, cPx, active_z):
    """``xf += P ec`` on interior fine cells (a gather: no write conflicts).

    Each fine cell visits only its 1–8 parent coarse cells (``_parents`` per axis), in
    the order of the offsets (``q`` ascending), so the sum is the one over all ``q``
    with the non-parents skipped.
    """
    ny = fPy - 2
    for t in prange((z1 - z0) * ny):
        fz = z0 + t // ny
        fy = 1 + t % ny
        if active_z:
            nz, oz0, cz0, oz1, cz1 = _parents(fz)
        else:
            nz, oz0, cz0, oz1, cz1 = 1, 0, 0, 0, 0
        nyp, oy0, cy0, oy1, cy1 = _parents(fy)
        for fx in range(1, fPx - 1):
            nxp, ox0, cx0, ox1, cx1 = _parents(fx)
            s = 0.0
            for iz in range(nz):
                oz, cz = (oz0, cz0) if iz == 0 else (oz1, cz1)
                qz = (oz + 1) * 9 if active_z else 0
                for iy in range(nyp):
                    oy, cy = (oy0, cy0) if iy == 0 else (oy1, cy1)
                    for ix in range(nxp):
                        ox, cx = (ox0, cx0) if ix == 0 else (ox1, cx1)
                        c = (cz * cPy + cy) * cPx + cx
                        s += Pc[qz + (oy + 1) * 3 + ox + 1, c] * ec[c]
            xf[(fz * fPy + fy) * fPx + fx] += s


@numba.njit(parallel=True, cache=True)
def galerkin(S, Pc, terms, active, fdelta, cdelta, Sc, cz0, cz1, cPy, cPx, fPy, fPx, sz):
    """``Sc = Pᵀ S P`` by stencil arithmetic; ``terms`` rows are (D, qa, qb, o) offset indices.

    ``terms`` must be grouped by ``D`` (as :func:`galerkin_terms` makes them) and may
    leave out the offsets ``o`` whose stencil row is zero; ``active`` lists the offsets
    that remain.  Per coarse cell the products ``P[qa, c]·S[o, f + δ_qa]`` are formed
    once and each output entry is accumulated in a register, so the 2,197 terms of a
    3D 27-point product cost one multiply-add each (about a quarter of them for a
    7-point fine stencil).
    """
    m = S.shape[0]
    ny = cPy - 2
    nterm = terms.shape[0]
    for t in prange((cz1 - cz0) * ny):
        cz = cz0 + t // ny
        cy = 1 + t % ny
        cbase = (cz * cPy + cy) * cPx
        fbase = (sz * cz * fPy + 2 * cy) * fPx
        W = np.empty((m, m))
        for cx in range(1, cPx - 1):
            c = cbase + cx
            f = fbase + 2 * cx
            for qa in range(m):
                pa = Pc[qa, c]
                fa = f + fdelta[qa]
                for j in range(active.shape[0]):
                    o = active[j]
                    W[qa, o] = pa * S[o, fa]
            k = 0
            while k < nterm:
                D = terms[k, 0]
                cd = c + cdelta[D]
                acc = 0.0
                while k < nterm and terms[k, 0] == D:
                    acc += W[terms[k, 1], terms[k, 3]] * Pc[terms[k, 2], cd]
                    k += 1
                Sc[D, c] += acc


@numba.njit(parallel=True, cache=True)
def boxmg_prolongation(S, offs, order, num_o, num_t, den_o, Pc, cz0, cz1, cPy, cPx, fPz, fPy, fPx,
                       sz, active_z):
    """Operator-dependent (black-box multigrid) interpolation weights ``Pc``.

    For fine cell ``f = fine(C) + q`` with ``q`` nonzero on axes ``F``:
    ``P[f, C] = -Σ S[o, f]·P[f + o|F, C] / Σ_{o|F = 0} S[o, f]`` — neighbours are
    collapsed onto the axes along which ``f`` lies between coarse cells
    (Dendy's black-box multigrid, generalized to 3D).  Cells are processed in
    ``order`` (by the number of nonzeros of ``q``) so every ``P[f + o|F, C]``
    needed is already known.
    """
    ny = cPy - 2
    center = offs.shape[0] // 2
    for t in prange((cz1 - cz0) * ny):
        cz = cz0 + t // ny
        cy = 1 + t % ny
        for cx in range(1, cPx - 1):
            c = (cz * cPy + cy) * cPx + cx
            Pc[center, c] = 1.0
            for j in range(order.shape[0]):
                q = order[j]
                fz = sz * cz + offs[q, 0]
                fy = 2 * cy + offs[q, 1]
                fx = 2 * cx + offs[q, 2]
                inside = 1 <= fy < fPy - 1 and 1 <= fx < fPx - 1
                if active_z:
                    inside = inside and 1 <= fz < fPz - 1
                if not inside:
                    Pc[q, c] = 0.0
                    continue
                f = (fz * fPy + fy) * fPx + fx
                num = 0.0
                for k in range(num_o.shape[1]):
                    o = num_o[q, k]
                    if o < 0:
                        break
                    num += S[o, f] * Pc[num_t[q, k], c]
                den = 0.0
                for k in range(den_o.shape[1]):
                    o = den_o[q, k]
                    if o < 0:
                        break
                    den += S[o, f]
                Pc[q, c] = -num / den if den > 0.0 else 0.0


def boxmg_plan(offs):
    """Tables for :func:`boxmg_prolongation`: processing order and collapsed neighbour lists."""
    m = len(offs)
    index = {tuple(o): k for k, o in enumerate(offs)}
    order = sorted((k for k in range(m) if np.any(offs[k])), key=lambda k: int(np.count_nonzero(offs[k])))
    num_o = -np.ones((m, m), dtype=np.int64)
    num_t = -np.ones((m, m), dtype=np.int64)
    den_o = -np.ones((m, m), dtype=np.int64)
    for q in order:
        F = offs[q] != 0
        ni = di = 0
        for o in range(m):
            of = np.where(F, offs[o], 0)
            if not of.any():
                den_o[q, di] = o
                di += 1
                continue
            tgt = tuple(offs[q] + of)
            if tgt in index:
                num_o[q, ni], num_t[q, ni] = o, index[tgt]
                ni += 1
    return np.array(order, dtype=np.int64), num_o, num_t, den_o


def galerkin_terms(offs, scale):
    """Rows ``(D, qa, qb, o)`` with ``o = scale·D + qb - qa`` a stencil offset (grouped by ``D``)."""
    key = tuple(map(tuple, np.asarray(offs).tolist())), tuple(np.atleast_1d(scale).tolist())
    return _galerkin_terms(*key).copy()


@functools.lru_cache(maxsize=8)
def _galerkin_terms(offs, scale):
    offs = np.array(offs)
    scale = np.array(scale) if len(scale) > 1 else scale[0]
    index = {tuple(o): k for k, o in enumerate(offs)}
    rows = []
    for D, dv in enumerate(offs):
        for qa, av in enumerate(offs):
            for qb, bv in enumerate(offs):
                o = tuple(scale * dv + bv - av)
                if o in index:
                    rows.append((D, qa, qb, index[o]))
    return np.array(rows, dtype=np.int64)


@numba.njit(parallel=True, cache=True)
def scatter(indptr, indices, data, grid, zpad, off_index, S, bad):
    """Per-cell stencils of CSR arrays: ``S[o, p] += a_ij`` for ``j = i + offsets[o]``.

    ``grid`` is ``(nz, ny, nx)`` (``nz = 1`` in 2D), ``zpad`` 1 in 3D and 0 in 2D,
    ``off_index`` maps ``(dz+1)·9 + (dy+1)·3 + dx+1`` to the stencil row (-1: none).
    ``bad[i]`` is set to 1 for a row that couples cells that are not neighbours.
    """
    ny, nx = grid[1], grid[2]
    n = indptr.shape[0] - 1
    for i in prange(n):
        iz = i // (ny * nx)
        iy = (i // nx) % ny
        ix = i % nx
        pi = ((iz + zpad) * (ny + 2) + iy + 1) * (nx + 2) + ix + 1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            dz = j // (ny * nx) - iz
            dy = (j // nx) % ny - iy
            dx = j % nx - ix
            if dz < -1 or dz > 1 or dy < -1 or dy > 1 or dx < -1 or dx > 1:
                bad[i] = 1
                break
            o = off_index[(dz + 1) * 9 + (dy + 1) * 3 + dx + 1]
            if o < 0:
                bad[i] = 1
                break
            S[o, pi] += data[k]


@numba.njit(parallel=True, cache=True)
def match_columns(indptr, indices, data, expected, qs, S, bad):
    """Row stencils from CSR rows whose columns are given per offset: ``S[i, qs[t]] = a_ij`` for
    the entry with ``j = expected[t, i]`` (``-1``: no neighbour there); ``bad[i]`` counts row
    ``i``'s entries matching none.  (The reference: :func:`learnsolve.multigrid.stencil_rows`'s
    tests against :func:`learnsolve.multigrid.grid_stencil`.)"""
    m = expected.shape[0]
    for i in prange(indptr.shape[0] - 1):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            t = 0
            while t < m and expected[t, i] != j:
                t += 1
            if t < m:
                S[i, qs[t]] = data[k]
            else:
                bad[i] += 1


@numba.njit(cache=True)
def interpolation_slots(Pc, col, offs, step, base, blo, bhi, cols, vals, valid):
    """A rank's interpolation rows as slots from a patch's weights: coarse cell ``c`` (per axis
    ``z, y, x``) gives fine cell ``step c + base + o`` weight ``Pc[q, c]`` at offset
    ``o = offs[q]``; fine cells inside the box ``[blo, bhi)`` get it in slot ``Σ_a [o_a = 1] 2^a``
    (over the grid's axes: ``cols`` has 4 slots in 2D, 8 in 3D) of their row (box order), column
    ``col[c]``.  Zero weights are left out.  (Reference: the serial hierarchy's ``P``, which
    :func:`learnsolve.multigrid.interpolation_rows` must equal row for row in the tests, 2D and
    3D.)"""
    wy = bhi[1] - blo[1]
    wx = bhi[2] - blo[2]
    cz, cy, cx = col.shape
    first = 1 if cols.shape[1] == 4 else 0  # 4 slots: y, x (2D); 8: z, y, x
    for q in range(Pc.shape[0]):
        slot = 0
        for a in range(first, 3):
            if offs[q, a] == 1:
                slot += 1 << (a - first)
        for k in range(cz):
            gz = step[0] * k + base[0] + offs[q, 0]
            if gz < blo[0] or gz >= bhi[0]:
                continue
            for j in range(cy):
                gy = step[1] * j + base[1] + offs[q, 1]
                if gy < blo[1] or gy >= bhi[1]:
                    continue
                for i in range(cx):
                    w = Pc[q, k, j, i]
                    gx = step[2] * i + base[2] + offs[q, 2]
                    if w == 0 or gx < blo[2] or gx >= bhi[2]:
                        continue
                    row = ((gz - blo[0]) * wy + gy - blo[1]) * wx + gx - blo[2]
                    cols[row, slot] = col[k, j, i]
                    vals[row, slot] = w
                    valid[row, slot] = True


@numba.njit(parallel=True, cache=True)
def slot_counts(cols, valid, lo, hi, inside, outside):
    """Per row of ``(n, w)`` slots the valid entries with a column in ``[lo, hi)`` (``inside``)
    and the others (``outside``)."""
    for i in prange(cols.shape[0]):
        a = 0
        b = 0
        for j in range(cols.shape[1]):
            if valid[i, j]:
                if lo <= cols[i, j] < hi:
                    a += 1
                else:
                    b += 1
        inside[i] = a
        outside[i] = b


@numba.njit(cache=True, inline="always")
def _insert_sorted(ind, data, start, end, c, v):
    """Put ``(c, v)`` into the sorted ``ind[start:end]`` / ``data[start:end]`` (one longer after)."""
    t = end  # insertion sort: a row holds at most 27 entries
    while t > start and ind[t - 1] > c:
        ind[t] = ind[t - 1]
        data[t] = data[t - 1]
        t -= 1
    ind[t] = c
    data[t] = v


@numba.njit(parallel=True, cache=True)
def slots_to_csr(cols, vals, valid, lo, hi, dptr, dind, ddata, optr, oind, odata):
    """CSR rows from ``(n, w)`` slots, split at the column range ``[lo, hi)``: row ``i``'s valid
    ``(cols, vals)`` inside it, columns shifted by ``-lo``, sorted into ``dind``/``ddata`` from
    ``dptr[i]``, the others sorted into ``oind``/``odata`` from ``optr[i]`` (the pointers: the
    cumulated :func:`slot_counts`).  (Reference: ``scipy.sparse.csr_array`` of the same entries,
    in the tests.)"""
    for i in prange(cols.shape[0]):
        a = dptr[i]
        b = optr[i]
        for j in range(cols.shape[1]):
            if valid[i, j]:
                c = cols[i, j]
                if lo <= c < hi:
                    _insert_sorted(dind, ddata, dptr[i], a, c - lo, vals[i, j])
                    a += 1
                else:
                    _insert_sorted(oind, odata, optr[i], b, c, vals[i, j])
                    b += 1


@numba.njit(parallel=True, cache=True)
def inverse_sqrt_diagonal(S, inv, z0, z1, Py, Px):
    """``inv[p] = 1/√s_p`` in float32 on interior cells (``s`` the centre row of ``S`` cast to
    float32; 0 where ``s_p ≤ 0``), as the smoother network's torch forward computes it."""
    c = S.shape[0] // 2
    ny = Py - 2
    one = np.float32(1.0)
    for t in prange((z1 - z0) * ny):
        base = ((z0 + t // ny) * Py + 1 + t % ny) * Px
        for p in range(base + 1, base + Px - 1):
            d = np.float32(S[c, p])
            inv[p] = one / np.sqrt(d) if d > 0 else np.float32(0.0)


@numba.njit(inline="always")
def _line_start(t, z0, Py, Px):
    """Flat index of the first interior cell of interior grid line ``t`` (lines in C order)."""
    ny = Py - 2
    return ((z0 + t // ny) * Py + 1 + t % ny) * Px + 1


@numba.njit(parallel=True, cache=True)
def smoother_features(S, delta, inv, feats, l0, l1, z0, Py, Px):
    """Inputs of the per-cell smoother network on grid lines ``l0 ≤ t < l1`` (float32, as its
    torch forward computes them): row ``(t − l0)·nx + i`` of ``feats`` holds the scaled
    off-centre entries ``(S[o, p]·inv[p])·inv[p + δ_o]`` of the line's ``i``-th cell ``p``
    (``inv`` from :func:`inverse_sqrt_diagonal`).
    """
    m = delta.shape[0]
    c = m // 2
    nx = Px - 2
    for t in prange(l0, l1):
        first = _line_start(t, z0, Py, Px)
        for i in range(nx):
            p, j = first + i, (t - l0) * nx + i
            k = 0
            for o in range(m):
                if o != c:
                    feats[j, k] = (np.float32(S[o, p]) * inv[p]) * inv[p + delta[o]]
                    k += 1


@numba.njit(parallel=True, cache=True)
def smoother_assemble(kappa, inv, delta, live, mirror, omega, K, KT, l0, l1, z0, Py, Px):
    """The smoother stencil ``K[p, i] = (κ_o + ω [o = centre])·(inv[p]·inv[p + δ_o])``, ``o =
    live[i]`` (cell-major, float32, as the torch forward), on grid lines ``l0 ≤ t < l1`` from the
    network's outputs ``kappa`` (rows as in :func:`smoother_features`, all ``m`` offsets), and its
    transpose ``KT[p + δ_o, mirror[i]] = K[p, i]`` in the same pass.

    ``live`` lists the offsets ``K`` keeps (all ``m``, or those of ``A``'s pattern) and
    ``mirror[i]`` is the position in ``live`` of ``−live[i]``.
    """
    c = delta.shape[0] // 2
    nx = Px - 2
    for j in prange((l1 - l0) * nx):  # cell by cell: row j of kappa
        p = _line_start(l0 + j // nx, z0, Py, Px) + j % nx
        for i in range(live.shape[0]):
            o = live[i]
            q = p + delta[o]
            k = kappa[j, o] + omega if o == c else kappa[j, o]
            v = k * (inv[p] * inv[q])
            K[p, i] = v
            KT[q, mirror[i]] = v
