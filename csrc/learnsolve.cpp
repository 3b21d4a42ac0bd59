// pybind11 entry point of learnsolve._C.  Thin typed wrappers: array shapes
// and lengths are checked here (O(1)), entry-wise checks happen inside the
// kernels (csrc/cpu/csr_kernels.h).  `noconvert` makes a wrong dtype fail
// instead of silently copying.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "cpu/csr_kernels.h"

namespace py = pybind11;
using learnsolve::Status;

template <typename T>
using Arr = py::array_t<T, py::array::c_style>;

namespace {

void raise_status(int status, const char* fn, int64_t row = -1) {
  std::string where = row >= 0 ? " (row " + std::to_string(row) + ")" : "";
  switch (status) {
    case learnsolve::kOk:
      return;
    case learnsolve::kBadIndptr:
      throw py::value_error(std::string(fn) + ": malformed CSR `indptr`" + where +
                            ": it must start at 0, never decrease and end at nnz; "
                            "pass a canonical scipy.sparse.csr_array.");
    case learnsolve::kBadIndex:
      throw py::value_error(std::string(fn) + ": CSR column index out of bounds" + where +
                            "; check `indices` against the matrix shape.");
    case learnsolve::kMissingDiag:
      throw py::value_error(std::string(fn) + ": row" + where +
                            " has no diagonal entry; store the diagonal explicitly.");
    case learnsolve::kBreakdown:
      throw py::value_error(std::string(fn) + ": non-positive pivot" + where +
                            " (factorization breakdown).");
    case learnsolve::kNotTriangular:
      throw py::value_error(std::string(fn) + ": entry on the wrong side of the diagonal" +
                            where + "; pass the strict triangular part.");
    default:
      throw py::value_error(std::string(fn) + ": unknown kernel status");
  }
}

void require(bool ok, const char* fn, const std::string& what) {
  if (!ok) throw py::value_error(std::string(fn) + ": " + what);
}

template <typename I>
void check_csr_sizes(const char* fn, int64_t n_rows, const Arr<I>& indptr,
                     const Arr<I>& indices, int64_t data_len) {
  require(indptr.ndim() == 1 && indices.ndim() == 1, fn, "`indptr` and `indices` must be 1-D");
  require(n_rows >= 0 && indptr.shape(0) == n_rows + 1, fn,
          "`indptr` must have n_rows + 1 entries");
  require(indices.shape(0) == data_len, fn, "`indices` and `data` must have the same length");
}

template <typename I, typename V>
void spmv(int64_t n_cols, const Arr<I>& indptr, const Arr<I>& indices, const Arr<V>& data,
          const Arr<V>& x, Arr<V>& y) {
  const char* fn = "learnsolve._C.spmv";
  const int64_t n_rows = indptr.shape(0) - 1;
  check_csr_sizes<I>(fn, n_rows, indptr, indices, data.shape(0));
  require(x.ndim() == 1 && x.shape(0) == n_cols, fn, "`x` must have n_cols entries");
  require(y.ndim() == 1 && y.shape(0) == n_rows, fn, "`y` must have n_rows entries");
  int status;
  {
    py::gil_scoped_release release;
    status = learnsolve::spmv<I, V>(n_rows, n_cols, data.shape(0), indptr.data(),
                                    indices.data(), data.data(), x.data(), y.mutable_data());
  }
  raise_status(status, fn);
}

template <typename I>
py::tuple levels(const Arr<I>& indptr, const Arr<I>& indices, bool lower) {
  const char* fn = "learnsolve._C.levels";
  const int64_t n = indptr.shape(0) - 1;
  check_csr_sizes<I>(fn, n, indptr, indices, indices.shape(0));
  std::vector<int64_t> level_ptr, level_rows;
  int status = learnsolve::levels<I>(n, indices.shape(0), indptr.data(), indices.data(), lower,
                                     level_ptr, level_rows);
  raise_status(status, fn);
  return py::make_tuple(Arr<int64_t>(level_ptr.size(), level_ptr.data()),
                        Arr<int64_t>(level_rows.size(), level_rows.data()));
}

template <typename I, typename V>
void trsv_serial(const Arr<I>& indptr, const Arr<I>& indices, const Arr<V>& data,
                 const Arr<V>& inv_diag, const Arr<V>& b, Arr<V>& x, bool lower) {
  const char* fn = "learnsolve._C.trsv_serial";
  const int64_t n = indptr.shape(0) - 1;
  check_csr_sizes<I>(fn, n, indptr, indices, data.shape(0));
  require(inv_diag.ndim() == 1 && inv_diag.shape(0) == n, fn, "`inv_diag` must have n entries");
  require(b.ndim() == 1 && b.shape(0) == n, fn, "`b` must have n entries");
  require(x.ndim() == 1 && x.shape(0) == n, fn, "`x` must have n entries");
  require(b.data() != x.data(), fn, "`b` and `x` must not alias");
  int status;
  {
    py::gil_scoped_release release;
    status = learnsolve::trsv_serial<I, V>(n, data.shape(0), indptr.data(), indices.data(),
                                           data.data(), inv_diag.data(), lower, b.data(),
                                           x.mutable_data());
  }
  raise_status(status, fn);
}

template <typename I, typename V>
void trsv_levels(const Arr<I>& indptr, const Arr<I>& indices, const Arr<V>& data,
                 const Arr<V>& inv_diag, const Arr<int64_t>& level_ptr,
                 const Arr<int64_t>& perm, const Arr<V>& b, Arr<V>& x, Arr<V>& work) {
  const char* fn = "learnsolve._C.trsv_levels";
  const int64_t n = indptr.shape(0) - 1;
  check_csr_sizes<I>(fn, n, indptr, indices, data.shape(0));
  require(inv_diag.ndim() == 1 && inv_diag.shape(0) == n, fn, "`inv_diag` must have n entries");
  require(b.ndim() == 1 && b.shape(0) == n, fn, "`b` must have n entries");
  require(x.ndim() == 1 && x.shape(0) == n, fn, "`x` must have n entries");
  require(work.ndim() == 1 && work.shape(0) == n, fn, "`work` must have n entries");
  require(b.data() != x.data() && work.data() != x.data() && work.data() != b.data(), fn,
          "`b`, `x` and `work` must not alias");
  require(perm.ndim() == 1 && perm.shape(0) == n, fn, "`perm` must have n entries");
  require(level_ptr.ndim() == 1 && level_ptr.shape(0) >= 1, fn, "`level_ptr` is empty");
  const int64_t n_levels = level_ptr.shape(0) - 1;
  const int64_t* lp = level_ptr.data();
  require(lp[0] == 0 && lp[n_levels] == n, fn, "`level_ptr` must run from 0 to n");
  for (int64_t l = 0; l < n_levels; ++l)
    require(lp[l] <= lp[l + 1], fn, "`level_ptr` must not decrease");
  int status;
  {
    py::gil_scoped_release release;
    status = learnsolve::trsv_levels<I, V>(n, data.shape(0), indptr.data(), indices.data(),
                                           data.data(), inv_diag.data(), n_levels, lp,
                                           perm.data(), b.data(), x.mutable_data(),
                                           work.mutable_data());
  }
  raise_status(status, fn);
}

// Returns (status, bad_row) instead of raising, so that the caller can tell a
// breakdown (retry with a shift) from malformed input; same contract as the
// numba fallback.
template <typename I, typename V>
py::tuple ilu0(const Arr<I>& indptr, const Arr<I>& indices, Arr<V>& data, double omega,
               double tol) {
  const char* fn = "learnsolve._C.ilu0";
  const int64_t n = indptr.shape(0) - 1;
  check_csr_sizes<I>(fn, n, indptr, indices, data.shape(0));
  int64_t bad_row = -1;
  int status;
  {
    py::gil_scoped_release release;
    status = learnsolve::ilu0<I, V>(n, data.shape(0), indptr.data(), indices.data(),
                                    data.mutable_data(), omega, tol, &bad_row);
  }
  return py::make_tuple(status, bad_row);
}

template <typename I, typename V>
void bind_typed(py::module_& m) {
  m.def("spmv", &spmv<I, V>, py::arg("n_cols"), py::arg("indptr").noconvert(),
        py::arg("indices").noconvert(), py::arg("data").noconvert(), py::arg("x").noconvert(),
        py::arg("y").noconvert());
  m.def("trsv_serial", &trsv_serial<I, V>, py::arg("indptr").noconvert(),
        py::arg("indices").noconvert(), py::arg("data").noconvert(),
        py::arg("inv_diag").noconvert(), py::arg("b").noconvert(), py::arg("x").noconvert(),
        py::arg("lower"));
  m.def("trsv_levels", &trsv_levels<I, V>, py::arg("indptr").noconvert(),
        py::arg("indices").noconvert(), py::arg("data").noconvert(),
        py::arg("inv_diag").noconvert(), py::arg("level_ptr").noconvert(),
        py::arg("perm").noconvert(), py::arg("b").noconvert(), py::arg("x").noconvert(),
        py::arg("work").noconvert());
  m.def("ilu0", &ilu0<I, V>, py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
        py::arg("data").noconvert(), py::arg("omega"), py::arg("tol"));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "learnsolve compiled CSR kernels (OpenMP)";
  bind_typed<int32_t, float>(m);
  bind_typed<int32_t, double>(m);
  bind_typed<int64_t, float>(m);
  bind_typed<int64_t, double>(m);
  m.def("levels", &levels<int32_t>, py::arg("indptr").noconvert(),
        py::arg("indices").noconvert(), py::arg("lower"));
  m.def("levels", &levels<int64_t>, py::arg("indptr").noconvert(),
        py::arg("indices").noconvert(), py::arg("lower"));
  m.def("num_threads", []() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
  });
  m.attr("with_openmp") =
#ifdef _OPENMP
      true;
#else
      false;
#endif
}
