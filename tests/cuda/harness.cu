// Standalone CUDA harness: every CUDA kernel of one (value, index) type pair against the C kernels.
// Build: nvcc -DMSP_VT_F32 -DMSP_IT_I32 -Icsrc/include -Icsrc/cuda tests/cuda/harness.cu libmsp.a
// Inputs are small integers, so CPU and GPU sums are exact and results must match bit for bit.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mlx_sparse/msp.h"
#define MSP_ALL_LANES  // instantiate every lane count of the SpMV kernel
#include "../../csrc/cuda/spmv.cu"
#include "../../csrc/cuda/convert.cu"
#include "../../csrc/cuda/canonical.cu"
#define MSP_SPMM_BOTH
#include "../../csrc/cuda/spmm.cu"

#if defined(MSP_IT_I32)
typedef int IT;
#define INAME_S "i32"
#define MSP_IBITS 32
#else
typedef long long IT;
#define INAME_S "i64"
#define MSP_IBITS 64
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

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

static int call_c(const char* op, msp_call* c) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s_%s", op, STR(VNAME), INAME_S);
  msp_kernel_fn fn = msp_find_kernel(name);
  if (!fn) {
    printf("no C kernel %s\n", name);
    exit(2);
  }
  return fn(c);
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
  MSP_CAT(MSP_KNAME(spmv, csr, VNAME, MSP_CAT(i, MSP_IBITS)), _mp)<<<(unsigned)std::min<long long>(nb, grid), MSP_MP_B>>>(
      dp, di, dv, dx, dco, d1, dc, lo32(m), hi32(m), lo32(n), hi32(n), lo32(nnz), hi32(nnz));
  MSP_CAT(MSP_KNAME(spmv, csr, VNAME, MSP_CAT(i, MSP_IBITS)), _mpfix)<<<blocks_for(m), 256>>>(
      dp, di, dv, dx, d1, dc, dy, lo32(m), hi32(m), lo32(nnz), hi32(nnz));
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
  msp_call c;
  memset(&c, 0, sizeof c);
  c.n_in = 4, c.n_out = 1;
  c.in[0] = a.indptr.data(), c.in[1] = a.ind.data(), c.in[2] = a.val.data(), c.in[3] = x->data();
  c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = nnz, c.in_len[3] = n;
  c.out[0] = yref.data(), c.out_len[0] = m, c.iarg[0] = m, c.iarg[1] = n;
  CHECK(call_c("spmv_csr", &c) == MSP_OK, "C spmv status");
  return yref;
}

// Our lanes kernel with g lanes per row, as mlx_sparse launches it: columns from the indices, or
// from 16-bit offsets dd when given.
static void launch_lanes(int g, const IT* dp, const IT* di, const VT* dv, const VT* dx, const short* dd, VT* dy,
                         long long m, long long n, long long nnz) {
  const unsigned blocks = blocks_for((m + 256 / g - 1) / (256 / g) * 256);
#define LAUNCH(G)                                                                                       \
  if (dd)                                                                                               \
    MSP_CAT(MSP_KNAME(spmv, csr, VNAME, MSP_CAT(i, MSP_IBITS)), _d16g##G)<<<blocks, 256>>>(            \
        dp, di, dv, dx, dd, dy, lo32(m), hi32(m), lo32(n), hi32(n), lo32(nnz), hi32(nnz));             \
  else                                                                                                  \
    MSP_CAT(MSP_KNAME(spmv, csr, VNAME, MSP_CAT(i, MSP_IBITS)), _g##G)<<<blocks, 256>>>(               \
        dp, di, dv, dx, dy, lo32(m), hi32(m), lo32(n), hi32(n), lo32(nnz), hi32(nnz))
  switch (g) {
    case 1: LAUNCH(1); break;
    case 2: LAUNCH(2); break;
    case 4: LAUNCH(4); break;
    case 8: LAUNCH(8); break;
    case 16: LAUNCH(16); break;
    default: LAUNCH(32); break;
  }
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
}

static void test_spmv(const Csr& a) {
  long long m = a.m, n = a.n, nnz = (long long)a.ind.size();
  std::vector<VT> x;
  const std::vector<VT> yref = c_spmv(a, &x);
  msp_call c;
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
  std::vector<VT> dref(m * n);
  memset(&c, 0, sizeof c);
  c.n_in = 3, c.n_out = 1;
  c.in[0] = a.indptr.data(), c.in[1] = a.ind.data(), c.in[2] = a.val.data();
  c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = nnz;
  c.out[0] = dref.data(), c.out_len[0] = m * n, c.iarg[0] = m, c.iarg[1] = n;
  if (m * n <= (1 << 24)) {
    CHECK(call_c("convert_csr_todense", &c) == MSP_OK, "C todense status");
    VT* dd = nullptr;
    CK(cudaMalloc(&dd, sizeof(VT) * (m * n + 1)));
    CK(cudaMemset(dd, 0, sizeof(VT) * (m * n + 1)));  // MLX's init_value = 0
    MSP_KNAME(convert, csr_todense, VNAME, MSP_CAT(i, MSP_IBITS))<<<blocks_for(m * 32), 256>>>(
        dp, di, dv, dd, lo32(m), hi32(m), lo32(n), hi32(n), lo32(nnz), hi32(nnz));
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    auto d = host(dd, m * n);
    CHECK(same(d.data(), dref.data(), m * n), "todense m=%lld n=%lld", m, n);
    CK(cudaFree(dd));
  }
  // canonical: C sort gives row-sorted entries; GPU sums runs and builds the row pointer
  std::vector<IT> sind(nnz), uptr(m + 1);
  std::vector<VT> sval(nnz);
  memset(&c, 0, sizeof c);
  c.n_in = 3, c.n_out = 3;
  c.in[0] = a.indptr.data(), c.in[1] = a.ind.data(), c.in[2] = a.val.data();
  c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = nnz;
  c.out[0] = sind.data(), c.out[1] = sval.data(), c.out[2] = uptr.data();
  c.out_len[0] = c.out_len[1] = nnz, c.out_len[2] = m + 1, c.iarg[0] = m, c.iarg[1] = n;
  CHECK(call_c("canonical_csr_sort", &c) == MSP_OK, "C sort status");
  long long nnz2 = (long long)uptr[m];
  std::vector<IT> cind(nnz2), rows(nnz), pos(nnz);
  std::vector<VT> cval(nnz2);
  memset(&c, 0, sizeof c);
  c.n_in = 4, c.n_out = 2;
  c.in[0] = a.indptr.data(), c.in[1] = sind.data(), c.in[2] = sval.data(), c.in[3] = uptr.data();
  c.in_len[0] = c.in_len[3] = m + 1, c.in_len[1] = c.in_len[2] = nnz;
  c.out[0] = cind.data(), c.out[1] = cval.data(), c.out_len[0] = c.out_len[1] = nnz2;
  c.iarg[0] = m, c.iarg[1] = n;
  CHECK(call_c("canonical_csr_sumdup", &c) == MSP_OK, "C sumdup status");
  long long run = -1;
  for (long long r = 0; r < m; ++r)
    for (long long j = (long long)a.indptr[r]; j < (long long)a.indptr[r + 1]; ++j) {
      rows[j] = (IT)r;
      if (j == (long long)a.indptr[r] || sind[j] != sind[j - 1]) run++;
      pos[j] = (IT)run;
    }
  IT *drows = dev(rows), *dcols = dev(sind), *dpos = dev(pos);
  VT* dsv = dev(sval);
  IT *oi = dev_poison<IT>(nnz2), *orow = dev_poison<IT>(nnz2);
  VT* ov = dev_poison<VT>(nnz2);
  MSP_KNAME(canonical, sumdup_sorted, VNAME, MSP_CAT(i, MSP_IBITS))<<<blocks_for(nnz), 256>>>(
      drows, dcols, dsv, dpos, oi, ov, orow, lo32(nnz), hi32(nnz), lo32(nnz2), hi32(nnz2));
  CK(cudaGetLastError());
  IT* optr = dev_poison<IT>(m + 1);
  MSP_KNAME(convert, indptr_from_rows, VNAME, MSP_CAT(i, MSP_IBITS))<<<blocks_for(nnz2 + 1), 256>>>(
      orow, optr, lo32(m), hi32(m), lo32(nnz2), hi32(nnz2));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  IT* erows = dev_poison<IT>(nnz);
  MSP_KNAME(convert, expand_rows, VNAME, MSP_CAT(i, MSP_IBITS))<<<blocks_for(m * 32), 256>>>(
      dp, erows, lo32(m), hi32(m), lo32(nnz), hi32(nnz));
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CHECK(host(erows, nnz) == rows, "expand_rows m=%lld nnz=%lld", m, nnz);
  cudaFree(erows);
  auto gi = host(oi, nnz2);
  auto gv = host(ov, nnz2);
  auto gp = host(optr, m + 1);
  CHECK(memcmp(gi.data(), cind.data(), nnz2 * sizeof(IT)) == 0 && same(gv.data(), cval.data(), nnz2) &&
            memcmp(gp.data(), uptr.data(), (m + 1) * sizeof(IT)) == 0,
        "canonical m=%lld n=%lld nnz=%lld -> %lld", m, n, nnz, nnz2);
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
        msp_call c;
        memset(&c, 0, sizeof c);
        c.n_in = 4, c.n_out = 1;
        c.in[0] = a.indptr.data(), c.in[1] = a.ind.data(), c.in[2] = a.val.data(), c.in[3] = x.data();
        c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = nnz, c.in_len[3] = in_rows * k;
        c.out[0] = yref.data(), c.out_len[0] = out_rows * k;
        c.iarg[0] = m, c.iarg[1] = n, c.iarg[2] = k, c.iarg[3] = conj;
        CHECK(call_c(trans ? "spmm_csr_t" : "spmm_csr", &c) == MSP_OK, "C spmm status");
        VT* dx = dev(x);
        if (!trans) {
          for (int mis = 0; mis < 2; ++mis) {  // aligned X (16-byte loads when k allows) and misaligned X
            VT* dxm = nullptr;
            CK(cudaMalloc(&dxm, sizeof(VT) * (in_rows * k + 1)));
            CK(cudaMemcpy(dxm + mis, x.data(), sizeof(VT) * in_rows * k, cudaMemcpyHostToDevice));
            VT* dy = dev_poison<VT>(out_rows * k);
            // misaligned X also runs on one block: every row through the grid-stride loop
            MSP_KNAME(spmm, csr, VNAME, MSP_CAT(i, MSP_IBITS))<<<mis ? 1u : blocks_for(m * 32), 256>>>(
                dp, di, dv, dxm + mis, dy, lo32(m), hi32(m), lo32(n), hi32(n), lo32(k), hi32(k), lo32(nnz), hi32(nnz), conj);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            auto y = host(dy, out_rows * k);
            CHECK(same(y.data(), yref.data(), out_rows * k), "spmm misaligned=%d k=%lld conj=%d m=%lld n=%lld", mis, k, conj, m, n);
            CK(cudaFree(dy));
            CK(cudaFree(dxm));
          }
        } else {
          AT* dy = nullptr;
          CK(cudaMalloc(&dy, sizeof(AT) * (out_rows * k + 1)));
          CK(cudaMemset(dy, 0, sizeof(AT) * (out_rows * k + 1)));  // MLX's init_value = 0
          // conj also runs on one block (every row through the grid-stride loop) with misaligned X
          VT* dxm = nullptr;
          CK(cudaMalloc(&dxm, sizeof(VT) * (in_rows * k + 1)));
          CK(cudaMemcpy(dxm + conj, x.data(), sizeof(VT) * in_rows * k, cudaMemcpyHostToDevice));
          MSP_KNAME(spmm, csr_t, VNAME, MSP_CAT(i, MSP_IBITS))<<<conj ? 1u : blocks_for(m * 32), 256>>>(
              dp, di, dv, dxm + conj, dy, lo32(m), hi32(m), lo32(n), hi32(n), lo32(k), hi32(k), lo32(nnz), hi32(nnz), conj);
          CK(cudaGetLastError());
          CK(cudaDeviceSynchronize());
          auto y = host(dy, out_rows * k);
          std::vector<VT> yr(out_rows * k);
          for (long long q = 0; q < out_rows * k; ++q) yr[q] = round_acc(y[q]);
          CHECK(same(yr.data(), yref.data(), out_rows * k), "spmm_t k=%lld conj=%d m=%lld n=%lld", k, conj, m, n);
          CK(cudaFree(dy));
          CK(cudaFree(dxm));
        }
        CK(cudaFree(dx));
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

int main() {
  const long long cases[][4] = {{1, 1, 1, 0},        {7, 5, 2, 0},       {100, 80, 3, 0},
                                {1000, 700, 16, 3},  {5000, 4000, 5, 4}, {20000, 3000, 40, 10},
                                {3, 100000, 1, 1},   {100000, 50, 1, 0}, {3000, 2000, 2, 40},
                                {600, 300000, 3, 2}};
  for (const auto& cs : cases) {
    const Csr a = make(cs[0], cs[1], (int)cs[2], (int)cs[3]);
    test_spmv(a);
    test_spmv_d16(a);
  }
  const long long mm_cases[][4] = {{1, 1, 1, 0}, {7, 5, 2, 0}, {300, 200, 6, 2}, {2000, 1500, 12, 3}};
  for (const auto& cs : mm_cases) test_spmm(make(cs[0], cs[1], (int)cs[2], (int)cs[3]));
  test_spmv_bad_offsets();
  printf("harness " STR(VNAME) "_" INAME_S ": %d passed, %d failed\n", n_pass, n_fail);
  return n_fail != 0;
}
