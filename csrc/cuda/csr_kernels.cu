// learnsolve CUDA kernels, compiled at run time by CuPy's RawModule (NVRTC): `pip install` needs
// no CUDA toolkit.  Plain C-linkage kernels, one per dtype, no includes (NVRTC has no host headers).
// CPU references: scipy's CSR product (SpMV), learnsolve.ops._stencil (stencil kernels) and
// scipy's spsolve_triangular (the level-scheduled triangular solve); the
// GPU tests in tests/test_cuda.py compare against them, and a CPU-only test compiles this file
// with nvcc when it is on the PATH.
//
// Indices are 32-bit (cupyx.scipy.sparse's CSR), lengths fit in int; callers check both.

#define LS_SPMV_SCALAR(NAME, T)                                                              \
  extern "C" __global__ void NAME(int n, const int* __restrict__ indptr,                      \
                                  const int* __restrict__ indices, const T* __restrict__ data, \
                                  const T* __restrict__ x, T* __restrict__ y) {               \
    int row = blockIdx.x * blockDim.x + threadIdx.x;                                          \
    if (row >= n) return;                                                                     \
    T acc = 0;                                                                                \
    for (int p = indptr[row]; p < indptr[row + 1]; ++p) acc += data[p] * x[indices[p]];       \
    y[row] = acc;                                                                             \
  }

// One warp per row: lanes stride over the row, then a shuffle reduction (rows with many entries).
#define LS_SPMV_WARP(NAME, T)                                                                \
  extern "C" __global__ void NAME(int n, const int* __restrict__ indptr,                      \
                                  const int* __restrict__ indices, const T* __restrict__ data, \
                                  const T* __restrict__ x, T* __restrict__ y) {               \
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;                                  \
    int lane = threadIdx.x & 31;                                                              \
    if (warp >= n) return;                                                                    \
    T acc = 0;                                                                                \
    for (int p = indptr[warp] + lane; p < indptr[warp + 1]; p += 32)                          \
      acc += data[p] * x[indices[p]];                                                         \
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);    \
    if (lane == 0) y[warp] = acc;                                                             \
  }

// Position in the padded array of interior cell t (cells numbered x fastest, from plane z0).
extern "C" __device__ __forceinline__ long long ls_cell(long long t, int z0, int Py, int Px) {
  long long line = t / (Px - 2);
  return ((z0 + line / (Py - 2)) * (long long)Py + 1 + line % (Py - 2)) * Px + 1 + t % (Px - 2);
}

// r = b - S x on the interior cells of a padded grid (one ghost layer), S[o, p] the coefficient
// of x[p + delta[o]] in row p: the layout of learnsolve.ops._stencil.residual.
#define LS_STENCIL_RESIDUAL(NAME, T)                                                         \
  extern "C" __global__ void NAME(const T* __restrict__ S, const long long* __restrict__ delta, \
                                  int n_off, const T* __restrict__ b, const T* __restrict__ x, \
                                  T* __restrict__ r, int z0, int z1, int Py, int Px,          \
                                  long long stride) {                                         \
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;                           \
    if (t >= (long long)(z1 - z0) * (Py - 2) * (Px - 2)) return;                              \
    long long p = ls_cell(t, z0, Py, Px);                                                     \
    T acc = b[p];                                                                             \
    for (int o = 0; o < n_off; ++o) acc -= S[o * stride + p] * x[p + delta[o]];               \
    r[p] = acc;                                                                               \
  }

// x += K r on the interior cells (the smoother's update; same layout as the residual).
#define LS_STENCIL_ADD_MATVEC(NAME, T)                                                       \
  extern "C" __global__ void NAME(const T* __restrict__ K, const long long* __restrict__ delta, \
                                  int n_off, const T* __restrict__ r, T* __restrict__ x,      \
                                  int z0, int z1, int Py, int Px, long long stride) {         \
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;                           \
    if (t >= (long long)(z1 - z0) * (Py - 2) * (Px - 2)) return;                              \
    long long p = ls_cell(t, z0, Py, Px);                                                     \
    T acc = 0;                                                                                \
    for (int o = 0; o < n_off; ++o) acc += K[o * stride + p] * r[p + delta[o]];              \
    x[p] += acc;                                                                              \
  }

// One dependency level of a triangular solve: rows[start:end] depend only on earlier levels, so
// each thread finishes one row, x_i = (b_i - sum_j S_ij x_j) / t_ii, with S the strict triangle.
#define LS_TRSV_LEVEL(NAME, T)                                                               \
  extern "C" __global__ void NAME(int start, int end, const int* __restrict__ rows,           \
                                  const int* __restrict__ indptr,                             \
                                  const int* __restrict__ indices, const T* __restrict__ data, \
                                  const T* __restrict__ inv_diag, const T* __restrict__ b,    \
                                  T* __restrict__ x) {                                        \
    int t = start + blockIdx.x * blockDim.x + threadIdx.x;                                    \
    if (t >= end) return;                                                                     \
    int i = rows[t];                                                                          \
    T acc = b[i];                                                                             \
    for (int p = indptr[i]; p < indptr[i + 1]; ++p) acc -= data[p] * x[indices[p]];           \
    x[i] = acc * inv_diag[i];                                                                 \
  }

LS_SPMV_SCALAR(ls_spmv_scalar_f64, double)
LS_SPMV_SCALAR(ls_spmv_scalar_f32, float)
LS_SPMV_WARP(ls_spmv_warp_f64, double)
LS_SPMV_WARP(ls_spmv_warp_f32, float)
LS_STENCIL_RESIDUAL(ls_stencil_residual_f64, double)
LS_STENCIL_RESIDUAL(ls_stencil_residual_f32, float)
LS_STENCIL_ADD_MATVEC(ls_stencil_add_matvec_f64, double)
LS_STENCIL_ADD_MATVEC(ls_stencil_add_matvec_f32, float)
LS_TRSV_LEVEL(ls_trsv_level_f64, double)
LS_TRSV_LEVEL(ls_trsv_level_f32, float)
