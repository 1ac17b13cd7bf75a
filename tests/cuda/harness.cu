// Standalone CUDA harness: every CUDA kernel of one (value, index) type pair against the C kernels.
// Build: nvcc -DMSP_VT_F32 -DMSP_IT_I32 -Icsrc/include -Icsrc/cuda tests/cuda/harness.cu libmsp.a
// (tools/gpu_check.sh builds and runs it for every type pair). Kernel arguments follow the kernel
// table (ops.def): inputs, outputs, sizes as (lo, hi) pairs, flags, params.
// Inputs are small integers, so CPU and GPU sums are exact and results must match bit for bit.
// Run: harness [all|small|corrupt] (see main); the corrupt-structure tests (test_corrupt) are meant to
// run under compute-sanitizer (tools/gpu_check.sh sanitize).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "mlx_sparse/msp.h"
#define MSP_ALL_KERNELS   // every kernel of every family in this unit
#define MSP_HOST_HELPERS  // and the host-side merge-path plan
#include "../../csrc/cuda/spmv.cu"
#include "../../csrc/cuda/convert.cu"
#include "../../csrc/cuda/canonical.cu"
#include "../../csrc/cuda/spmm.cu"
#include "../../csrc/cuda/select.cu"
#include "../../csrc/cuda/construct.cu"
#include "../../csrc/cuda/spgemm.cu"
#include "../../csrc/cuda/ewise.cu"
#include "../../csrc/cuda/factor.cu"

#define STR_(x) #x
#define STR(x) STR_(x)
#define INAME_S STR(INAME)
#define K(fam, op) MSP_KNAME(fam, op, VNAME, INAME)  // the CUDA kernel of op for this unit's type pair
#define P64(v) lo32(v), hi32(v)                      // a size as the kernels take it

static int n_pass = 0, n_fail = 0;
#define CK(call)                                                                         \
  do {                                                                                   \
    cudaError_t e_ = (call);                                                             \
    if (e_ != cudaSuccess) {                                                             \
      printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__);   \
      exit(2);                                                                           \
    }                                                                                    \
  } while (0)
#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (cond) n_pass++;                                         \
    else {                                                      \
      n_fail++;                                                 \
      printf("FAIL " STR(VNAME) "_" INAME_S ": " __VA_ARGS__); \
      printf("\n");                                             \
    }                                                           \
  } while (0)

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static long long rnd(long long lo, long long hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (long long)(rng % (unsigned long long)(hi - lo + 1));
}

// host values: store a small integer (and imaginary part) in VT
static VT hval(float re, float im) {
  VT v;
#if defined(MSP_VT_C64)
  v = make_float2(re, im);
#elif defined(MSP_VT_F32)
  (void)im;
  v = re;
#elif defined(MSP_VT_F16)
  (void)im;
  v = __float2half(re);
#else
  (void)im;
  v = __float2bfloat16(re);
#endif
  return v;
}

template <class T> static T* dev(const std::vector<T>& h) {
  T* d = nullptr;
  CK(cudaMalloc(&d, sizeof(T) * (h.size() + 1)));
  if (!h.empty()) CK(cudaMemcpy(d, h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice));
  return d;
}
template <class T> static T* dev_poison(size_t n) {
  T* d = nullptr;
  CK(cudaMalloc(&d, sizeof(T) * (n + 1)));
  CK(cudaMemset(d, 0xFF, sizeof(T) * (n + 1)));  // every output element must be overwritten
  return d;
}
template <class T> static std::vector<T> host(const T* d, size_t n) {
  std::vector<T> h(n);
  if (n) CK(cudaMemcpy(h.data(), d, sizeof(T) * n, cudaMemcpyDeviceToHost));
  return h;
}
static int lo32(long long v) { return (int)(unsigned int)(v & 0xffffffffu); }
static int hi32(long long v) { return (int)(v >> 32); }
static unsigned blocks_for(long long work) {
  long long b = (work + 255) / 256;
  if (b < 1) b = 1;
  if (b > (1 << 20)) b = 1 << 20;
  return (unsigned)b;
}

// The C kernel of op for this type pair on (inputs, outputs, sizes, flags), through the table.
static int call_c(const char* op, std::vector<const void*> in, std::vector<void*> out, std::vector<int64_t> sizes,
                  std::vector<int64_t> flags = {}) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s_%s", op, STR(VNAME), INAME_S);
  msp_call c;
  if (msp_call_init(&c, name, in.data(), out.data(), sizes.data(), flags.data()) != MSP_OK) {
    printf("no C kernel %s\n", name);
    exit(2);
  }
  return msp_find_kernel(name)(&c);
}

// Random CSR (rows sorted? no: arbitrary column order, duplicates, empty rows, some long rows).
struct Csr {
  long long m, n;
  std::vector<IT> indptr, ind;
  std::vector<VT> val;
};
static Csr make(long long m, long long n, int avg, int long_rows) {
  Csr a{m, n, {}, {}, {}};
  a.indptr.push_back(0);
  for (long long r = 0; r < m; ++r) {
    long long len = (r % 5 == 4 || n == 0) ? 0 : rnd(0, 2 * avg);
    if (long_rows && r % (m / long_rows + 1) == 1 && n > 0) len = rnd(n / 2, 3 * n);  // power-law style rows
    for (long long k = 0; k < len; ++k) {
      a.ind.push_back((IT)rnd(0, n - 1));
      a.val.push_back(hval((float)rnd(-2, 2), (float)rnd(-2, 2)));
    }
    a.indptr.push_back((IT)a.ind.size());
  }
  return a;
}

static bool same(const VT* a, const VT* b, size_t n) { return memcmp(a, b, n * sizeof(VT)) == 0; }

// Equal values, -0 equal to +0 (a GPU sum starts from +0 where the C kernel starts from the first product).
static float re_of(float v) { return v; }
static float re_of(__half v) { return __half2float(v); }
static float re_of(__nv_bfloat16 v) { return __bfloat162float(v); }
static bool equal_values(const VT* a, const VT* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
#if defined(MSP_VT_C64)
    if (a[i].x != b[i].x || a[i].y != b[i].y) return false;
#else
    if (re_of(a[i]) != re_of(b[i])) return false;
#endif
  }
  return true;
}

// y = A x by the merge path, its two nodes as mlx_sparse launches them (node 1 on at most `grid` blocks).
static void run_merge_path(const IT* dp, const IT* di, const VT* dv, const VT* dx, VT* dy, long long m,
                           long long n, long long nnz, unsigned grid) {
  const long long nb = (m + nnz + MSP_MP_T - 1) / MSP_MP_T;
  auto ip = host(dp, m + 1);
  IT* dco = dev(msp_merge_coords<IT>(ip.data(), m, nnz));
  AT *d1 = nullptr, *dc = nullptr;
  CK(cudaMalloc(&d1, sizeof(AT) * (m + 1)));
  CK(cudaMalloc(&dc, sizeof(AT) * (nb + 1)));
  CK(cudaMemset(d1, 0xFF, sizeof(AT) * (m + 1)));
  K(spmv, csr_mp)<<<(unsigned)std::min<long long>(nb, grid), MSP_MP_B>>>(dp, di, dv, dx, dco, d1, dc, P64(m), P64(n),
                                                                           P64(nnz), P64(nb));
  K(spmv, csr_mpfix)<<<blocks_for(m), 256>>>(dp, di, dv, dx, d1, dc, dy, P64(m), P64(n), P64(nnz), P64(nb));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CK(cudaFree(dco));
  CK(cudaFree(d1));
  CK(cudaFree(dc));
}

// y = A x by the C kernel (the reference) for a random x, which *x gets.
static std::vector<VT> c_spmv(const Csr& a, std::vector<VT>* x) {
  const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  x->resize(n);
  for (auto& v : *x) v = hval((float)rnd(-2, 2), (float)rnd(-2, 2));
  std::vector<VT> yref(m);
  CHECK(call_c("spmv_csr", {a.indptr.data(), a.ind.data(), a.val.data(), x->data()}, {yref.data()}, {m, n, nnz}) == MSP_OK,
        "C spmv status");
  return yref;
}

// Our lanes kernel with g lanes per row, as mlx_sparse launches it: columns from the indices, or
// from 16-bit offsets dd when given.
static void launch_lanes_async(int g, const IT* dp, const IT* di, const VT* dv, const VT* dx, const short* dd, VT* dy,
                               long long m, long long n, long long nnz) {
  const unsigned blocks = blocks_for((m + 256 / g - 1) / (256 / g) * 256);
#define LAUNCH(G)                                                                                 \
  if (dd)                                                                                         \
    K(spmv, csr_d16_g##G)<<<blocks, 256>>>(dp, di, dv, dx, dd, dy, P64(m), P64(n), P64(nnz));     \
  else                                                                                            \
    K(spmv, csr_g##G)<<<blocks, 256>>>(dp, di, dv, dx, dy, P64(m), P64(n), P64(nnz))
  switch (g) {
    case 1: LAUNCH(1); break;
    case 2: LAUNCH(2); break;
    case 4: LAUNCH(4); break;
    case 8: LAUNCH(8); break;
    case 16: LAUNCH(16); break;
    default: LAUNCH(32); break;
  }
#undef LAUNCH
}
static void launch_lanes(int g, const IT* dp, const IT* di, const VT* dv, const VT* dx, const short* dd, VT* dy,
                         long long m, long long n, long long nnz) {
  launch_lanes_async(g, dp, di, dv, dx, dd, dy, m, n, nnz);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
}

static void test_spmv(const Csr& a) {
  long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  std::vector<VT> x;
  const std::vector<VT> yref = c_spmv(a, &x);
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  VT *dv = dev(a.val), *dx = dev(x);
  for (int g = 1; g <= 32; g *= 2) {
    VT* dy = dev_poison<VT>(m);
    launch_lanes(g, dp, di, dv, dx, nullptr, dy, m, n, nnz);
    auto y = host(dy, m);
    CHECK(same(y.data(), yref.data(), m), "spmv g=%d m=%lld n=%lld nnz=%lld", g, m, n, nnz);
    CK(cudaFree(dy));
  }
  for (unsigned grid : {1u, 1u << 20}) {  // merge path: grid-stride, and one block per tile
    VT* dy = dev_poison<VT>(m);
    run_merge_path(dp, di, dv, dx, dy, m, n, nnz, grid);
    auto y = host(dy, m);
    CHECK(same(y.data(), yref.data(), m), "spmv merge path grid=%u m=%lld n=%lld nnz=%lld", grid, m, n, nnz);
    CK(cudaFree(dy));
  }
  // todense
  if (m * n <= (1 << 24)) {
    std::vector<VT> dref(m * n);
    CHECK(call_c("convert_csr_todense", {a.indptr.data(), a.ind.data(), a.val.data()}, {dref.data()}, {m, n, nnz}) == MSP_OK,
          "C todense status");
    VT* dd = nullptr;
    CK(cudaMalloc(&dd, sizeof(VT) * (m * n + 1)));
    CK(cudaMemset(dd, 0, sizeof(VT) * (m * n + 1)));  // MLX's init_value = 0
    K(convert, csr_todense)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dd, P64(m), P64(n), P64(nnz));
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    auto d = host(dd, m * n);
    CHECK(same(d.data(), dref.data(), m * n), "todense m=%lld n=%lld", m, n);
    CK(cudaFree(dd));
  }
  // canonical: the C sort gives row-sorted entries; the GPU's run sums and row pointer equal the C twins'
  std::vector<IT> sind(nnz), uptr(m + 1);
  std::vector<VT> sval(nnz);
  CHECK(call_c("canonical_sort_rows", {a.indptr.data(), a.ind.data(), a.val.data()}, {sind.data(), sval.data(), uptr.data()},
               {m, n, nnz}) == MSP_OK, "C sort status");
  const long long nnz2 = (long long)uptr[m];
  std::vector<IT> rows(nnz), pos(nnz), cind(nnz2), crow(nnz2), cptr(m + 1), erows_ref(nnz);
  std::vector<VT> cval(nnz2);
  long long run = -1;
  for (long long r = 0; r < m; ++r)
    for (long long j = (long long)a.indptr[r]; j < (long long)a.indptr[r + 1]; ++j) {
      rows[j] = (IT)r;
      if (j == (long long)a.indptr[r] || sind[j] != sind[j - 1]) run++;
      pos[j] = (IT)run;
    }
  CHECK(call_c("canonical_sum_runs", {rows.data(), sind.data(), sval.data(), pos.data()},
               {cind.data(), cval.data(), crow.data()}, {nnz, nnz2}) == MSP_OK, "C sum_runs status");
  CHECK(call_c("convert_indptr_from_rows", {crow.data()}, {cptr.data()}, {m, nnz2}) == MSP_OK, "C indptr_from_rows status");
  CHECK(call_c("convert_expand_rows", {a.indptr.data()}, {erows_ref.data()}, {m, nnz}) == MSP_OK, "C expand_rows status");
  IT *drows = dev(rows), *dcols = dev(sind), *dpos = dev(pos);
  VT* dsv = dev(sval);
  IT *oi = dev_poison<IT>(nnz2), *orow = dev_poison<IT>(nnz2);
  VT* ov = dev_poison<VT>(nnz2);
  K(canonical, sum_runs)<<<blocks_for(nnz), 256>>>(drows, dcols, dsv, dpos, oi, ov, orow, P64(nnz), P64(nnz2));
  CK(cudaGetLastError());
  IT* optr = dev_poison<IT>(m + 1);
  K(convert, indptr_from_rows)<<<blocks_for(nnz2 + 1), 256>>>(orow, optr, P64(m), P64(nnz2));
  CK(cudaGetLastError());
  IT* erows = dev_poison<IT>(nnz);
  K(convert, expand_rows)<<<blocks_for(m * 32), 256>>>(dp, erows, P64(m), P64(nnz));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(erows, nnz) == erows_ref, "expand_rows m=%lld nnz=%lld", m, nnz);
  cudaFree(erows);
  CHECK(host(oi, nnz2) == cind && same(host(ov, nnz2).data(), cval.data(), nnz2) && host(orow, nnz2) == crow,
        "sum_runs m=%lld n=%lld nnz=%lld -> %lld", m, n, nnz, nnz2);
  CHECK(host(optr, m + 1) == cptr && cptr == uptr, "indptr_from_rows m=%lld nnz2=%lld", m, nnz2);
  cudaFree(drows), cudaFree(dcols), cudaFree(dpos), cudaFree(dsv), cudaFree(oi), cudaFree(orow);
  cudaFree(ov), cudaFree(optr), cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(dx);
}

// host rounding of an accumulator value to the stored type (for the A^T X accumulator outputs)
static VT round_acc(AT a) {
#if defined(MSP_VT_C64)
  return a;
#else
  return hval(a, 0.f);
#endif
}

// Y = op(A) X against the C kernels, for every lane count the dispatcher may pass (any is correct).
static void test_spmm(const Csr& a) {
  long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  VT* dv = dev(a.val);
  for (long long k : {1LL, 5LL, 8LL, 12LL, 24LL, 64LL, 130LL, 256LL}) {
    for (int conj = 0; conj < 2; ++conj) {
      for (int trans = 0; trans < 2; ++trans) {
        long long in_rows = trans ? m : n, out_rows = trans ? n : m;
        std::vector<VT> x(in_rows * k), yref(out_rows * k);
        for (auto& v : x) v = hval((float)rnd(-2, 2), (float)rnd(-2, 2));
        CHECK(call_c(trans ? "spmm_csr_t" : "spmm_csr", {a.indptr.data(), a.ind.data(), a.val.data(), x.data()},
                     {yref.data()}, {m, n, k, nnz}, {conj, 0}) == MSP_OK, "C spmm status");
        for (int lanes : {1, 8, 32}) {
          // X aligned (16-byte loads when k allows) and misaligned (by one value: scalar loads)
          for (int mis = 0; mis < 2; ++mis) {
            VT* dxm = nullptr;
            CK(cudaMalloc(&dxm, sizeof(VT) * (in_rows * k + 1)));
            CK(cudaMemcpy(dxm + mis, x.data(), sizeof(VT) * in_rows * k, cudaMemcpyHostToDevice));
            // misaligned X also runs on one block: every row through the grid-stride loop
            const unsigned blocks = mis ? 1u : blocks_for(m * lanes);
            std::vector<VT> yv(out_rows * k);
            if (!trans) {
              VT* dy = dev_poison<VT>(out_rows * k);
              K(spmm, csr)<<<blocks, 256>>>(dp, di, dv, dxm + mis, dy, P64(m), P64(n), P64(k), P64(nnz), conj, false, lanes);
              CK(cudaGetLastError());
              CK(cudaDeviceSynchronize());
              yv = host(dy, out_rows * k);
              CK(cudaFree(dy));
            } else {
              AT* dy = nullptr;
              CK(cudaMalloc(&dy, sizeof(AT) * (out_rows * k + 1)));
              CK(cudaMemset(dy, 0, sizeof(AT) * (out_rows * k + 1)));  // MLX's init_value = 0
              K(spmm, csr_t)<<<blocks, 256>>>(dp, di, dv, dxm + mis, dy, P64(m), P64(n), P64(k), P64(nnz), conj, false, lanes);
              CK(cudaGetLastError());
              CK(cudaDeviceSynchronize());
              auto y = host(dy, out_rows * k);
              for (long long q = 0; q < out_rows * k; ++q) yv[q] = round_acc(y[q]);
              CK(cudaFree(dy));
            }
            CHECK(same(yv.data(), yref.data(), out_rows * k), "spmm trans=%d lanes=%d misaligned=%d k=%lld conj=%d m=%lld n=%lld",
                  trans, lanes, mis, k, conj, m, n);
            CK(cudaFree(dxm));
          }
        }
      }
    }
  }
  cudaFree(dp), cudaFree(di), cudaFree(dv);
}

static bool is_nan(VT v) {
#if defined(MSP_VT_C64)
  return v.x != v.x;
#else
  const float f = (float)v;
  return f != f;
#endif
}

// A corrupt indptr (one row with end < start) through the merge path: no fault, that row is NaN.
static void test_spmv_bad_offsets() {
  Csr a = make(5000, 300, 6, 2);
  const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  const long long bad_row = 2500;
  a.indptr[bad_row + 1] = a.indptr[bad_row] - 3;
  std::vector<VT> x(n, hval(1.f, 0.f));
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  VT *dv = dev(a.val), *dx = dev(x);
  VT* dy = dev_poison<VT>(m);
  run_merge_path(dp, di, dv, dx, dy, m, n, nnz, 1u << 20);
  auto y = host(dy, m);
  CHECK(is_nan(y[bad_row]), "merge path: the row with bad offsets is not NaN");
  cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(dx), cudaFree(dy);
}

// SpMV from 16-bit column offsets (column - row), every lane count, when the structure allows them:
// the same sums as from the indices; an offset to a column outside [0, n) makes its row NaN.
static void test_spmv_d16(const Csr& a) {
  const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  std::vector<short> d(nnz);
  for (long long r = 0; r < m; ++r)
    for (long long j = a.indptr[r]; j < a.indptr[r + 1]; ++j) {
      const long long off = (long long)a.ind[j] - r;
      if (off < -32768 || off > 32767) return;  // not banded enough: mlx_sparse keeps no offsets
      d[j] = (short)off;
    }
  std::vector<VT> x;
  const std::vector<VT> yref = c_spmv(a, &x);
  long long bad_row = -1;  // the first nonempty row whose first offset can point before column 0
  for (long long r = 0; r < m && bad_row < 0; ++r)
    if (a.indptr[r + 1] > a.indptr[r] && r < 32768) bad_row = r;
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  VT *dv = dev(a.val), *dx = dev(x);
  for (int corrupt = 0; corrupt < 2; ++corrupt) {
    if (corrupt) {
      if (bad_row < 0) break;
      d[a.indptr[bad_row]] = (short)(-bad_row - 1);
    }
    short* dd = dev(d);
    for (int g = 1; g <= 32; g *= 2) {
      VT* dy = dev_poison<VT>(m);
      launch_lanes(g, dp, di, dv, dx, dd, dy, m, n, nnz);
      auto y = host(dy, m);
      if (!corrupt) {
        CHECK(same(y.data(), yref.data(), m), "spmv 16-bit offsets g=%d m=%lld n=%lld nnz=%lld", g, m, n, nnz);
      } else {
        bool rest = true;
        for (long long r = 0; r < m; ++r) rest &= r == bad_row || same(&y[r], &yref[r], 1);
        CHECK(is_nan(y[bad_row]) && rest, "spmv 16-bit offsets, a bad offset: g=%d m=%lld", g, m);
      }
      CK(cudaFree(dy));
    }
    CK(cudaFree(dd));
  }
  cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(dx);
}

// Selection (fromdense, CSR subsets): counts and fills against the C kernels, the exact same outputs.
static void test_select(const Csr& a) {
  const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  // a copy with each row's entries sorted by column, for the binary-search path (sorted, no nonzero test)
  Csr b = a;
  for (long long r = 0; r < m; ++r) {
    std::vector<std::pair<long long, VT>> row;
    for (IT j = a.indptr[r]; j < a.indptr[r + 1]; ++j) row.push_back({(long long)a.ind[j], a.val[j]});
    std::stable_sort(row.begin(), row.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (size_t k = 0; k < row.size(); ++k) b.ind[a.indptr[r] + k] = (IT)row[k].first, b.val[a.indptr[r] + k] = row[k].second;
  }
  const int modes[][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}, {0, 0, 1, 1}, {0, 0, 0, 1}};
  for (const auto& md : modes)
    for (long long k : {-3LL, 0LL, 2LL})
      for (int range = 0; range < 2; ++range) {
        const Csr& x = md[3] ? b : a;
        IT *dp = dev(x.indptr), *di = dev(x.ind);
        VT* dv = dev(x.val);
        const long long shift = std::min(std::max(k, -m), n) + m, c0 = range ? n / 3 : 0, c1 = range ? n - n / 4 : n;
        std::vector<IT> cnt(m), optr(m + 1, 0);
        CHECK(call_c("select_csr_count", {x.indptr.data(), x.ind.data(), x.val.data()}, {cnt.data()}, {m, n, nnz, shift, c0, c1},
                     {md[0], md[1], md[2], md[3]}) == MSP_OK, "C csr_count status");
        for (long long r = 0; r < m; ++r) optr[r + 1] = optr[r] + cnt[r];
        const long long nnz2 = (long long)optr[m];
        std::vector<IT> oind(nnz2), src(nnz2);
        std::vector<VT> odat(nnz2);
        CHECK(call_c("select_csr_fill", {x.indptr.data(), x.ind.data(), x.val.data(), optr.data()},
                     {oind.data(), src.data(), odat.data()}, {m, n, nnz, nnz2, shift, c0, c1}, {md[0], md[1], md[2], md[3]}) == MSP_OK,
              "C csr_fill status");
        IT* dc = dev_poison<IT>(m);
        K(select, csr_count)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dc, P64(m), P64(n), P64(nnz), P64(shift), P64(c0), P64(c1),
                                                         md[0], md[1], md[2], md[3]);
        IT *dop = dev(optr), *doi = dev_poison<IT>(nnz2), *dsrc = dev_poison<IT>(nnz2);
        VT* dod = dev_poison<VT>(nnz2);
        K(select, csr_fill)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dop, doi, dsrc, dod, P64(m), P64(n), P64(nnz), P64(nnz2),
                                                        P64(shift), P64(c0), P64(c1), md[0], md[1], md[2], md[3]);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        CHECK(host(dc, m) == cnt && host(doi, nnz2) == oind && host(dsrc, nnz2) == src &&
                  same(host(dod, nnz2).data(), odat.data(), nnz2),
              "select csr nonzero=%d lower=%d upper=%d sorted=%d k=%lld cols [%lld, %lld) m=%lld nnz=%lld", md[0], md[1], md[2],
              md[3], k, c0, c1, m, nnz);
        cudaFree(dc), cudaFree(dop), cudaFree(doi), cudaFree(dsrc), cudaFree(dod), cudaFree(dp), cudaFree(di), cudaFree(dv);
      }
  if (m * n <= (1 << 22)) {  // fromdense of the matrix's dense form, thresholds 0 and 1
    std::vector<VT> dense(m * n);
    CHECK(call_c("convert_csr_todense", {a.indptr.data(), a.ind.data(), a.val.data()}, {dense.data()}, {m, n, nnz}) == MSP_OK,
          "C todense status");
    VT* dd = dev(dense);
    for (float t : {0.f, 1.f}) {
      std::vector<VT> thr = {hval(t, 0.f)};
      std::vector<IT> cnt(m), ptr(m + 1, 0);
      CHECK(call_c("select_dense_count", {dense.data(), thr.data()}, {cnt.data()}, {m, n}) == MSP_OK, "C dense_count status");
      for (long long r = 0; r < m; ++r) ptr[r + 1] = ptr[r] + cnt[r];
      const long long tot = (long long)ptr[m];
      std::vector<IT> ind(tot), pos(tot);
      CHECK(call_c("select_dense_fill", {dense.data(), thr.data(), ptr.data()}, {ind.data(), pos.data()}, {m, n, tot}) == MSP_OK,
            "C dense_fill status");
      VT* dt = dev(thr);
      IT *dc = dev_poison<IT>(m), *dptr = dev(ptr), *dind = dev_poison<IT>(tot), *dpos = dev_poison<IT>(tot);
      K(select, dense_count)<<<blocks_for(m * 32), 256>>>(dd, dt, dc, P64(m), P64(n));
      K(select, dense_fill)<<<blocks_for(m * 32), 256>>>(dd, dt, dptr, dind, dpos, P64(m), P64(n), P64(tot));
      CK(cudaGetLastError());
      CK(cudaDeviceSynchronize());
      CHECK(host(dc, m) == cnt && host(dind, tot) == ind && host(dpos, tot) == pos, "fromdense t=%g m=%lld n=%lld", t, m, n);
      cudaFree(dt), cudaFree(dc), cudaFree(dptr), cudaFree(dind), cudaFree(dpos);
    }
    cudaFree(dd);
  }
}

// Indexing (row gather, column gather, entry lookup): the exact outputs of the C kernels, plus a row id
// out of range (nothing written for that row).
static void test_index(const Csr& a) {
  const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  if (m == 0 || n == 0) return;
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  // rows with repeats
  const long long r = 2 * m + 1;
  std::vector<IT> rows(r), optr(r + 1, 0);
  for (long long i = 0; i < r; ++i) {
    rows[i] = (IT)rnd(0, m - 1);
    optr[i + 1] = optr[i] + a.indptr[rows[i] + 1] - a.indptr[rows[i]];
  }
  long long tot = (long long)optr[r];
  std::vector<IT> oind(tot), src(tot);
  std::vector<VT> odat(tot);
  VT* dv = dev(a.val);
  CHECK(call_c("select_rows", {a.indptr.data(), a.ind.data(), a.val.data(), rows.data(), optr.data()},
               {oind.data(), src.data(), odat.data()}, {m, nnz, r, tot}) == MSP_OK, "C select_rows status");
  IT *drows = dev(rows), *dop = dev(optr), *doi = dev_poison<IT>(tot), *dsrc = dev_poison<IT>(tot), *drc = dev_poison<IT>(r);
  K(select, rows_count)<<<blocks_for(r), 256>>>(dp, drows, drc, P64(m), P64(r));
  CK(cudaDeviceSynchronize());
  {
    std::vector<IT> rc = host(drc, r);
    bool okc = true;
    for (long long i = 0; i < r; ++i) okc &= rc[i] == optr[i + 1] - optr[i];
    CHECK(okc, "select rows_count m=%lld", m);
  }
  cudaFree(drc);
  VT* dod = dev_poison<VT>(tot);
  K(select, rows)<<<blocks_for(r * 32), 256>>>(dp, di, dv, drows, dop, doi, dsrc, dod, P64(m), P64(nnz), P64(r), P64(tot));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(doi, tot) == oind && host(dsrc, tot) == src && same(host(dod, tot).data(), odat.data(), tot),
        "select rows m=%lld nnz=%lld", m, nnz);
  cudaFree(drows), cudaFree(dop), cudaFree(doi), cudaFree(dsrc), cudaFree(dod);
  // columns with repeats, in random order
  const long long q = n + 3;
  std::vector<long long> pick(q), cnt(n + 1, 0);
  for (long long t = 0; t < q; ++t) pick[t] = rnd(0, n - 1), cnt[pick[t] + 1]++;
  for (long long c = 0; c < n; ++c) cnt[c + 1] += cnt[c];
  std::vector<IT> cptr(cnt.begin(), cnt.end()), corder(q), counts(m), ptr(m + 1, 0);
  for (long long t = 0; t < q; ++t) corder[cnt[pick[t]]++] = (IT)t;
  CHECK(call_c("select_cols_count", {a.indptr.data(), a.ind.data(), cptr.data()}, {counts.data()}, {m, n, nnz}) == MSP_OK,
        "C cols_count status");
  for (long long i = 0; i < m; ++i) ptr[i + 1] = ptr[i] + counts[i];
  tot = (long long)ptr[m];
  std::vector<IT> cind(tot), csrc(tot);
  std::vector<VT> cdat(tot);
  CHECK(call_c("select_cols_fill", {a.indptr.data(), a.ind.data(), a.val.data(), cptr.data(), corder.data(), ptr.data()},
               {cind.data(), csrc.data(), cdat.data()}, {m, n, nnz, q, tot}) == MSP_OK, "C cols_fill status");
  IT *dcp = dev(cptr), *dco = dev(corder), *dcnt = dev_poison<IT>(m), *dptr = dev(ptr);
  IT *dci = dev_poison<IT>(tot), *dcs = dev_poison<IT>(tot);
  VT* dcd = dev_poison<VT>(tot);
  K(select, cols_count)<<<blocks_for(m * 32), 256>>>(dp, di, dcp, dcnt, P64(m), P64(n), P64(nnz));
  K(select, cols_fill)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dcp, dco, dptr, dci, dcs, dcd, P64(m), P64(n), P64(nnz), P64(q),
                                                   P64(tot));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(dcnt, m) == counts && host(dci, tot) == cind && host(dcs, tot) == csrc && same(host(dcd, tot).data(), cdat.data(), tot),
        "select cols m=%lld n=%lld nnz=%lld", m, n, nnz);
  cudaFree(dcp), cudaFree(dco), cudaFree(dcnt), cudaFree(dptr), cudaFree(dci), cudaFree(dcs), cudaFree(dcd);
  // lookups (the same binary search on both sides; queries include one outside the matrix)
  const long long nq = 3 * (m + n);
  std::vector<IT> qr(nq), qc(nq), pos(nq);
  for (long long i = 0; i < nq; ++i) qr[i] = (IT)rnd(0, m - 1), qc[i] = (IT)rnd(0, n - 1);
  qc[0] = (IT)n;
  CHECK(call_c("select_lookup", {a.indptr.data(), a.ind.data(), qr.data(), qc.data()}, {pos.data()}, {m, n, nnz, nq}) ==
            MSP_EINDEX, "C lookup status (a query outside)");
  IT *dqr = dev(qr), *dqc = dev(qc), *dpos = dev_poison<IT>(nq);
  K(select, lookup)<<<blocks_for(nq), 256>>>(dp, di, dqr, dqc, dpos, P64(m), P64(n), P64(nnz), P64(nq));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(dpos, nq) == pos && pos[0] == (IT)-1, "select lookup m=%lld n=%lld nnz=%lld", m, n, nnz);
  cudaFree(dqr), cudaFree(dqc), cudaFree(dpos), cudaFree(dp), cudaFree(di), cudaFree(dv);
}

// kron of two sorted-row matrices (a's rows sorted, duplicates kept: the kernel only needs consistent
// lengths): the exact outputs of the C kernel.
static void test_kron(const Csr& a0) {
  Csr a = a0;
  for (long long r = 0; r < a.m; ++r) std::sort(a.ind.begin() + a.indptr[r], a.ind.begin() + a.indptr[r + 1]);
  const Csr b = make(3, 5, 2, 0);
  const long long ma = a.m, nb = b.n, nnza = (long long)a.ind.size(), mb = b.m, nnzb = (long long)b.ind.size();
  std::vector<IT> optr(ma * mb + 1, 0);
  for (long long R = 0; R < ma * mb; ++R)
    optr[R + 1] = optr[R] + (a.indptr[R / mb + 1] - a.indptr[R / mb]) * (b.indptr[R % mb + 1] - b.indptr[R % mb]);
  const long long tot = (long long)optr[ma * mb];
  std::vector<IT> oi(tot);
  std::vector<VT> ov(tot);
  CHECK(call_c("construct_kron", {a.indptr.data(), a.ind.data(), a.val.data(), b.indptr.data(), b.ind.data(), b.val.data(),
                                  optr.data()}, {oi.data(), ov.data()}, {ma, nb, nnza, mb, nnzb, tot}) == MSP_OK,
        "C kron status");
  IT *dap = dev(a.indptr), *dai = dev(a.ind), *dbp = dev(b.indptr), *dbi = dev(b.ind), *dop = dev(optr);
  VT *dav = dev(a.val), *dbv = dev(b.val);
  IT* doi = dev_poison<IT>(tot);
  VT* dov = dev_poison<VT>(tot);
  K(construct, kron)<<<blocks_for(ma * mb * 32), 256>>>(dap, dai, dav, dbp, dbi, dbv, dop, doi, dov, P64(ma), P64(nb), P64(nnza),
                                                         P64(mb), P64(nnzb), P64(tot));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(doi, tot) == oi && same(host(dov, tot).data(), ov.data(), tot), "kron m=%lld nnz=%lld", ma, nnza);
  cudaFree(dap), cudaFree(dai), cudaFree(dbp), cudaFree(dbi), cudaFree(dop), cudaFree(dav), cudaFree(dbv), cudaFree(doi),
      cudaFree(dov);
}

// The GPU product's plan (_spgemm._gpu_plan): the W, B and G rows listed tier by tier (in row order;
// the list is m long, its tail 0 as place leaves it) and the launch's block ranges; `zero_flops`:
// hfill and numeric get flops of 0 (every row taken for an S row).
struct GemmPlan {
  std::vector<IT> rows;
  long long nw, nb, ng, sb, wb, bb, gb, nwords;
  bool zero_flops;
};
static GemmPlan gemm_plan(const std::vector<IT>& fl, long long n) {
  GemmPlan p;
  long long nt[4] = {0, 0, 0, 0};
  for (int t = 1; t < 4; ++t)
    for (size_t i = 0; i < fl.size(); ++i) {
      const int ti = fl[i] < 0 ? 3 : (fl[i] > S_FLOPS) + (fl[i] > W_FLOPS) + (fl[i] > B_FLOPS);
      if (ti == t) p.rows.push_back((IT)i), ++nt[t];
    }
  const long long ns = (long long)fl.size() - nt[1] - nt[2] - nt[3];
  p.rows.resize(fl.size(), 0);
  const long long isz = (long long)sizeof(IT);
  p.nw = nt[1], p.nb = nt[2], p.ng = nt[3];
  p.nwords = p.ng ? (n + 8 * isz - 1) / (8 * isz) : 0;
  p.sb = std::min((ns + 31) / 32, 1LL << 16), p.wb = std::min((p.nw + 7) / 8, 1LL << 16), p.bb = std::min(p.nb, 1LL << 15);
  p.gb = p.ng ? std::min(std::min(p.ng, 512LL), std::max(1LL, (1LL << 30) / std::max(p.nwords * isz, 1LL))) : 0;
  p.zero_flops = false;
  return p;
}
#define PLAN_TIERS(p) P64(p.nw), P64(p.nb), P64(p.ng), P64(p.sb), P64(p.wb), P64(p.bb), P64(p.gb)

// Sparse @ sparse: per-row flops, the tiered symbolic passes (counts, sorted columns) and the numeric
// pass against the C kernels (exact: small integers), on a B whose product rows reach every tier.
static void test_spgemm(const Csr& a) {
  const long long k = a.n;
  Csr b = make(k, std::min(a.m / 2 + 7, 5000LL), 4, 0);
  for (long long r = 0; r < b.m; ++r) {  // B's rows sorted (the sampled kernel merges them), duplicates kept
    std::vector<std::pair<IT, VT>> e;
    for (IT j = b.indptr[r]; j < b.indptr[r + 1]; ++j) e.push_back({b.ind[j], b.val[j]});
    std::stable_sort(e.begin(), e.end(), [](const std::pair<IT, VT>& x, const std::pair<IT, VT>& y) { return x.first < y.first; });
    for (size_t t = 0; t < e.size(); ++t) b.ind[b.indptr[r] + t] = e[t].first, b.val[b.indptr[r] + t] = e[t].second;
  }
  const long long m = a.m, n = b.n, nnza = (long long)a.ind.size(), nnzb = (long long)b.ind.size();
  if (m == 0 || k == 0) return;
  std::vector<IT> fl(m), cnt(m);
  CHECK(call_c("spgemm_rowflops", {a.indptr.data(), a.ind.data(), b.indptr.data()}, {fl.data()}, {m, k, nnza}) == MSP_OK,
        "C rowflops status");
  CHECK(call_c("spgemm_count", {a.indptr.data(), a.ind.data(), b.indptr.data(), b.ind.data()}, {cnt.data()},
               {m, k, n, nnza, nnzb}) == MSP_OK, "C spgemm count status");
  IT *dap = dev(a.indptr), *dai = dev(a.ind), *dbp = dev(b.indptr), *dbi = dev(b.ind);
  VT *dav = dev(a.val), *dbv = dev(b.val);
  // rowcount: the flops, the S rows' counts and the other tiers' sizes
  IT *dfl = dev_poison<IT>(m), *dcnt0 = dev_poison<IT>(m), *dtiers = nullptr;
  CK(cudaMalloc(&dtiers, sizeof(IT) * 3));
  CK(cudaMemset(dtiers, 0, sizeof(IT) * 3));  // the table's init=0
  K(spgemm, rowcount)<<<blocks_for(m * 8), 256>>>(dap, dai, dbp, dbi, dcnt0, dfl, dtiers, P64(m), P64(k), P64(n),
                                                  P64(nnza), P64(nnzb));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(dfl, m) == fl, "spgemm rowcount flops m=%lld", m);
  const GemmPlan p = gemm_plan(fl, n);
  std::vector<IT> cnt_s(m, 0);
  for (long long i = 0; i < m; ++i)
    if (fl[i] <= S_FLOPS) cnt_s[i] = cnt[i];
  CHECK(host(dcnt0, m) == cnt_s, "spgemm rowcount counts m=%lld", m);
  const std::vector<IT> tiers = host(dtiers, 3);
  CHECK(tiers[0] == p.nw && tiers[1] == p.nb && tiers[2] == p.ng, "spgemm rowcount tiers %lld %lld %lld (want %lld %lld %lld)",
        (long long)tiers[0], (long long)tiers[1], (long long)tiers[2], p.nw, p.nb, p.ng);
  // place: each tier's rows (in any order)
  IT *drows = dev_poison<IT>(m), *dcur = nullptr;
  CK(cudaMalloc(&dcur, sizeof(IT) * 3));
  CK(cudaMemset(drows, 0, sizeof(IT) * m));  // init=0
  CK(cudaMemset(dcur, 0, sizeof(IT) * 3));
  K(spgemm, place)<<<blocks_for(m), 256>>>(dfl, drows, dcur, P64(m), P64(p.nw), P64(p.nb));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<IT> placed = host(drows, m);
  const long long ends[4] = {0, p.nw, p.nw + p.nb, p.nw + p.nb + p.ng};
  for (int t = 0; t < 3; ++t) std::sort(placed.begin() + ends[t], placed.begin() + ends[t + 1]);
  CHECK(placed == p.rows, "spgemm place m=%lld tiers %lld %lld %lld", m, p.nw, p.nb, p.ng);
  const unsigned grid = (unsigned)std::max(p.sb + p.wb + p.bb + p.gb, 1LL);
  const long long nbits = p.gb * p.nwords + 1;
  IT *dcnt = dev_poison<IT>(m), *dbits = nullptr;
  CK(cudaMalloc(&dbits, sizeof(IT) * nbits));
  CK(cudaMemset(dbits, 0, sizeof(IT) * nbits));
  CK(cudaMemset(dcnt, 0, sizeof(IT) * m));  // init=0
  K(spgemm, hcount)<<<grid, 256>>>(dap, dai, dbp, dbi, dfl, drows, dcnt, dbits, P64(m), P64(k), P64(n), P64(nnza), P64(nnzb),
                                   P64(p.nw), P64(p.nb), P64(p.ng), P64(0), P64(p.wb), P64(p.bb), P64(p.gb), P64(p.nwords));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<IT> got_cnt = host(dcnt, m);
  for (long long i = 0; i < m; ++i) got_cnt[i] += cnt_s[i];
  CHECK(got_cnt == cnt, "spgemm hcount m=%lld tiers %lld %lld %lld", m, p.nw, p.nb, p.ng);
  std::vector<IT> cptr(m + 1, 0);
  for (long long i = 0; i < m; ++i) cptr[i + 1] = cptr[i] + cnt[i];
  const long long nnzc = (long long)cptr[m];
  if (nnzc > 0 && nnzc < (1LL << 26)) {
    std::vector<IT> cind(nnzc);
    std::vector<VT> cval(nnzc);
    CHECK(call_c("spgemm_fill", {a.indptr.data(), a.ind.data(), a.val.data(), b.indptr.data(), b.ind.data(), b.val.data(),
                                 cptr.data()}, {cind.data(), cval.data()}, {m, k, n, nnza, nnzb, nnzc}) == MSP_OK,
          "C spgemm fill status");
    IT *dcp = dev(cptr), *dci = dev_poison<IT>(nnzc);
    AT* dcv = dev_poison<AT>(nnzc);
    auto values_ok = [&](const AT* d) {
      std::vector<AT> got = host(d, nnzc);
      std::vector<VT> gv(nnzc);
      for (long long q = 0; q < nnzc; ++q) gv[q] = round_acc(got[q]);
      return equal_values(gv.data(), cval.data(), nnzc);
    };
    AT* dcv1 = dev_poison<AT>(nnzc);
    for (int s_only = 0; s_only < (p.nw + p.nb + p.ng == 0 ? 2 : 1); ++s_only) {  // variants all, s (every row S)
      CK(cudaMemset(dci, 0xFF, sizeof(IT) * nnzc));
      if (s_only)
        K(spgemm, hfill_s)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dfl, drows, dcp, dbits, dci, dcv, P64(m), P64(k),
                                          P64(n), P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p), P64(p.nwords));
      else
        K(spgemm, hfill_all)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dfl, drows, dcp, dbits, dci, dcv, P64(m), P64(k),
                                            P64(n), P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p), P64(p.nwords));
      CK(cudaGetLastError());
      CK(cudaDeviceSynchronize());
      CHECK(host(dci, nnzc) == cind, "spgemm hfill%s m=%lld nnzc=%lld tiers %lld %lld %lld", s_only ? "_s" : "", m, nnzc,
            p.nw, p.nb, p.ng);
      CHECK(values_ok(dcv), "spgemm hfill%s values m=%lld nnzc=%lld", s_only ? "_s" : "", m, nnzc);
      if (s_only)
        K(spgemm, numeric_s)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dcp, dci, dfl, drows, dcv1, P64(m), P64(k),
                                            P64(n), P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p));
      else
        K(spgemm, numeric_all)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dcp, dci, dfl, drows, dcv1, P64(m), P64(k),
                                              P64(n), P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p));
      CK(cudaGetLastError());
      CK(cudaDeviceSynchronize());
      CHECK(values_ok(dcv1), "spgemm numeric%s m=%lld nnzc=%lld", s_only ? "_s" : "", m, nnzc);
    }
    // sampled on A's structure (rows sorted by the C fill's order? no: any order), G = C, H = B
    std::vector<VT> so(nnza);
    CHECK(call_c("spgemm_sampled", {a.indptr.data(), a.ind.data(), cptr.data(), cind.data(), cval.data(), b.indptr.data(),
                                    b.ind.data(), b.val.data()}, {so.data()}, {m, k, n, nnza, nnzc, nnzb}) == MSP_OK,
          "C sampled status");
    VT *dcv2 = dev(cval), *dso = dev_poison<VT>(std::max(nnza, 1LL));
    K(spgemm, sampled)<<<blocks_for(m * 32), 256>>>(dap, dai, dcp, dci, dcv2, dbp, dbi, dbv, dso, P64(m), P64(k), P64(n),
                                                    P64(nnza), P64(nnzc), P64(nnzb));
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    CHECK(equal_values(host(dso, nnza).data(), so.data(), nnza), "spgemm sampled m=%lld nnz=%lld", m, nnza);
    cudaFree(dcp), cudaFree(dci), cudaFree(dcv), cudaFree(dcv1), cudaFree(dcv2), cudaFree(dso);
  }
  cudaFree(dap), cudaFree(dai), cudaFree(dbp), cudaFree(dbi), cudaFree(dfl), cudaFree(dav), cudaFree(dbv), cudaFree(drows),
      cudaFree(dcnt), cudaFree(dcnt0), cudaFree(dbits), cudaFree(dtiers), cudaFree(dcur);
}

// Elementwise merges (union, difference, maximum, intersection) of two canonical matrices of one shape
// against the C kernels: counts, indices, values and sources, exactly.
static Csr canonical(Csr a) {
  Csr c{a.m, a.n, {0}, {}, {}};
  for (long long r = 0; r < a.m; ++r) {
    std::vector<std::pair<IT, VT>> e;
    for (IT j = a.indptr[r]; j < a.indptr[r + 1]; ++j) e.push_back({a.ind[j], a.val[j]});
    std::sort(e.begin(), e.end(), [](const std::pair<IT, VT>& x, const std::pair<IT, VT>& y) { return x.first < y.first; });
    for (size_t t = 0; t < e.size(); ++t)
      if (t == 0 || e[t].first != e[t - 1].first) c.ind.push_back(e[t].first), c.val.push_back(e[t].second);
    c.indptr.push_back((IT)c.ind.size());
  }
  return c;
}

static void test_ewise(const Csr& a0) {
  const Csr a = canonical(a0), b = canonical(make(a0.m, a0.n, 3, 1));
  const long long m = a.m, n = a.n, nnza = (long long)a.ind.size(), nnzb = (long long)b.ind.size();
  IT *dap = dev(a.indptr), *dai = dev(a.ind), *dbp = dev(b.indptr), *dbi = dev(b.ind);
  VT *dav = dev(a.val), *dbv = dev(b.val);
  const int kinds[][4] = {{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}, {1, 0, 0, 0}};  // intersect negate max min
  for (const auto& f : kinds) {
#if defined(MSP_VT_C64)
    if (f[2] || f[3]) continue;  // complex values have no ordering
#endif
    std::vector<IT> cnt(std::max(m, 1LL));
    CHECK(call_c("ewise_count", {a.indptr.data(), a.ind.data(), b.indptr.data(), b.ind.data()}, {cnt.data()},
                 {m, n, nnza, nnzb}, {f[0]}) == MSP_OK, "C ewise count status");
    IT* dcnt = dev_poison<IT>(std::max(m, 1LL));
    K(ewise, count)<<<blocks_for(m), 256>>>(dap, dai, dbp, dbi, dcnt, P64(m), P64(n), P64(nnza), P64(nnzb), f[0]);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<IT> gc = host(dcnt, m);
    CHECK(std::equal(gc.begin(), gc.end(), cnt.begin()), "ewise count m=%lld kind %d%d", m, f[0], f[1]);
    std::vector<IT> optr(m + 1, 0);
    for (long long i = 0; i < m; ++i) optr[i + 1] = optr[i] + cnt[i];
    const long long nnz2 = (long long)optr[m];
    std::vector<IT> oi(std::max(nnz2, 1LL)), sa(std::max(nnz2, 1LL)), sb(std::max(nnz2, 1LL));
    std::vector<VT> ov(std::max(nnz2, 1LL));
    CHECK(call_c("ewise_fill", {a.indptr.data(), a.ind.data(), a.val.data(), b.indptr.data(), b.ind.data(), b.val.data(),
                                optr.data()}, {oi.data(), ov.data()}, {m, n, nnza, nnzb, nnz2}, {f[0], f[1], f[2], f[3]}) == MSP_OK,
          "C ewise fill status");
    CHECK(call_c("ewise_sources", {a.indptr.data(), a.ind.data(), b.indptr.data(), b.ind.data(), optr.data()},
                 {sa.data(), sb.data()}, {m, n, nnza, nnzb, nnz2}, {f[0], f[1]}) == MSP_OK, "C ewise sources status");
    IT *dop = dev(optr), *doi = dev_poison<IT>(std::max(nnz2, 1LL)), *dsa = dev_poison<IT>(std::max(nnz2, 1LL)),
       *dsb = dev_poison<IT>(std::max(nnz2, 1LL));
    VT* dov = dev_poison<VT>(std::max(nnz2, 1LL));
    K(ewise, fill)<<<blocks_for(m), 256>>>(dap, dai, dav, dbp, dbi, dbv, dop, doi, dov, P64(m), P64(n), P64(nnza), P64(nnzb),
                                           P64(nnz2), f[0], f[1], f[2], f[3]);
    K(ewise, sources)<<<blocks_for(m), 256>>>(dap, dai, dbp, dbi, dop, dsa, dsb, P64(m), P64(n), P64(nnza), P64(nnzb),
                                              P64(nnz2), f[0], f[1]);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<IT> hi = host(doi, nnz2), hsa = host(dsa, nnz2), hsb = host(dsb, nnz2);
    CHECK(std::equal(hi.begin(), hi.end(), oi.begin()) && same(host(dov, nnz2).data(), ov.data(), nnz2) &&
              std::equal(hsa.begin(), hsa.end(), sa.begin()) && std::equal(hsb.begin(), hsb.end(), sb.begin()),
          "ewise fill/sources m=%lld nnz2=%lld kind %d%d%d%d", m, nnz2, f[0], f[1], f[2], f[3]);
    cudaFree(dcnt), cudaFree(dop), cudaFree(doi), cudaFree(dsa), cudaFree(dsb), cudaFree(dov);
  }
  cudaFree(dap), cudaFree(dai), cudaFree(dbp), cudaFree(dbi), cudaFree(dav), cudaFree(dbv);
}

// ---- corrupt structures (what validate=False lets through) ----------------------------------------
// Every GPU kernel on structures that break the CSR rules: an indptr that decreases, does not start at
// 0, points past nnz or holds wild values; columns < 0 or >= n; index arrays shorter than the row
// pointer says; row lists, positions and output row pointers (scan outputs) out of range or
// disagreeing with the counts of the first pass. Wrong values are allowed there, an access out of
// bounds is not: every buffer has exactly the length the table gives it (dev_exact, out_exact; no
// allocation at all for length 0), so `compute-sanitizer --tool memcheck` reports any access past one
// (tools/gpu_check.sh sanitize). Here each launch must complete without a CUDA error.
static const IT IT_MAX = std::numeric_limits<IT>::max(), IT_MIN = std::numeric_limits<IT>::min();

template <class T> static T* dev_exact(const std::vector<T>& h) {
  if (h.empty()) return nullptr;  // no buffer: any access faults
  T* d = nullptr;
  CK(cudaMalloc(&d, sizeof(T) * h.size()));
  CK(cudaMemcpy(d, h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice));
  return d;
}
// an output of n elements, every byte `fill` (0: the table's init=0; else a poison, initialized so
// that initcheck sees no read of uninitialized memory in what the kernels leave unwritten)
template <class T> static T* out_exact(long long n, int fill) {
  if (n <= 0) return nullptr;
  T* d = nullptr;
  CK(cudaMalloc(&d, sizeof(T) * n));
  CK(cudaMemset(d, fill, sizeof(T) * n));
  return d;
}

static std::string g_what;  // the corruption under test, for the failure message
static void launch_ok(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  CHECK(e == cudaSuccess, "corrupt input (%s): %s: %s", g_what.c_str(), kernel, cudaGetErrorString(e));
  if (e != cudaSuccess) exit(1);  // a fault loses the context: nothing after it can run
}

struct Variant {
  std::string name;
  Csr a;
};
// Corrupt copies of a valid matrix (m >= 8): the structures validate=False can hand a kernel.
static std::vector<Variant> corrupt_variants(const Csr& a) {
  const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  std::vector<Variant> v;
  auto add = [&](const char* name, auto edit) {
    Csr c = a;
    edit(c);
    v.push_back({name, c});
  };
  add("indptr decreases", [&](Csr& c) {
    c.indptr[m / 2 + 1] = c.indptr[m / 2] - 3;
    c.indptr[2] = c.indptr[3] + 40;  // row 1 reaches into row 3, row 2 has a negative length
  });
  add("indptr starts at -4", [&](Csr& c) { c.indptr[0] = -4; });
  add("indptr starts at 3", [&](Csr& c) { c.indptr[0] = 3; });
  add("indptr past nnz", [&](Csr& c) {
    c.indptr[m] = (IT)(nnz + 5);
    c.indptr[m / 3] = (IT)(nnz + 1000);
  });
  add("wild indptr", [&](Csr& c) {
    c.indptr[1] = IT_MAX, c.indptr[2] = IT_MIN;
    c.indptr[m - 1] = IT_MAX, c.indptr[m] = IT_MIN;
  });
  add("index arrays shorter than indptr[m]", [&](Csr& c) {
    c.ind.resize(nnz / 2);
    c.val.resize(nnz / 2);
  });
  if (nnz > 0) {
    add("columns < 0", [&](Csr& c) {
      c.ind[0] = -1, c.ind[nnz / 2] = IT_MIN, c.ind[nnz - 1] = -7;
    });
    add("columns >= n", [&](Csr& c) {
      c.ind[0] = (IT)n, c.ind[nnz / 3] = IT_MAX, c.ind[nnz - 1] = (IT)(n + 1000);
    });
    add("all at once", [&](Csr& c) {
      c.indptr[m / 2 + 1] = c.indptr[m / 2] - 3;
      c.indptr[m / 3] = (IT)(nnz + 1000);
      c.ind[0] = -1, c.ind[nnz / 2] = IT_MAX;
    });
  }
  return v;
}

// Output row pointers (the scan of a count pass) that disagree with the fill: decreasing, past the
// output's length tot, below 0, wild, and too short for the rows' entries.
static std::vector<std::pair<std::string, std::vector<IT>>> ptr_variants(const std::vector<IT>& p, long long tot) {
  const size_t L = p.size();  // >= 4
  std::vector<std::pair<std::string, std::vector<IT>>> v;
  auto add = [&](const char* name, auto edit) {
    std::vector<IT> q = p;
    edit(q);
    v.push_back({name, q});
  };
  add("output pointer decreases", [&](std::vector<IT>& q) {
    q[L / 2] = q[L / 2 - 1] - 2;
    q[2] = q[3] + 9;
  });
  add("output pointer past the output", [&](std::vector<IT>& q) {
    q[L - 1] = (IT)(tot + 7);
    q[L / 3] = (IT)(tot + 100);
  });
  add("output pointer below 0", [&](std::vector<IT>& q) { q[0] = -5; });
  add("wild output pointer", [&](std::vector<IT>& q) {
    q[1] = IT_MAX, q[2] = IT_MIN;
    q[L - 2] = IT_MAX;
  });
  add("output rows shorter than the counts", [&](std::vector<IT>& q) {
    for (auto& x : q) x = (IT)((long long)x / 2);
  });
  return v;
}

static std::vector<IT> scan_of(const std::vector<IT>& c) {
  std::vector<IT> p(c.size() + 1, 0);
  for (size_t i = 0; i < c.size(); ++i) p[i + 1] = (IT)((long long)p[i] + (long long)c[i]);
  return p;
}
// the row of each entry of a valid matrix
static std::vector<IT> expand_host(const Csr& a) {
  std::vector<IT> rows(a.ind.size());
  for (long long r = 0; r < a.m; ++r)
    for (long long j = (long long)a.indptr[r]; j < (long long)a.indptr[r + 1]; ++j) rows[j] = (IT)r;
  return rows;
}

// The merge path's two nodes with coords as given (nb = coords.size() - 1 blocks: the table's length
// of carry, which may disagree with m + nnz), buffers at their exact lengths.
static void merge_path_exact(const IT* dp, const IT* di, const VT* dv, const VT* dx, VT* dy, long long m, long long n,
                             long long nnz, const std::vector<IT>& coords) {
  const long long nb = (long long)coords.size() - 1;
  IT* dco = dev_exact(coords);
  AT* d1 = out_exact<AT>(m, 0xFF);
  AT* dc = out_exact<AT>(nb, 0xFF);
  K(spmv, csr_mp)<<<blocks_for(nb * MSP_MP_B), MSP_MP_B>>>(dp, di, dv, dx, dco, d1, dc, P64(m), P64(n), P64(nnz), P64(nb));
  launch_ok("spmv_csr_mp");
  K(spmv, csr_mpfix)<<<blocks_for(m), 256>>>(dp, di, dv, dx, d1, dc, dy, P64(m), P64(n), P64(nnz), P64(nb));
  launch_ok("spmv_csr_mpfix");
  cudaFree(dco), cudaFree(d1), cudaFree(dc);
}

// SpMV: every lane count, from indices and from 16-bit offsets (some pointing outside [0, n)), and the
// merge path with its plan computed from the corrupt indptr, with coords out of range or out of order,
// and with more or fewer blocks than m + nnz needs.
static void corrupt_spmv(const std::vector<Variant>& vs) {
  for (const Variant& v : vs) {
    g_what = v.name;
    const Csr& a = v.a;
    const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
    std::vector<VT> x(n, hval(1.f, 0.f));
    std::vector<short> d(nnz);
    for (long long j = 0; j < nnz; ++j) d[j] = (short)(j % 9 - 4);
    if (nnz > 1) d[0] = -32768, d[nnz - 1] = 32767;
    IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind);
    VT *dv = dev_exact(a.val), *dx = dev_exact(x), *dy = out_exact<VT>(m, 0xFF);
    short* dd = dev_exact(d);
    for (int g = 1; g <= 32; g *= 2) {
      launch_lanes_async(g, dp, di, dv, dx, nullptr, dy, m, n, nnz);
      launch_ok("spmv_csr");
      launch_lanes_async(g, dp, di, dv, dx, dd, dy, m, n, nnz);
      launch_ok("spmv_csr_d16");
    }
    const std::vector<IT> plan = msp_merge_coords<IT>(a.indptr.data(), m, nnz);
    const long long nb = (long long)plan.size() - 1;
    std::vector<std::vector<IT>> coords = {plan};
    {
      auto c = plan;
      c[0] = -5, c[nb] = IT_MAX;
      if (nb >= 2) c[1] = (IT)(m + 100);
      coords.push_back(c);
    }
    {
      auto c = plan;
      std::swap(c[0], c[nb]);
      c[nb / 2] = IT_MIN;
      coords.push_back(c);
    }
    {
      auto c = plan;  // two blocks more than m + nnz needs
      c.push_back((IT)m), c.push_back((IT)m);
      coords.push_back(c);
    }
    if (nb >= 2) {
      auto c = plan;  // one block fewer
      c.pop_back();
      coords.push_back(c);
    }
    for (const auto& c : coords) merge_path_exact(dp, di, dv, dx, dy, m, n, nnz, c);
    cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(dx), cudaFree(dy), cudaFree(dd);
  }
}

// SpMM, A X and A^T X: narrow and vector (16-byte) column blocks, one and 32 lanes per row.
static void corrupt_spmm(const std::vector<Variant>& vs) {
  for (const Variant& v : vs) {
    g_what = v.name;
    const Csr& a = v.a;
    const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
    IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind);
    VT* dv = dev_exact(a.val);
    for (int trans = 0; trans < 2; ++trans)
      for (long long k : {1LL, 5LL, 8LL}) {
        const long long in_rows = trans ? m : n, out_rows = trans ? n : m;
        VT* dx = dev_exact(std::vector<VT>(in_rows * k, hval(1.f, 0.f)));
        for (int lanes : {1, 32}) {
          if (!trans) {
            VT* dy = out_exact<VT>(out_rows * k, 0xFF);
            K(spmm, csr)<<<blocks_for(m * lanes), 256>>>(dp, di, dv, dx, dy, P64(m), P64(n), P64(k), P64(nnz), k == 5, false,
                                                          lanes);
            launch_ok("spmm_csr");
            cudaFree(dy);
          } else {
            AT* dy = out_exact<AT>(out_rows * k, 0);
            K(spmm, csr_t)<<<blocks_for(m * lanes), 256>>>(dp, di, dv, dx, dy, P64(m), P64(n), P64(k), P64(nnz), k == 5, false,
                                                            lanes);
            launch_ok("spmm_csr_t");
            cudaFree(dy);
          }
        }
        cudaFree(dx);
      }
    cudaFree(dp), cudaFree(di), cudaFree(dv);
  }
}

// Conversions: todense and expand_rows on each structure; indptr_from_rows on row lists that leave
// [0, m) or are not sorted; the two-pass scan on counts that are negative or wild, with tile counts
// that disagree with m.
static void corrupt_convert(const Csr& base, const std::vector<Variant>& vs) {
  for (const Variant& v : vs) {
    g_what = v.name;
    const Csr& a = v.a;
    const long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
    IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind);
    VT* dv = dev_exact(a.val);
    VT* dd = out_exact<VT>(m * n, 0);
    K(convert, csr_todense)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dd, P64(m), P64(n), P64(nnz));
    launch_ok("convert_csr_todense");
    IT* dr = out_exact<IT>(nnz, 0xFF);
    K(convert, expand_rows)<<<blocks_for(m * 32), 256>>>(dp, dr, P64(m), P64(nnz));
    launch_ok("convert_expand_rows");
    cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(dd), cudaFree(dr);
  }
  const std::vector<IT> rows = expand_host(base);
  const long long k = (long long)rows.size(), m = base.m;
  std::vector<std::pair<std::string, std::vector<IT>>> lists;
  {
    auto r = rows;
    r[0] = -3, r[k / 2] = (IT)(m + 5);
    lists.push_back({"row ids outside [0, m)", r});
  }
  {
    auto r = rows;
    r[k - 1] = IT_MAX, r[k / 3] = IT_MIN;
    lists.push_back({"wild row ids", r});
  }
  {
    auto r = rows;
    std::swap(r[k / 4], r[3 * k / 4]);
    lists.push_back({"row ids not sorted", r});
  }
  for (const auto& l : lists)
    for (long long mm : {m, m / 2}) {  // and fewer rows than the ids name
      g_what = l.first;
      IT *drows = dev_exact(l.second), *dptr = out_exact<IT>(mm + 1, 0xFF);
      K(convert, indptr_from_rows)<<<blocks_for(k + 1), 256>>>(drows, dptr, P64(mm), P64(k));
      launch_ok("convert_indptr_from_rows");
      cudaFree(drows), cudaFree(dptr);
    }
  const long long M = 3 * SCAN_TILE + 17, ntiles = (M + SCAN_TILE - 1) / SCAN_TILE;
  std::vector<IT> x(M);
  for (auto& c : x) c = (IT)rnd(0, 5);
  x[7] = -9, x[M / 2] = IT_MAX, x[M - 1] = IT_MIN;
  IT* dx = dev_exact(x);
  for (long long nt : {ntiles, 1LL, ntiles + 2}) {
    g_what = "counts < 0 and wild, " + std::to_string(nt) + " tiles";
    IT *dt = out_exact<IT>(nt, 0xFF), *dout = out_exact<IT>(M + 1, 0xFF);
    K(convert, scan_tiles)<<<blocks_for(nt * 256), 256>>>(dx, dt, P64(M), P64(nt));
    launch_ok("convert_scan_tiles");
    K(convert, scan)<<<blocks_for(nt * 256), 256>>>(dx, dt, dout, P64(M), P64(nt));
    launch_ok("convert_scan");
    cudaFree(dt), cudaFree(dout);
  }
  cudaFree(dx);
}

// Run sums: positions outside the output (or wild), an output shorter than the runs, wild (row, col).
static void corrupt_canonical(const Csr& base) {
  const std::vector<IT> rows0 = expand_host(base);
  const long long k = (long long)rows0.size();
  std::vector<IT> pos0(k);
  long long run = -1;
  for (long long j = 0; j < k; ++j) {
    if (j == 0 || rows0[j] != rows0[j - 1] || base.ind[j] != base.ind[j - 1]) run++;
    pos0[j] = (IT)run;
  }
  const long long runs = run + 1;
  struct Case {
    std::string name;
    std::vector<IT> rows, cols, pos;
    long long nnz2;
  };
  std::vector<Case> cases = {{"valid runs", rows0, base.ind, pos0, runs}};
  {
    Case c = cases[0];
    c.name = "positions outside the output";
    c.pos[0] = -1, c.pos[k / 2] = (IT)runs, c.pos[k - 1] = IT_MAX, c.pos[k / 3] = IT_MIN;
    cases.push_back(c);
  }
  {
    Case c = cases[0];
    c.name = "output shorter than the runs";
    c.nnz2 = runs / 2;
    cases.push_back(c);
  }
  {
    Case c = cases[0];
    c.name = "wild rows and columns";
    c.rows[5] = IT_MIN, c.cols[6] = IT_MAX, c.rows[k - 1] = -1;
    cases.push_back(c);
  }
  VT* dv = dev_exact(base.val);
  for (const Case& c : cases) {
    g_what = c.name;
    IT *dr = dev_exact(c.rows), *dc = dev_exact(c.cols), *dpos = dev_exact(c.pos);
    IT *oi = out_exact<IT>(c.nnz2, 0xFF), *orow = out_exact<IT>(c.nnz2, 0xFF);
    VT* ov = out_exact<VT>(c.nnz2, 0xFF);
    K(canonical, sum_runs)<<<blocks_for(k), 256>>>(dr, dc, dv, dpos, oi, ov, orow, P64(k), P64(c.nnz2));
    launch_ok("canonical_sum_runs");
    cudaFree(dr), cudaFree(dc), cudaFree(dpos), cudaFree(oi), cudaFree(orow), cudaFree(ov);
  }
  cudaFree(dv);
}

// Selection and indexing: counts on each corrupt structure; fills into the output pointer of the valid
// structure's counts (the structure changed between the passes) and, on the valid structure, into
// corrupt output pointers; row lists, column picks and queries outside the matrix.
static void corrupt_select(const Csr& base, const std::vector<Variant>& vs) {
  const long long m = base.m, n = base.n, nnz0 = (long long)base.ind.size();
  std::vector<const Variant*> all;  // the corrupt structures, then the valid one
  for (const Variant& v : vs) all.push_back(&v);
  const Variant valid{"valid structure", base};
  all.push_back(&valid);
  // CSR subsets (the `sorted` modes on rows sorted by column, and their corrupt copies)
  Csr sbase = base;
  for (long long r = 0; r < m; ++r) std::sort(sbase.ind.begin() + sbase.indptr[r], sbase.ind.begin() + sbase.indptr[r + 1]);
  const std::vector<Variant> svs = corrupt_variants(sbase);
  std::vector<const Variant*> sall;
  for (const Variant& v : svs) sall.push_back(&v);
  const Variant svalid{"valid structure, rows sorted", sbase};
  sall.push_back(&svalid);
  const int modes[][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 1}, {0, 0, 0, 1}};
  const long long shift = m + 2, c0 = n / 4, c1 = n - n / 5;
  for (const auto& md : modes) {
    const Csr& b0 = md[3] ? sbase : base;
    std::vector<IT> cnt(m);
    CHECK(call_c("select_csr_count", {b0.indptr.data(), b0.ind.data(), b0.val.data()}, {cnt.data()},
                 {m, n, nnz0, shift, c0, c1}, {md[0], md[1], md[2], md[3]}) == MSP_OK, "C csr_count status");
    const std::vector<IT> optr = scan_of(cnt);
    const long long tot = (long long)optr[m];
    auto run = [&](const Csr& a, const std::vector<IT>& op) {
      const long long nnz = (long long)a.ind.size();
      IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind), *dop = dev_exact(op), *dc = out_exact<IT>(m, 0xFF);
      VT* dv = dev_exact(a.val);
      K(select, csr_count)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dc, P64(m), P64(n), P64(nnz), P64(shift), P64(c0), P64(c1),
                                                       md[0], md[1], md[2], md[3]);
      launch_ok("select_csr_count");
      IT *doi = out_exact<IT>(tot, 0xFF), *dsrc = out_exact<IT>(tot, 0xFF);
      VT* dod = out_exact<VT>(tot, 0xFF);
      K(select, csr_fill)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dop, doi, dsrc, dod, P64(m), P64(n), P64(nnz), P64(tot),
                                                      P64(shift), P64(c0), P64(c1), md[0], md[1], md[2], md[3]);
      launch_ok("select_csr_fill");
      cudaFree(dp), cudaFree(di), cudaFree(dop), cudaFree(dc), cudaFree(dv), cudaFree(doi), cudaFree(dsrc), cudaFree(dod);
    };
    for (const Variant* v : (md[3] ? sall : all)) g_what = v->name, run(v->a, optr);
    for (const auto& pv : ptr_variants(optr, tot)) g_what = pv.first, run(b0, pv.second);
  }
  // fromdense into row pointers that disagree with the counts
  {
    std::vector<VT> dense(m * n), thr = {hval(0.f, 0.f)};
    CHECK(call_c("convert_csr_todense", {base.indptr.data(), base.ind.data(), base.val.data()}, {dense.data()},
                 {m, n, nnz0}) == MSP_OK, "C todense status");
    std::vector<IT> cnt(m);
    CHECK(call_c("select_dense_count", {dense.data(), thr.data()}, {cnt.data()}, {m, n}) == MSP_OK, "C dense_count status");
    const std::vector<IT> ptr = scan_of(cnt);
    const long long tot = (long long)ptr[m];
    VT *dd = dev_exact(dense), *dt = dev_exact(thr);
    IT* dc = out_exact<IT>(m, 0xFF);
    g_what = "dense input";
    K(select, dense_count)<<<blocks_for(m * 32), 256>>>(dd, dt, dc, P64(m), P64(n));
    launch_ok("select_dense_count");
    std::vector<std::pair<std::string, std::vector<IT>>> ptrs = ptr_variants(ptr, tot);
    ptrs.push_back({"valid row pointer", ptr});
    for (const auto& pv : ptrs) {
      g_what = pv.first;
      IT *dptr = dev_exact(pv.second), *dind = out_exact<IT>(tot, 0xFF), *dpos = out_exact<IT>(tot, 0xFF);
      K(select, dense_fill)<<<blocks_for(m * 32), 256>>>(dd, dt, dptr, dind, dpos, P64(m), P64(n), P64(tot));
      launch_ok("select_dense_fill");
      cudaFree(dptr), cudaFree(dind), cudaFree(dpos);
    }
    cudaFree(dd), cudaFree(dt), cudaFree(dc);
  }
  // row gather: row ids outside [0, m) (their output rows empty)
  {
    const long long r = 2 * m + 1;
    std::vector<IT> rows(r);
    for (auto& x : rows) x = (IT)rnd(0, m - 1);
    rows[0] = -1, rows[1] = (IT)m, rows[2] = IT_MAX, rows[3] = IT_MIN;
    std::vector<IT> len(r, 0);
    for (long long i = 0; i < r; ++i)
      if (rows[i] >= 0 && (long long)rows[i] < m) len[i] = base.indptr[rows[i] + 1] - base.indptr[rows[i]];
    const std::vector<IT> optr = scan_of(len);
    const long long tot = (long long)optr[r];
    IT* drows = dev_exact(rows);
    auto run = [&](const Csr& a, const std::vector<IT>& op) {
      const long long nnz = (long long)a.ind.size();
      IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind), *dop = dev_exact(op), *drc = out_exact<IT>(r, 0xFF);
      VT* dv = dev_exact(a.val);
      K(select, rows_count)<<<blocks_for(r), 256>>>(dp, drows, drc, P64(m), P64(r));
      launch_ok("select_rows_count");
      IT *doi = out_exact<IT>(tot, 0xFF), *dsrc = out_exact<IT>(tot, 0xFF);
      VT* dod = out_exact<VT>(tot, 0xFF);
      K(select, rows)<<<blocks_for(r * 32), 256>>>(dp, di, dv, drows, dop, doi, dsrc, dod, P64(m), P64(nnz), P64(r), P64(tot));
      launch_ok("select_rows");
      cudaFree(dp), cudaFree(di), cudaFree(dop), cudaFree(drc), cudaFree(dv), cudaFree(doi), cudaFree(dsrc), cudaFree(dod);
    };
    for (const Variant* v : all) g_what = v->name + ", row ids outside [0, m)", run(v->a, optr);
    for (const auto& pv : ptr_variants(optr, tot)) g_what = pv.first, run(base, pv.second);
    cudaFree(drows);
  }
  // column gather: picks grouped per column (cptr, corder), corrupt cptr, corrupt output pointers
  {
    const long long q = n + 3;
    std::vector<long long> pick(q), cnt(n + 1, 0);
    for (long long t = 0; t < q; ++t) pick[t] = rnd(0, n - 1), cnt[pick[t] + 1]++;
    for (long long c = 0; c < n; ++c) cnt[c + 1] += cnt[c];
    std::vector<IT> cptr(cnt.begin(), cnt.end()), corder(q), counts(m);
    for (long long t = 0; t < q; ++t) corder[cnt[pick[t]]++] = (IT)t;
    corder[0] = IT_MIN;  // output column ids are copied, never followed
    CHECK(call_c("select_cols_count", {base.indptr.data(), base.ind.data(), cptr.data()}, {counts.data()}, {m, n, nnz0}) ==
              MSP_OK, "C cols_count status");
    const std::vector<IT> optr = scan_of(counts);
    const long long tot = (long long)optr[m];
    IT* dco = dev_exact(corder);
    auto run = [&](const Csr& a, const std::vector<IT>& cp, const std::vector<IT>& op) {
      const long long nnz = (long long)a.ind.size();
      IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind), *dcp = dev_exact(cp), *dop = dev_exact(op);
      IT* dcnt = out_exact<IT>(m, 0xFF);
      VT* dv = dev_exact(a.val);
      K(select, cols_count)<<<blocks_for(m * 32), 256>>>(dp, di, dcp, dcnt, P64(m), P64(n), P64(nnz));
      launch_ok("select_cols_count");
      IT *doi = out_exact<IT>(tot, 0xFF), *dsrc = out_exact<IT>(tot, 0xFF);
      VT* dod = out_exact<VT>(tot, 0xFF);
      K(select, cols_fill)<<<blocks_for(m * 32), 256>>>(dp, di, dv, dcp, dco, dop, doi, dsrc, dod, P64(m), P64(n), P64(nnz), P64(q),
                                                       P64(tot));
      launch_ok("select_cols_fill");
      cudaFree(dp), cudaFree(di), cudaFree(dcp), cudaFree(dop), cudaFree(dcnt), cudaFree(dv), cudaFree(doi), cudaFree(dsrc),
          cudaFree(dod);
    };
    for (const Variant* v : all) g_what = v->name, run(v->a, cptr, optr);
    for (const auto& pv : ptr_variants(cptr, q)) g_what = "column groups: " + pv.first, run(base, pv.second, optr);
    for (const auto& pv : ptr_variants(optr, tot)) g_what = pv.first, run(base, cptr, pv.second);
    cudaFree(dco);
  }
  // entry lookups: queries outside the matrix
  {
    const long long nq = 3 * (m + n);
    std::vector<IT> qr(nq), qc(nq);
    for (long long i = 0; i < nq; ++i) qr[i] = (IT)rnd(0, m - 1), qc[i] = (IT)rnd(0, n - 1);
    qr[0] = -1, qc[1] = (IT)n, qr[2] = IT_MAX, qc[3] = IT_MIN, qr[4] = (IT)m;
    IT *dqr = dev_exact(qr), *dqc = dev_exact(qc);
    for (const Variant* v : all) {
      g_what = v->name + ", queries outside the matrix";
      const Csr& a = v->a;
      const long long nnz = (long long)a.ind.size();
      IT *dp = dev_exact(a.indptr), *di = dev_exact(a.ind), *dpos = out_exact<IT>(nq, 0xFF);
      K(select, lookup)<<<blocks_for(nq), 256>>>(dp, di, dqr, dqc, dpos, P64(m), P64(n), P64(nnz), P64(nq));
      launch_ok("select_lookup");
      cudaFree(dp), cudaFree(di), cudaFree(dpos);
    }
    cudaFree(dqr), cudaFree(dqc);
  }
}

// kron: A corrupt, B corrupt, and an output pointer that disagrees with the row lengths.
static void corrupt_kron(const Csr& a) {
  const Csr b = make(9, 5, 4, 0);
  const long long ma = a.m, mb = b.m;
  std::vector<IT> optr(ma * mb + 1, 0);
  for (long long R = 0; R < ma * mb; ++R)
    optr[R + 1] = optr[R] + (a.indptr[R / mb + 1] - a.indptr[R / mb]) * (b.indptr[R % mb + 1] - b.indptr[R % mb]);
  const long long tot = (long long)optr[ma * mb];
  auto run = [&](const Csr& x, const Csr& y, const std::vector<IT>& op) {
    const long long nnza = (long long)x.ind.size(), nnzb = (long long)y.ind.size();
    IT *dap = dev_exact(x.indptr), *dai = dev_exact(x.ind), *dbp = dev_exact(y.indptr), *dbi = dev_exact(y.ind);
    IT* dop = dev_exact(op);
    VT *dav = dev_exact(x.val), *dbv = dev_exact(y.val);
    IT* doi = out_exact<IT>(tot, 0xFF);
    VT* dov = out_exact<VT>(tot, 0xFF);
    K(construct, kron)<<<blocks_for(ma * mb * 32), 256>>>(dap, dai, dav, dbp, dbi, dbv, dop, doi, dov, P64(ma), P64(y.n),
                                                           P64(nnza), P64(mb), P64(nnzb), P64(tot));
    launch_ok("construct_kron");
    cudaFree(dap), cudaFree(dai), cudaFree(dbp), cudaFree(dbi), cudaFree(dop), cudaFree(dav), cudaFree(dbv), cudaFree(doi),
        cudaFree(dov);
  };
  for (const Variant& v : corrupt_variants(a)) g_what = "A: " + v.name, run(v.a, b, optr);
  for (const Variant& v : corrupt_variants(b)) g_what = "B: " + v.name, run(a, v.a, optr);
  for (const auto& pv : ptr_variants(optr, tot)) g_what = pv.first, run(a, b, pv.second);
}


// rowcount, hcount, hfill, numeric and sampled as mlx_sparse chains them: the plan from the flops
// unless `plan` is given, the output row pointer the scan of the counts unless `cptr` is given (nnzc:
// its output length), `extra` blocks past the plan's grid. Sampled: S = A, G = C, H = B.
static void spgemm_chain(const Csr& a, const Csr& b, const GemmPlan* plan, const std::vector<IT>* cptr_in, long long nnzc_in,
                         unsigned extra) {
  const long long m = a.m, k = b.m, n = b.n, nnza = (long long)a.ind.size(), nnzb = (long long)b.ind.size();
  IT *dap = dev_exact(a.indptr), *dai = dev_exact(a.ind), *dbp = dev_exact(b.indptr), *dbi = dev_exact(b.ind);
  VT *dav = dev_exact(a.val), *dbv = dev_exact(b.val);
  IT *dfl = out_exact<IT>(m, 0xFF), *dcnt0 = out_exact<IT>(m, 0), *dtiers = out_exact<IT>(3, 0);
  K(spgemm, rowcount)<<<blocks_for(m * 8), 256>>>(dap, dai, dbp, dbi, dcnt0, dfl, dtiers, P64(m), P64(k), P64(n),
                                                  P64(nnza), P64(nnzb));
  launch_ok("spgemm_rowcount");
  const GemmPlan p = plan ? *plan : gemm_plan(host(dfl, m), n);
  if (!plan) {  // place as _gpu_plan runs it (the harness's own list is the plan's)
    IT *drows0 = out_exact<IT>(m, 0), *dcur = out_exact<IT>(3, 0);
    K(spgemm, place)<<<blocks_for(m), 256>>>(dfl, drows0, dcur, P64(m), P64(p.nw), P64(p.nb));
    launch_ok("spgemm_place");
    cudaFree(drows0), cudaFree(dcur);
  }
  IT* dfl2 = p.zero_flops ? out_exact<IT>(m, 0) : dfl;
  const unsigned grid = (unsigned)std::max(p.sb + p.wb + p.bb + p.gb, 1LL) + extra;
  const long long nbits = p.gb * p.nwords + 1;
  IT *drows = dev_exact(p.rows), *dbits = out_exact<IT>(nbits, 0), *dcnt = out_exact<IT>(m, 0);
  K(spgemm, hcount)<<<grid, 256>>>(dap, dai, dbp, dbi, dfl2, drows, dcnt, dbits, P64(m), P64(k), P64(n), P64(nnza),
                                   P64(nnzb), P64(p.nw), P64(p.nb), P64(p.ng), P64(0), P64(p.wb), P64(p.bb), P64(p.gb),
                                   P64(p.nwords));
  launch_ok("spgemm_hcount");
  std::vector<IT> cptr;
  long long nnzc = nnzc_in;
  if (cptr_in) {
    cptr = *cptr_in;
  } else {
    std::vector<IT> c0 = host(dcnt0, m), c1 = host(dcnt, m);
    for (long long i = 0; i < m; ++i) c0[i] += c1[i];
    cptr = scan_of(c0);
    nnzc = (long long)cptr[m];
  }
  IT *dcp = dev_exact(cptr), *dci = out_exact<IT>(nnzc, 0xFF);
  AT* dcv0 = out_exact<AT>(nnzc, 0xFF);
  IT* dci_s = out_exact<IT>(nnzc, 0xFF);
  AT *dcv0_s = out_exact<AT>(nnzc, 0xFF), *dcv = out_exact<AT>(nnzc, 0xFF), *dcv_s = out_exact<AT>(nnzc, 0xFF);
  K(spgemm, hfill_all)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dfl2, drows, dcp, dbits, dci, dcv0, P64(m), P64(k),
                                      P64(n), P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p), P64(p.nwords));
  launch_ok("spgemm_hfill_all");
  K(spgemm, hfill_s)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dfl2, drows, dcp, dbits, dci_s, dcv0_s, P64(m), P64(k),
                                    P64(n), P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p), P64(p.nwords));
  launch_ok("spgemm_hfill_s");
  K(spgemm, numeric_all)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dcp, dci, dfl2, drows, dcv, P64(m), P64(k), P64(n),
                                        P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p));
  launch_ok("spgemm_numeric_all");
  K(spgemm, numeric_s)<<<grid, 256>>>(dap, dai, dav, dbp, dbi, dbv, dcp, dci, dfl2, drows, dcv_s, P64(m), P64(k), P64(n),
                                      P64(nnza), P64(nnzb), P64(nnzc), PLAN_TIERS(p));
  launch_ok("spgemm_numeric_s");
  VT *dgv = dev_exact(std::vector<VT>(nnzc, hval(1.f, 0.f))), *dso = out_exact<VT>(nnza, 0);
  K(spgemm, sampled)<<<blocks_for(m * 32), 256>>>(dap, dai, dcp, dci, dgv, dbp, dbi, dbv, dso, P64(m), P64(k), P64(n),
                                                  P64(nnza), P64(nnzc), P64(nnzb));
  launch_ok("spgemm_sampled");
  if (dfl2 != dfl) cudaFree(dfl2);
  cudaFree(dap), cudaFree(dai), cudaFree(dbp), cudaFree(dbi), cudaFree(dav), cudaFree(dbv), cudaFree(dfl), cudaFree(drows),
      cudaFree(dbits), cudaFree(dcnt), cudaFree(dcnt0), cudaFree(dtiers), cudaFree(dcp), cudaFree(dci), cudaFree(dcv0),
      cudaFree(dcv), cudaFree(dgv), cudaFree(dso), cudaFree(dci_s), cudaFree(dcv0_s), cudaFree(dcv_s);
}

// Sparse @ sparse: A or B corrupt (plan from their flops); the plan and row pointer of the valid
// product run on a corrupt A (the structure changed between the passes); on the valid product, plans
// that disagree with it (row ids outside [0, m), tier sizes past m or below 0, every row in one tier,
// a short bitmap, more blocks than the plan) and output row pointers that disagree with the counts.
static void corrupt_spgemm() {
  const Csr a = make(1200, 700, 12, 3);  // product rows in every tier (S, W, B, G: 1023, 174, 1, 2 rows)
  Csr b = make(700, 400, 4, 0);
  for (long long r = 0; r < b.m; ++r) std::sort(b.ind.begin() + b.indptr[r], b.ind.begin() + b.indptr[r + 1]);
  const long long m = a.m, k = b.m, n = b.n, nnza = (long long)a.ind.size(), nnzb = (long long)b.ind.size();
  std::vector<IT> fl(m), cnt(m);
  CHECK(call_c("spgemm_rowflops", {a.indptr.data(), a.ind.data(), b.indptr.data()}, {fl.data()}, {m, k, nnza}) == MSP_OK,
        "C rowflops status");
  CHECK(call_c("spgemm_count", {a.indptr.data(), a.ind.data(), b.indptr.data(), b.ind.data()}, {cnt.data()},
               {m, k, n, nnza, nnzb}) == MSP_OK, "C spgemm count status");
  const GemmPlan plan = gemm_plan(fl, n);
  const std::vector<IT> cptr = scan_of(cnt);
  const long long nnzc = (long long)cptr[m];
  g_what = "valid product";
  spgemm_chain(a, b, nullptr, nullptr, 0, 0);
  for (const Variant& v : corrupt_variants(a)) g_what = "A: " + v.name, spgemm_chain(v.a, b, nullptr, nullptr, 0, 0);
  for (const Variant& v : corrupt_variants(b)) g_what = "B: " + v.name, spgemm_chain(a, v.a, nullptr, nullptr, 0, 0);
  for (const Variant& v : corrupt_variants(a))
    g_what = "A changed after the plan: " + v.name, spgemm_chain(v.a, b, &plan, &cptr, nnzc, 0);
  std::vector<std::pair<std::string, GemmPlan>> plans;
  {
    GemmPlan p = plan;
    const long long L = p.nw + p.nb + p.ng;  // >= 3 (this A's product rows are in every tier)
    p.rows[0] = -1, p.rows[L / 2] = (IT)m, p.rows[L - 1] = IT_MAX, p.rows[1] = p.rows[2];
    plans.push_back({"row ids outside [0, m), a repeat", p});
  }
  {
    GemmPlan p = plan;
    p.nb += 3, p.ng += 7;
    plans.push_back({"tier sizes past m", p});
  }
  {
    GemmPlan p = plan;
    p.nw = -40;
    plans.push_back({"a tier size below 0", p});
  }
  for (int t = 0; t < 4; ++t) {
    GemmPlan p = plan;
    for (long long i = 0; i < m; ++i) p.rows[i] = (IT)i;
    p.nw = p.nb = p.ng = p.sb = p.wb = p.bb = p.gb = p.nwords = 0;
    if (t == 0) p.sb = (m + 31) / 32, p.zero_flops = true;  // every row taken for an S row
    if (t == 1) p.nw = m, p.wb = (m + 7) / 8;
    if (t == 2) p.nb = m, p.bb = m;
    if (t == 3) p.ng = m, p.gb = 2, p.nwords = (n + 8 * (long long)sizeof(IT) - 1) / (8 * (long long)sizeof(IT));
    plans.push_back({"every row in tier " + std::to_string(t), p});
  }
  if (plan.ng > 0) {
    GemmPlan p = plan;
    p.nwords = 1;
    plans.push_back({"a bitmap shorter than n bits", p});
  }
  for (const auto& pp : plans) {
    g_what = "plan: " + pp.first;
    spgemm_chain(a, b, &pp.second, &cptr, nnzc, 0);
    g_what = "plan: " + pp.first + ", its own counts";
    spgemm_chain(a, b, &pp.second, nullptr, 0, 0);
  }
  g_what = "more blocks than the plan";
  spgemm_chain(a, b, &plan, &cptr, nnzc, 3);
  for (const auto& pv : ptr_variants(cptr, nnzc)) g_what = pv.first, spgemm_chain(a, b, &plan, &pv.second, nnzc, 0);
}

// Elementwise merges: A or B corrupt against the valid output pointer, and corrupt output pointers.
static void corrupt_ewise(const Csr& base) {
  const Csr a = canonical(base), b = canonical(make(base.m, base.n, 3, 1));
  const long long m = a.m, n = a.n;
  const int kinds[][4] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};  // intersect negate max min
  const std::vector<Variant> va = corrupt_variants(a), vb = corrupt_variants(b);
  for (const auto& f : kinds) {
#if defined(MSP_VT_C64)
    if (f[2] || f[3]) continue;  // complex values have no ordering
#endif
    std::vector<IT> cnt(m);
    CHECK(call_c("ewise_count", {a.indptr.data(), a.ind.data(), b.indptr.data(), b.ind.data()}, {cnt.data()},
                 {m, n, (long long)a.ind.size(), (long long)b.ind.size()}, {f[0]}) == MSP_OK, "C ewise count status");
    const std::vector<IT> optr = scan_of(cnt);
    const long long tot = (long long)optr[m];
    auto run = [&](const Csr& x, const Csr& y, const std::vector<IT>& op) {
      const long long nnza = (long long)x.ind.size(), nnzb = (long long)y.ind.size();
      IT *dap = dev_exact(x.indptr), *dai = dev_exact(x.ind), *dbp = dev_exact(y.indptr), *dbi = dev_exact(y.ind);
      IT *dop = dev_exact(op), *dcnt = out_exact<IT>(m, 0xFF);
      VT *dav = dev_exact(x.val), *dbv = dev_exact(y.val);
      K(ewise, count)<<<blocks_for(m), 256>>>(dap, dai, dbp, dbi, dcnt, P64(m), P64(n), P64(nnza), P64(nnzb), f[0]);
      launch_ok("ewise_count");
      IT *doi = out_exact<IT>(tot, 0), *dsa = out_exact<IT>(tot, 0), *dsb = out_exact<IT>(tot, 0);
      VT* dov = out_exact<VT>(tot, 0);
      K(ewise, fill)<<<blocks_for(m), 256>>>(dap, dai, dav, dbp, dbi, dbv, dop, doi, dov, P64(m), P64(n), P64(nnza), P64(nnzb),
                                             P64(tot), f[0], f[1], f[2], f[3]);
      launch_ok("ewise_fill");
      K(ewise, sources)<<<blocks_for(m), 256>>>(dap, dai, dbp, dbi, dop, dsa, dsb, P64(m), P64(n), P64(nnza), P64(nnzb), P64(tot),
                                                f[0], f[1]);
      launch_ok("ewise_sources");
      cudaFree(dap), cudaFree(dai), cudaFree(dbp), cudaFree(dbi), cudaFree(dop), cudaFree(dcnt), cudaFree(dav), cudaFree(dbv),
          cudaFree(doi), cudaFree(dsa), cudaFree(dsb), cudaFree(dov);
    };
    for (const Variant& v : va) g_what = "A: " + v.name, run(v.a, b, optr);
    for (const Variant& v : vb) g_what = "B: " + v.name, run(a, v.a, optr);
    for (const auto& pv : ptr_variants(optr, tot)) g_what = pv.first, run(a, b, pv.second);
  }
}

// ---- factorizations (synchronization-free GPU kernels) against the C kernels --------------------------
// A square, diagonally dominant matrix from a random structure: every row gets a diagonal of 4 + its
// off-diagonal count (so solves and factors stay well scaled), canonical (sorted, unique).
static Csr dominant(long long m, int avg, int long_rows) {
  Csr a = canonical(make(m, m, avg, long_rows)), c{m, m, {0}, {}, {}};
  for (long long r = 0; r < m; ++r) {
    bool has_diag = false;
    const long long s = (long long)a.indptr[r], e = (long long)a.indptr[r + 1];
    for (long long p = s; p <= e; ++p) {
      const bool at_diag = !has_diag && (p == e || (long long)a.ind[p] >= r);
      if (at_diag) {
        c.ind.push_back((IT)r), c.val.push_back(hval((float)(4 + (e - s)), 0.f)), has_diag = true;
        if (p < e && (long long)a.ind[p] == r) continue;
      }
      if (p < e) c.ind.push_back(a.ind[p]), c.val.push_back(a.val[p]);
    }
    c.indptr.push_back((IT)c.ind.size());
  }
  return c;
}
static Csr lower_of(const Csr& a) {
  Csr c{a.m, a.n, {0}, {}, {}};
  for (long long r = 0; r < a.m; ++r) {
    for (IT p = a.indptr[r]; p < a.indptr[r + 1]; ++p)
      if ((long long)a.ind[p] <= r) c.ind.push_back(a.ind[p]), c.val.push_back(a.val[p]);
    c.indptr.push_back((IT)c.ind.size());
  }
  return c;
}
static double host_mag(VT v) {
#if defined(MSP_VT_C64)
  return std::sqrt((double)v.x * v.x + (double)v.y * v.y);
#else
  return (double)re_of(v);
#endif
}
// |a - b| <= tol * max |b| elementwise, the tolerance of the value type (the GPU sums in another order).
static bool close_values(const std::vector<VT>& a, const std::vector<VT>& b) {
#if defined(MSP_VT_F16)
  const double tol = 4e-3;
#elif defined(MSP_VT_BF16)
  const double tol = 3e-2;
#else
  const double tol = 1e-5;
#endif
  double big = 1e-30;
  for (const VT& v : b) big = std::max(big, std::fabs(host_mag(v)));
  for (size_t i = 0; i < a.size(); ++i) {
#if defined(MSP_VT_C64)
    const double d = std::sqrt((double)(a[i].x - b[i].x) * (a[i].x - b[i].x) + (double)(a[i].y - b[i].y) * (a[i].y - b[i].y));
#else
    const double d = std::fabs((double)re_of(a[i]) - (double)re_of(b[i]));
#endif
    if (!(d <= tol * big)) return false;
  }
  return true;
}
static unsigned factor_blocks(long long n) { return blocks_for(std::min<long long>(n, 1 << 14) * 32); }

// The lower triangle of a as the Hermitian matrix it stands for in IC(0), its diagonal made real and larger
// than the row's and the column's off-diagonal magnitudes together (strictly dominant: IC(0) exists). A's
// own diagonal covers only its row, which complex values of magnitude up to sqrt(2) can outweigh.
static Csr hermitian_lower(const Csr& a) {
  Csr l = lower_of(a);
  std::vector<double> off(l.m, 0.0);
  for (long long r = 0; r < l.m; ++r)
    for (IT p = l.indptr[r]; p < l.indptr[r + 1]; ++p)
      if ((long long)l.ind[p] != r) off[r] += std::fabs(host_mag(l.val[p])), off[l.ind[p]] += std::fabs(host_mag(l.val[p]));
  for (long long r = 0; r < l.m; ++r)
    for (IT p = l.indptr[r]; p < l.indptr[r + 1]; ++p)
      if ((long long)l.ind[p] == r) l.val[p] = hval((float)(1 + off[r]), 0.f);
  return l;
}

static void test_factor(long long m, int avg, int long_rows) {
  const Csr a = dominant(m, avg, long_rows), l = hermitian_lower(a);
  const long long nnz = (long long)a.ind.size();
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  VT* dv = dev(a.val);
  for (long long k : {1LL, 3LL, 20LL}) {
    std::vector<VT> b(m * k);
    for (auto& v : b) v = hval((float)rnd(-3, 3), (float)rnd(-3, 3));
    VT* db = dev(b);
    for (int f = 0; f < 4; ++f) {
      const bool lower = f & 1, unit = f & 2;
      std::vector<VT> x(m * k);
      CHECK(call_c("factor_trisolve", {a.indptr.data(), a.ind.data(), a.val.data(), b.data()}, {x.data()}, {m, nnz, k},
                   {lower, unit}) == MSP_OK, "C trisolve status");
      VT* dx = out_exact<VT>(m * k, 0);
      IT* ds = out_exact<IT>(m + 1, 0);
      K(factor, trisolve_sf)<<<factor_blocks(m), 256>>>(dp, di, dv, db, dx, ds, P64(m), P64(nnz), P64(k), lower, unit);
      CK(cudaDeviceSynchronize());
      const std::vector<IT> st = host(ds, m);
      CHECK(close_values(host(dx, m * k), x) && std::all_of(st.begin(), st.end(), [](IT v) { return v == 1; }),
            "trisolve m=%lld k=%lld lower=%d unit=%d", m, k, lower, unit);
      cudaFree(dx), cudaFree(ds);
    }
    cudaFree(db);
  }
  for (int which = 0; which < 2; ++which) {  // ilu0 on a, ic0 on its lower triangle
    const Csr& c = which ? l : a;
    const long long cn = (long long)c.ind.size();
    std::vector<VT> ref(cn);
    CHECK(call_c(which ? "factor_ic0" : "factor_ilu0", {c.indptr.data(), c.ind.data(), c.val.data()}, {ref.data()},
                 {m, cn}) == MSP_OK, "C %s status", which ? "ic0" : "ilu0");
    IT *cp = dev(c.indptr), *ci = dev(c.ind);
    VT *cv = dev(c.val), *dout = out_exact<VT>(cn, 0);
    IT* ds = out_exact<IT>(m + 1, 0);
    if (which) K(factor, ic0_sf)<<<factor_blocks(m), 256>>>(cp, ci, cv, dout, ds, P64(m), P64(cn));
    else K(factor, ilu0_sf)<<<factor_blocks(m), 256>>>(cp, ci, cv, dout, ds, P64(m), P64(cn));
    CK(cudaDeviceSynchronize());
    const std::vector<IT> st = host(ds, m);
    CHECK(close_values(host(dout, cn), ref) && std::all_of(st.begin(), st.end(), [](IT v) { return v == 1; }),
          "%s m=%lld nnz=%lld", which ? "ic0" : "ilu0", m, cn);
    cudaFree(cp), cudaFree(ci), cudaFree(cv), cudaFree(dout), cudaFree(ds);
  }
  // a zero pivot: the row's state says so (2), and rows after it still finish
  if (m >= 3) {
    Csr z = a;
    for (IT p = z.indptr[1]; p < z.indptr[2]; ++p)
      if ((long long)z.ind[p] == 1) z.val[p] = hval(0.f, 0.f);
    IT *zp = dev(z.indptr), *zi = dev(z.ind), *ds = out_exact<IT>(m + 1, 0);
    VT *zv = dev(z.val), *dout = out_exact<VT>(nnz, 0);
    K(factor, ilu0_sf)<<<factor_blocks(m), 256>>>(zp, zi, zv, dout, ds, P64(m), P64(nnz));
    CK(cudaDeviceSynchronize());
    const std::vector<IT> st = host(ds, m);
    CHECK(st[1] == 2 && std::none_of(st.begin(), st.end(), [](IT v) { return v == 0 || v == 3; }),
          "ilu0 zero pivot m=%lld: state %lld", m, (long long)st[1]);
    cudaFree(zp), cudaFree(zi), cudaFree(ds), cudaFree(zv), cudaFree(dout);
  }
  cudaFree(dp), cudaFree(di), cudaFree(dv);
}

// The fused CG kernels against the C kernels on a square matrix (C's partial sums and scalars are of
// the value type, the GPU's of the accumulator type: compared as doubles, to the type's tolerance).
static double re_d(float v) { return v; }
static double re_d(float2 v) { return v.x; }
static double re_d(__half v) { return __half2float(v); }
static double re_d(__nv_bfloat16 v) { return __bfloat162float(v); }
static double im_d(float2 v) { return v.y; }
template <class T> static double im_d(T) { return 0; }
static double type_tol() {
#if defined(MSP_VT_F16)
  return 4e-3;
#elif defined(MSP_VT_BF16)
  return 3e-2;
#else
  return 1e-5;
#endif
}
template <class A, class B> static bool near(const A& a, const B& b) {
  const double t = type_tol() * (1 + std::fabs(re_d(b)) + std::fabs(im_d(b)));
  return std::fabs(re_d(a) - re_d(b)) <= t && std::fabs(im_d(a) - im_d(b)) <= t;
}

static void test_cg(long long m, int avg, int long_rows) {
  if (sizeof(VT) == 2 && m > 5000) return;  // 16 bits: the long rows' dominant diagonal overflows to inf
  const Csr a = dominant(m, avg, long_rows);
  const long long n = m, nnz = (long long)a.ind.size();
  std::vector<VT> u(n), x(n), p(n), sv(n);
  for (long long i = 0; i < n; ++i)
    u[i] = hval((float)(rnd(1, 2) * (rnd(0, 1) ? 1 : -1)), (float)rnd(-2, 2)), x[i] = hval((float)rnd(-2, 2), 0.f),
    p[i] = hval((float)rnd(-2, 2), 0.f), sv[i] = hval((float)rnd(-2, 2), 0.f);
  IT *dp = dev(a.indptr), *di = dev(a.ind);
  VT *dv = dev(a.val), *du = dev(u), *dx = dev(x), *dpp = dev(p), *ds = dev(sv);
  for (int g : {1, 4, 32}) {
    const long long nb = std::max(1LL, std::min((n + 256 / g - 1) / (256 / g), 2048LL));
    std::vector<VT> w(n), part(2 * nb);
    CHECK(call_c("spmv_cg_matvec", {a.indptr.data(), a.ind.data(), a.val.data(), u.data()}, {w.data(), part.data()},
                 {n, nnz, nb}) == MSP_OK, "C cg_matvec status");
    VT* dw = dev_poison<VT>(n);
    AT* dpart = dev_poison<AT>(2 * nb);
    switch (g) {
      case 1: K(spmv, cg_matvec_g1)<<<nb, 256>>>(dp, di, dv, du, dw, dpart, P64(n), P64(nnz), P64(nb)); break;
      case 4: K(spmv, cg_matvec_g4)<<<nb, 256>>>(dp, di, dv, du, dw, dpart, P64(n), P64(nnz), P64(nb)); break;
      default: K(spmv, cg_matvec_g32)<<<nb, 256>>>(dp, di, dv, du, dw, dpart, P64(n), P64(nnz), P64(nb)); break;
    }
    CK(cudaDeviceSynchronize());
    const std::vector<VT> gw = host(dw, n);
    const std::vector<AT> gpart = host(dpart, 2 * nb);
    bool ok = equal_values(gw.data(), w.data(), n);
    for (long long b = 0; b < 2 * nb; ++b) ok &= near(gpart[b], part[b]);
    CHECK(ok, "cg_matvec m=%lld g=%d nb=%lld", m, g, nb);
    // the update from the same partial sums on both sides (small integers: exact in every type)
    std::vector<AT> gsum(2 * nb);
    for (long long b = 0; b < nb; ++b) {
      part[2 * b] = hval((float)(b % 7 + 1), 0.f), part[2 * b + 1] = hval((float)(b % 5 + 1), 0.f);
#if defined(MSP_VT_C64)
      gsum[2 * b] = make_float2((float)(b % 7 + 1), 0.f), gsum[2 * b + 1] = make_float2((float)(b % 5 + 1), 0.f);
#else
      gsum[2 * b] = (float)(b % 7 + 1), gsum[2 * b + 1] = (float)(b % 5 + 1);
#endif
    }
    CK(cudaMemcpy(dpart, gsum.data(), sizeof(AT) * 2 * nb, cudaMemcpyHostToDevice));
    for (int first = 0; first <= 1; ++first) {
      std::vector<VT> prev = {hval(8.f, 0.f), hval(0.5f, 0.f)}, x2(n), r2(n), p2(n), s2(n), scal(2);
      CHECK(call_c("spmv_cg_update", {part.data(), prev.data(), u.data(), w.data(), x.data(), p.data(), sv.data()},
                   {x2.data(), r2.data(), p2.data(), s2.data(), scal.data()}, {n, nb}, {first}) == MSP_OK,
            "C cg_update status");
      std::vector<AT> gprev = {AT{}, AT{}};
#if defined(MSP_VT_C64)
      gprev[0] = make_float2(8.f, 0.f), gprev[1] = make_float2(0.5f, 0.f);
#else
      gprev[0] = 8.f, gprev[1] = 0.5f;
#endif
      AT *dprev = dev(gprev), *dscal = dev_poison<AT>(2);
      VT *dx2 = dev_poison<VT>(n), *dr2 = dev_poison<VT>(n), *dp2 = dev_poison<VT>(n), *ds2 = dev_poison<VT>(n);
      const unsigned blocks = (unsigned)std::max(1LL, std::min((n + 255) / 256, 1024LL));
      K(spmv, cg_update)<<<blocks, 256>>>(dpart, dprev, du, dw, dx, dpp, ds, dx2, dr2, dp2, ds2, dscal, P64(n), P64(nb),
                                          (bool)first);
      CK(cudaDeviceSynchronize());
      const std::vector<AT> gs = host(dscal, 2);
      bool ok2 = near(gs[0], scal[0]) && near(gs[1], scal[1]);
      // the vectors scale with alpha (small sums of small integers): relative to their largest entry
      for (auto pr : {std::make_pair(dx2, &x2), std::make_pair(dr2, &r2), std::make_pair(dp2, &p2), std::make_pair(ds2, &s2)})
        ok2 &= close_values(host(pr.first, n), *pr.second);
      CHECK(ok2, "cg_update m=%lld g=%d first=%d", m, g, first);
      cudaFree(dprev), cudaFree(dscal), cudaFree(dx2), cudaFree(dr2), cudaFree(dp2), cudaFree(ds2);
    }
    cudaFree(dw), cudaFree(dpart);
  }
  cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(du), cudaFree(dx), cudaFree(dpp), cudaFree(ds);
}

// The fused CG product on corrupt structures (the update reads no structure).
static void corrupt_cg() {
  const Csr a = dominant(900, 5, 3);
  const long long n = a.m, nb = 30;
  std::vector<VT> u(n, hval(1.f, 0.f));
  for (const Variant& v : corrupt_variants(a)) {
    g_what = v.name;
    const long long nnz = (long long)v.a.ind.size();
    IT *dp = dev_exact(v.a.indptr), *di = dev_exact(v.a.ind);
    VT *dv = dev_exact(v.a.val), *du = dev_exact(u), *dw = out_exact<VT>(n, 0);
    AT* dpart = out_exact<AT>(2 * nb, 0);
    K(spmv, cg_matvec_g4)<<<nb, 256>>>(dp, di, dv, du, dw, dpart, P64(n), P64(nnz), P64(nb));
    launch_ok("spmv_cg_matvec");
    cudaFree(dp), cudaFree(di), cudaFree(dv), cudaFree(du), cudaFree(dw), cudaFree(dpart);
  }
}

// The factorizations on corrupt square structures: every launch ends (a malformed row still marks
// itself done, so no row waits forever) without an access out of bounds.
static void corrupt_factor() {
  const Csr a = dominant(900, 5, 3);
  const std::vector<Variant> vs = corrupt_variants(a), vl = corrupt_variants(lower_of(a));
  const long long m = a.m;
  auto run = [&](const Csr& c, int which) {
    const long long nnz = (long long)c.ind.size();
    IT *dp = dev_exact(c.indptr), *di = dev_exact(c.ind), *ds = out_exact<IT>(m + 1, 0);
    VT* dv = dev_exact(c.val);
    if (which < 2) {
      const long long k = which ? 20 : 1;
      std::vector<VT> b(m * k, hval(1.f, 0.f));
      VT *db = dev_exact(b), *dx = out_exact<VT>(m * k, 0);
      for (int f = 0; f < 2; ++f) {
        CK(cudaMemset(ds, 0, sizeof(IT) * (m + 1)));
        K(factor, trisolve_sf)<<<factor_blocks(m), 256>>>(dp, di, dv, db, dx, ds, P64(m), P64(nnz), P64(k), f, 0);
        launch_ok("factor_trisolve_sf");
      }
      cudaFree(db), cudaFree(dx);
    } else {
      VT* dout = out_exact<VT>(nnz, 0);
      if (which == 2) K(factor, ilu0_sf)<<<factor_blocks(m), 256>>>(dp, di, dv, dout, ds, P64(m), P64(nnz));
      else K(factor, ic0_sf)<<<factor_blocks(m), 256>>>(dp, di, dv, dout, ds, P64(m), P64(nnz));
      launch_ok(which == 2 ? "factor_ilu0_sf" : "factor_ic0_sf");
      cudaFree(dout);
    }
    cudaFree(dp), cudaFree(di), cudaFree(ds), cudaFree(dv);
  };
  for (int which = 0; which < 4; ++which)
    for (const Variant& v : which == 3 ? vl : vs) g_what = v.name, run(v.a, which);
}

// Every family on corrupt structures (the sanitizer runs check that nothing is accessed out of bounds).
static void test_corrupt() {
  rng = 0x9E3779B97F4A7C15ull;  // the same matrices in every mode
  const Csr base = make(1500, 700, 6, 3);  // long rows: the SpMV block path, several merge-path blocks
  const std::vector<Variant> vs = corrupt_variants(base);
  corrupt_spmv(vs);
  corrupt_spmm(vs);
  corrupt_convert(base, vs);
  corrupt_canonical(base);
  corrupt_select(base, vs);
  corrupt_kron(base);
  corrupt_spgemm();
  corrupt_ewise(base);
  corrupt_factor();
  corrupt_cg();
  g_what.clear();
}

// harness [all|small|corrupt]: every case (the default); the small cases and the corrupt structures
// (what tools/gpu_check.sh sanitize runs under compute-sanitizer, 10-100x slower); the corrupt
// structures only.
int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "all";
  const bool all = !strcmp(mode, "all"), small = !strcmp(mode, "small"), corrupt = !strcmp(mode, "corrupt");
  if (!all && !small && !corrupt) {
    printf("usage: %s [all|small|corrupt]\n", argv[0]);
    return 2;
  }
  const long long cases[][4] = {{1, 1, 1, 0},        {7, 5, 2, 0},       {100, 80, 3, 0},
                                {1000, 700, 16, 3},  {5000, 4000, 5, 4}, {20000, 3000, 40, 10},
                                {3, 100000, 1, 1},   {100000, 50, 1, 0}, {3000, 2000, 2, 40},
                                {600, 300000, 3, 2}};
  const int n_small = 4;  // up to {1000, 700, 16, 3}: long rows (the block paths); test_corrupt runs every spgemm tier
  if (!corrupt) {
    int c = 0;
    for (const auto& cs : cases) {
      if (small && c++ >= n_small) break;
      const Csr a = make(cs[0], cs[1], (int)cs[2], (int)cs[3]);
      test_spmv(a);
      test_spmv_d16(a);
      test_select(a);
      test_index(a);
      if (a.m * 3 < (1 << 20)) test_kron(a);
      test_spgemm(a);
      test_ewise(a);
    }
    const long long mm_cases[][4] = {{1, 1, 1, 0}, {7, 5, 2, 0}, {300, 200, 6, 2}, {2000, 1500, 12, 3}};
    c = 0;
    for (const auto& cs : mm_cases) {
      if (small && c++ >= 3) break;
      test_spmm(make(cs[0], cs[1], (int)cs[2], (int)cs[3]));
    }
    test_spmv_bad_offsets();
    const long long f_cases[][3] = {{1, 1, 0}, {2, 1, 0}, {60, 3, 0}, {700, 6, 3}, {5000, 4, 2}, {40000, 5, 4}};
    c = 0;
    for (const auto& cs : f_cases) {
      if (small && c++ >= 4) break;
      test_factor(cs[0], (int)cs[1], (int)cs[2]);
      test_cg(cs[0], (int)cs[1], (int)cs[2]);
    }
  }
  test_corrupt();
  if (!all) printf("harness mode: %s\n", mode);
  printf("harness " STR(VNAME) "_" INAME_S ": %d passed, %d failed\n", n_pass, n_fail);
  return n_fail != 0;
}
