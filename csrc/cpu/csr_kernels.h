// Sparse CSR kernels for learnsolve: SpMV, level scheduling, level-scheduled
// triangular solves and IC(0)/MIC(0) factorization (IKJ variant on the full
// symmetric pattern).
//
// Every kernel checks the CSR arrays it touches (row bounds, column bounds)
// while it runs and reports the first problem through the return value
// instead of reading out of bounds.  Callers raise ValueError on a nonzero
// status; nothing here can crash the interpreter on malformed input.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace learnsolve {

// Status codes shared with the Python wrappers.
enum Status : int {
  kOk = 0,
  kBadIndptr = 1,      // indptr not monotone or outside [0, nnz]
  kBadIndex = 2,       // column index outside [0, n_cols)
  kMissingDiag = 3,    // a row has no diagonal entry
  kBreakdown = 4,      // non-positive pivot in a factorization
  kNotTriangular = 5,  // an entry on the wrong side of the diagonal
};

// y = A x, rows split statically over OpenMP threads.
template <typename I, typename V>
int spmv(int64_t n_rows, int64_t n_cols, int64_t nnz, const I* indptr,
         const I* indices, const V* data, const V* x, V* y) {
  int status = kOk;
#pragma omp parallel for schedule(static) reduction(max : status) if (nnz > 20000)
  for (int64_t i = 0; i < n_rows; ++i) {
    const int64_t start = indptr[i], end = indptr[i + 1];
    if (start < 0 || end < start || end > nnz) {
      status = kBadIndptr > status ? kBadIndptr : status;
      y[i] = V(0);
      continue;
    }
    V acc = V(0);
    for (int64_t p = start; p < end; ++p) {
      const int64_t j = indices[p];
      if (j < 0 || j >= n_cols) {
        status = kBadIndex > status ? kBadIndex : status;
        continue;
      }
      acc += data[p] * x[j];
    }
    y[i] = acc;
  }
  return status;
}

// Dependency levels of a triangular matrix given by its strict part S
// (lower: S[i, j] != 0 only for j < i; upper: only for j > i).
// level[i] = 1 + max(level[j] for j in row i of S); rows are returned grouped
// by level (level_ptr, level_rows), in increasing row order inside a level.
template <typename I>
int levels(int64_t n, int64_t nnz, const I* indptr, const I* indices,
           bool lower, std::vector<int64_t>& level_ptr,
           std::vector<int64_t>& level_rows) {
  std::vector<int64_t> level(n, 0);
  int64_t n_levels = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t i = lower ? t : n - 1 - t;
    const int64_t start = indptr[i], end = indptr[i + 1];
    if (start < 0 || end < start || end > nnz) return kBadIndptr;
    int64_t lev = 0;
    for (int64_t p = start; p < end; ++p) {
      const int64_t j = indices[p];
      if (j < 0 || j >= n) return kBadIndex;
      if (lower ? (j >= i) : (j <= i)) return kNotTriangular;
      if (level[j] + 1 > lev) lev = level[j] + 1;
    }
    level[i] = lev;
    if (lev + 1 > n_levels) n_levels = lev + 1;
  }
  level_ptr.assign(n_levels + 1, 0);
  for (int64_t i = 0; i < n; ++i) ++level_ptr[level[i] + 1];
  for (int64_t l = 0; l < n_levels; ++l) level_ptr[l + 1] += level_ptr[l];
  level_rows.assign(n, 0);
  std::vector<int64_t> fill(level_ptr.begin(), level_ptr.end() - 1);
  for (int64_t i = 0; i < n; ++i) level_rows[fill[level[i]]++] = i;
  return kOk;
}

// Solve (D + S) x = b, level by level, with S stored *permuted into level
// order*: row k of S_p (and inv_diag_p[k]) belongs to original row perm[k],
// column indices of S_p are positions in that order, and the rows of level l
// are the contiguous block [level_ptr[l], level_ptr[l+1]).  Each level then
// streams through memory and its dependencies sit in earlier blocks.  `w` is
// an n-long work array: b is gathered into it, solved in place, scattered to x.
template <typename I, typename V>
int trsv_levels(int64_t n, int64_t nnz, const I* indptr, const I* indices,
                const V* data, const V* inv_diag, int64_t n_levels,
                const int64_t* level_ptr, const int64_t* perm, const V* b,
                V* x, V* w) {
  int status = kOk;
#pragma omp parallel reduction(max : status)
  {
#pragma omp for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = perm[k];
      if (i < 0 || i >= n) {
        status = kBadIndex > status ? kBadIndex : status;
        w[k] = V(0);
      } else {
        w[k] = b[i];
      }
    }
    for (int64_t l = 0; l < n_levels; ++l) {
#pragma omp for schedule(static)
      for (int64_t k = level_ptr[l]; k < level_ptr[l + 1]; ++k) {
        const int64_t start = indptr[k], end = indptr[k + 1];
        if (start < 0 || end < start || end > nnz) {
          status = kBadIndptr > status ? kBadIndptr : status;
          continue;
        }
        V acc = w[k];
        for (int64_t p = start; p < end; ++p) {
          const int64_t j = indices[p];
          if (j < 0 || j >= n) {
            status = kBadIndex > status ? kBadIndex : status;
            continue;
          }
          acc -= data[p] * w[j];
        }
        w[k] = acc * inv_diag[k];
      }
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = perm[k];
      if (i >= 0 && i < n) x[i] = w[k];
    }
  }
  return status;
}

// Plain forward/backward substitution (no levels): the fastest order on one
// thread because it streams through memory.
template <typename I, typename V>
int trsv_serial(int64_t n, int64_t nnz, const I* indptr, const I* indices,
                const V* data, const V* inv_diag, bool lower, const V* b,
                V* x) {
  for (int64_t t = 0; t < n; ++t) {
    const int64_t i = lower ? t : n - 1 - t;
    const int64_t start = indptr[i], end = indptr[i + 1];
    if (start < 0 || end < start || end > nnz) return kBadIndptr;
    V acc = b[i];
    for (int64_t p = start; p < end; ++p) {
      const int64_t j = indices[p];
      if (j < 0 || j >= n) return kBadIndex;
      acc -= data[p] * x[j];
    }
    x[i] = acc * inv_diag[i];
  }
  return kOk;
}

// In-place incomplete LU with zero fill (IKJ variant) of a matrix with a
// symmetric pattern, sorted column indices and a diagonal entry in every row.
// With omega > 0 the dropped fill of row i, times omega, is subtracted from
// the pivot (relaxed modified ILU; omega = 1 keeps row sums).  For symmetric
// A the result is L_unit * U with U = D L_unit^T, so IC(0) = L_unit D^{1/2}.
// `bad_row` receives the row of a failure.  A pivot <= tol * |a_ii| is a
// breakdown.
template <typename I, typename V>
int ilu0(int64_t n, int64_t nnz, const I* indptr, const I* indices, V* a,
         double omega, double tol, int64_t* bad_row) {
  std::vector<int64_t> diag(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t start = indptr[i], end = indptr[i + 1];
    if (start < 0 || end < start || end > nnz) { *bad_row = i; return kBadIndptr; }
    for (int64_t p = start; p < end; ++p) {
      const int64_t j = indices[p];
      if (j < 0 || j >= n) { *bad_row = i; return kBadIndex; }
      if (j == i) diag[i] = p;
    }
    if (diag[i] < 0) { *bad_row = i; return kMissingDiag; }
  }
  std::vector<int64_t> where(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t start = indptr[i], end = indptr[i + 1];
    const double a_ii = std::fabs(double(a[diag[i]]));
    for (int64_t p = start; p < end; ++p) where[indices[p]] = p;
    double dropped = 0.0;
    for (int64_t p = start; p < end; ++p) {
      const int64_t k = indices[p];
      if (k >= i) continue;  // only the strict lower part eliminates
      const V l_ik = a[p] / a[diag[k]];
      a[p] = l_ik;
      for (int64_t q = diag[k] + 1; q < indptr[k + 1]; ++q) {
        const int64_t j = indices[q];
        if (j <= k) continue;  // unsorted tail guard
        const int64_t w = where[j];
        if (w >= 0) {
          a[w] -= l_ik * a[q];
        } else {
          dropped += double(l_ik) * double(a[q]);
        }
      }
    }
    if (omega != 0.0) a[diag[i]] -= V(omega * dropped);
    for (int64_t p = start; p < end; ++p) where[indices[p]] = -1;
    const double pivot = double(a[diag[i]]);
    if (!(pivot > tol * a_ii)) { *bad_row = i; return kBreakdown; }
  }
  return kOk;
}

}  // namespace learnsolve
