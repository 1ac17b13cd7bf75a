// Kernel-level harness for bench/spmv.py: cuSPARSE generic SpMV (every CSR algorithm), our SpMV
// kernels launched directly (same events, no framework around them) and D2D copy bandwidth.
// Usage: cusparse_spmv FILE  (FILE: int64 m, n, nnz; int32 indptr[m+1], indices[nnz]; f32 data[nnz],
// x[n], yref[m]).  Prints one JSON line per measurement.  Usage: cusparse_spmv --copy BYTES
#include <cuda_runtime.h>
#include <cusparse.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define MSP_VT_F32
#define MSP_IT_I32
#define MSP_ALL_KERNELS   // every kernel of the families included
#define MSP_HOST_HELPERS  // and the merge-path plan
#include "../csrc/cuda/spmv.cu"
#include "../csrc/cuda/spmm.cu"

#include "cuda_check.h"  // CK
#define CS(x)                                                                             \
  do {                                                                                    \
    cusparseStatus_t s = (x);                                                             \
    if (s != CUSPARSE_STATUS_SUCCESS) {                                                   \
      fprintf(stderr, "cuSPARSE %d at %d\n", (int)s, __LINE__);                           \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

template <class F> static float median_us(F f, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < 5; ++i) f();
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    CK(cudaEventRecord(a));
    f();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1000.f);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--copy") {
    size_t bytes = strtoull(argv[2], nullptr, 10);
    void *s, *d;
    CK(cudaMalloc(&s, bytes));
    CK(cudaMalloc(&d, bytes));
    CK(cudaMemset(s, 1, bytes));
    float us = median_us([&] { CK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice)); }, 20);
    printf("{\"copy_GBps\": %.1f}\n", 2.0 * bytes / (us * 1e3));
    return 0;
  }
  const long long kcols = (argc == 4 && std::string(argv[2]) == "--spmm") ? atoll(argv[3]) : 0;
  if (argc != 2 && kcols <= 0) {
    fprintf(stderr, "usage: %s FILE [--spmm K] | --copy BYTES\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 2;
  long long hdr[3];
  if (fread(hdr, sizeof(long long), 3, f) != 3) return 2;
  long long m = hdr[0], n = hdr[1], nnz = hdr[2];
  std::vector<int> ip(m + 1), ind(nnz);
  std::vector<float> val(nnz), x(n), yref(m), y(m);
  size_t ok = fread(ip.data(), 4, m + 1, f) + fread(ind.data(), 4, nnz, f) + fread(val.data(), 4, nnz, f) +
              fread(x.data(), 4, n, f) + fread(yref.data(), 4, m, f);
  fclose(f);
  if (ok != (size_t)(m + 1 + 2 * nnz + n + m)) return 2;
  int *dip, *dind;
  float *dval, *dx, *dy;
  CK(cudaMalloc(&dip, 4 * (m + 1)));
  CK(cudaMalloc(&dind, 4 * nnz));
  CK(cudaMalloc(&dval, 4 * nnz));
  CK(cudaMalloc(&dx, 4 * n));
  CK(cudaMalloc(&dy, 4 * m));
  CK(cudaMemcpy(dip, ip.data(), 4 * (m + 1), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dind, ind.data(), 4 * nnz, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dval, val.data(), 4 * nnz, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dx, x.data(), 4 * n, cudaMemcpyHostToDevice));
  cusparseHandle_t h;
  CS(cusparseCreate(&h));
  if (kcols > 0) {  // Y = A X, X (n x k) and Y (m x k) row-major: cuSPARSE SpMM vs our kernel
    const long long k = kcols;
    float *dX, *dY;
    CK(cudaMalloc(&dX, 4 * n * k));
    CK(cudaMalloc(&dY, 4 * m * k));
    std::vector<float> hx(n * k);
    for (long long i = 0; i < n * k; ++i) hx[i] = (float)((i * 7) % 5) - 2.f;
    CK(cudaMemcpy(dX, hx.data(), 4 * n * k, cudaMemcpyHostToDevice));
    cusparseSpMatDescr_t Am;
    cusparseDnMatDescr_t Xm, Ym;
    CS(cusparseCreateCsr(&Am, m, n, nnz, dip, dind, dval, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                         CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
    CS(cusparseCreateDnMat(&Xm, n, k, k, dX, CUDA_R_32F, CUSPARSE_ORDER_ROW));
    CS(cusparseCreateDnMat(&Ym, m, k, k, dY, CUDA_R_32F, CUSPARSE_ORDER_ROW));
    float alpha = 1.f, beta = 0.f;
    std::vector<float> yc(m * k), yo(m * k);
    struct {
      cusparseSpMMAlg_t alg;
      const char* name;
    } malgs[] = {{CUSPARSE_SPMM_ALG_DEFAULT, "spmm_default"}, {CUSPARSE_SPMM_CSR_ALG1, "spmm_csr_alg1"},
                 {CUSPARSE_SPMM_CSR_ALG2, "spmm_csr_alg2"}, {CUSPARSE_SPMM_CSR_ALG3, "spmm_csr_alg3"}};
    for (auto& a : malgs) {
      size_t ws = 0;
      void* buf = nullptr;
      if (cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, Am,
                                  Xm, &beta, Ym, CUDA_R_32F, a.alg, &ws) != CUSPARSE_STATUS_SUCCESS)
        continue;
      if (ws) CK(cudaMalloc(&buf, ws));
      if (cusparseSpMM_preprocess(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, Am,
                                  Xm, &beta, Ym, CUDA_R_32F, a.alg, buf) != CUSPARSE_STATUS_SUCCESS) {
        if (buf) cudaFree(buf);
        continue;
      }
      float us = median_us([&] {
        cusparseSpMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, Am, Xm, &beta, Ym,
                     CUDA_R_32F, a.alg, buf);
      }, 20);
      CK(cudaMemcpy(yc.data(), dY, 4 * m * k, cudaMemcpyDeviceToHost));
      printf("{\"alg\": \"%s\", \"us\": %.2f, \"gflops\": %.0f}\n", a.name, us, 2.0 * nnz * k / (us * 1e3));
      if (buf) CK(cudaFree(buf));
    }
    int lo = (int)(m & 0xffffffff), hi = (int)(m >> 32), nlo = (int)(n & 0xffffffff), nhi = (int)(n >> 32);
    int klo = (int)(k & 0xffffffff), khi = (int)(k >> 32), zlo = (int)(nnz & 0xffffffff), zhi = (int)(nnz >> 32);
    int per_warp = 1;  // rows per warp, as mlx_sparse launches it (16-byte loads of X: 4 floats per lane)
    while (per_warp < 32 && (32 / per_warp) * 4 >= 2 * k) per_warp *= 2;
    const int lanes = 32 / per_warp;  // the lanes-per-row param the dispatcher passes
    long long blocks = (m * 32 / per_warp + 255) / 256;
    if (blocks > (1 << 20)) blocks = 1 << 20;
    float us = median_us([&] {
      mspcu_spmm_csr_f32_i32<<<(unsigned)blocks, 256>>>(dip, dind, dval, dX, dY, lo, hi, nlo, nhi, klo, khi, zlo, zhi, false,
                                                        false, lanes);
    }, 20);
    CK(cudaGetLastError());
    CK(cudaMemcpy(yo.data(), dY, 4 * m * k, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (long long i = 0; i < m * k; ++i) num += (double)(yo[i] - yc[i]) * (yo[i] - yc[i]), den += (double)yc[i] * yc[i];
    printf("{\"alg\": \"ours_spmm\", \"us\": %.2f, \"gflops\": %.0f, \"relerr_vs_cusparse\": %.3g}\n", us,
           2.0 * nnz * k / (us * 1e3), std::sqrt(num / (den + 1e-300)));
    // Z = A^T W, W (m x k) and Z (n x k) row-major: cuSPARSE's transposed SpMM vs ours (atomics into
    // a zero-filled accumulator; the fill is timed with it, as MLX's output initialization is)
    float *dW, *dZ;
    CK(cudaMalloc(&dW, 4 * m * k));
    CK(cudaMalloc(&dZ, 4 * n * k));
    CK(cudaMemcpy(dW, hx.data(), 4 * std::min(m, n) * k, cudaMemcpyHostToDevice));
    cusparseDnMatDescr_t Wm, Zm;
    CS(cusparseCreateDnMat(&Wm, m, k, k, dW, CUDA_R_32F, CUSPARSE_ORDER_ROW));
    CS(cusparseCreateDnMat(&Zm, n, k, k, dZ, CUDA_R_32F, CUSPARSE_ORDER_ROW));
    std::vector<float> zc(n * k), zo(n * k);
    bool have_ref = false;
    for (auto& a : malgs) {
      size_t ws = 0;
      void* buf = nullptr;
      if (cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, Am, Wm,
                                  &beta, Zm, CUDA_R_32F, a.alg, &ws) != CUSPARSE_STATUS_SUCCESS)
        continue;
      if (ws) CK(cudaMalloc(&buf, ws));
      if (cusparseSpMM(h, CUSPARSE_OPERATION_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, Am, Wm, &beta, Zm,
                       CUDA_R_32F, a.alg, buf) != CUSPARSE_STATUS_SUCCESS) {
        if (buf) cudaFree(buf);
        continue;
      }
      float ust = median_us([&] {
        cusparseSpMM(h, CUSPARSE_OPERATION_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, Am, Wm, &beta, Zm,
                     CUDA_R_32F, a.alg, buf);
      }, 20);
      if (!have_ref) {
        CK(cudaMemcpy(zc.data(), dZ, 4 * n * k, cudaMemcpyDeviceToHost));
        have_ref = true;
      }
      printf("{\"alg\": \"t_%s\", \"us\": %.2f, \"gflops\": %.0f}\n", a.name, ust, 2.0 * nnz * k / (ust * 1e3));
      if (buf) CK(cudaFree(buf));
    }
    long long tblocks = (m * 32 / per_warp + 255) / 256;
    if (tblocks > (1 << 20)) tblocks = 1 << 20;
    float ust = median_us([&] {
      CK(cudaMemsetAsync(dZ, 0, 4 * n * k));
      mspcu_spmm_csr_t_f32_i32<<<(unsigned)tblocks, 256>>>(dip, dind, dval, dW, dZ, lo, hi, nlo, nhi, klo, khi, zlo, zhi,
                                                           false, false, lanes);
    }, 20);
    CK(cudaGetLastError());
    CK(cudaMemcpy(zo.data(), dZ, 4 * n * k, cudaMemcpyDeviceToHost));
    num = 0, den = 0;
    for (long long i = 0; i < n * k; ++i) num += (double)(zo[i] - zc[i]) * (zo[i] - zc[i]), den += (double)zc[i] * zc[i];
    printf("{\"alg\": \"ours_spmm_t\", \"us\": %.2f, \"gflops\": %.0f, \"relerr_vs_cusparse\": %.3g}\n", ust,
           2.0 * nnz * k / (ust * 1e3), have_ref ? std::sqrt(num / (den + 1e-300)) : -1.0);
    return 0;
  }
  cusparseSpMatDescr_t A;
  cusparseDnVecDescr_t X, Y;
  CS(cusparseCreateCsr(&A, m, n, nnz, dip, dind, dval, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                       CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  CS(cusparseCreateDnVec(&X, n, dx, CUDA_R_32F));
  CS(cusparseCreateDnVec(&Y, m, dy, CUDA_R_32F));
  float alpha = 1.f, beta = 0.f;
  struct {
    cusparseSpMVAlg_t alg;
    const char* name;
  } algs[] = {{CUSPARSE_SPMV_ALG_DEFAULT, "default"}, {CUSPARSE_SPMV_CSR_ALG1, "csr_alg1"},
              {CUSPARSE_SPMV_CSR_ALG2, "csr_alg2"}};
  for (auto& a : algs) {
    size_t ws = 0;
    void* buf = nullptr;
    CS(cusparseSpMV_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta, Y, CUDA_R_32F, a.alg, &ws));
    if (ws) CK(cudaMalloc(&buf, ws));
#if CUSPARSE_VERSION >= 12400
    CS(cusparseSpMV_preprocess(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta, Y, CUDA_R_32F, a.alg, buf));
#endif
    float us = median_us(
        [&] { CS(cusparseSpMV(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X, &beta, Y, CUDA_R_32F, a.alg, buf)); },
        50);
    CK(cudaMemcpy(y.data(), dy, 4 * m, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (long long i = 0; i < m; ++i) {
      num += (double)(y[i] - yref[i]) * (y[i] - yref[i]);
      den += (double)yref[i] * yref[i];
    }
    printf("{\"alg\": \"%s\", \"us\": %.2f, \"relerr\": %.3g}\n", a.name, us, std::sqrt(num / (den + 1e-300)));
    if (buf) CK(cudaFree(buf));
  }
  // our kernels, each lane count, launched as mlx_sparse launches them (grid-stride, 256 threads)
  auto report = [&](const char* name, float us) {
    CK(cudaMemcpy(y.data(), dy, 4 * m, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (long long i = 0; i < m; ++i) {
      num += (double)(y[i] - yref[i]) * (y[i] - yref[i]);
      den += (double)yref[i] * yref[i];
    }
    printf("{\"alg\": \"%s\", \"us\": %.2f, \"relerr\": %.3g}\n", name, us, std::sqrt(num / (den + 1e-300)));
  };
  int lo = (int)(m & 0xffffffff), hi = (int)(m >> 32), nlo = (int)(n & 0xffffffff), nhi = (int)(n >> 32);
  int zlo = (int)(nnz & 0xffffffff), zhi = (int)(nnz >> 32);
#define OURS(G)                                                                                   \
  {                                                                                               \
    long long blocks = (m + 256 / G - 1) / (256 / G);                                             \
    if (blocks > (1 << 20)) blocks = 1 << 20;                                                     \
    float us = median_us([&] { mspcu_spmv_csr_g##G##_f32_i32<<<(unsigned)blocks, 256>>>(dip, dind, dval, dx, dy, lo, hi, nlo, nhi, zlo, zhi); }, 50); \
    CK(cudaGetLastError());                                                                       \
    report("ours_g" #G, us);                                                                      \
  }
  OURS(1) OURS(2) OURS(4) OURS(8) OURS(16) OURS(32)
  {  // 16-bit column offsets (column - row), when every entry lies within 32767 of the diagonal
    std::vector<short> d16(nnz);
    bool banded = true;
    for (long long r = 0; r < m && banded; ++r)
      for (long long j = ip[r]; j < ip[r + 1]; ++j) {
        const long long off = (long long)ind[j] - r;
        banded &= off >= -32768 && off <= 32767;
        d16[j] = (short)off;
      }
    if (banded) {
      short* dd;
      CK(cudaMalloc(&dd, 2 * (nnz + 1)));
      CK(cudaMemcpy(dd, d16.data(), 2 * nnz, cudaMemcpyHostToDevice));
#define OURS16(G)                                                                                 \
  {                                                                                               \
    long long blocks = (m + 256 / G - 1) / (256 / G);                                             \
    if (blocks > (1 << 20)) blocks = 1 << 20;                                                     \
    float us = median_us([&] { mspcu_spmv_csr_d16_g##G##_f32_i32<<<(unsigned)blocks, 256>>>(dip, dind, dval, dx, dd, dy, lo, hi, nlo, nhi, zlo, zhi); }, 50); \
    CK(cudaGetLastError());                                                                       \
    report("ours_d16g" #G, us);                                                                   \
  }
      OURS16(1) OURS16(2) OURS16(4) OURS16(8) OURS16(16) OURS16(32)
      CK(cudaFree(dd));
    }
  }
  {  // the merge path over the whole matrix, as mlx_sparse launches it
    const long long nb = (m + nnz + MSP_MP_T - 1) / MSP_MP_T;
    float *dy1, *dcarry;
    int* dco;
    CK(cudaMalloc(&dy1, 4 * (m + 1)));
    CK(cudaMalloc(&dcarry, 4 * (nb + 1)));
    CK(cudaMalloc(&dco, 4 * (nb + 1)));
    const std::vector<int> co = msp_merge_coords<int>(ip.data(), m, nnz);  // as mlx_sparse plans it
    CK(cudaMemcpy(dco, co.data(), 4 * (nb + 1), cudaMemcpyHostToDevice));
    const unsigned g1 = (unsigned)std::min(nb, 1LL << 20), g2 = (unsigned)std::min((m + 255) / 256, 1LL << 20);
    const int blo = (int)(nb & 0xffffffff), bhi = (int)(nb >> 32);
    float us1 = median_us([&] {
      mspcu_spmv_csr_mp_f32_i32<<<g1, MSP_MP_B>>>(dip, dind, dval, dx, dco, dy1, dcarry, lo, hi, nlo, nhi, zlo, zhi, blo, bhi);
    }, 50);
    float us = median_us([&] {
      mspcu_spmv_csr_mp_f32_i32<<<g1, MSP_MP_B>>>(dip, dind, dval, dx, dco, dy1, dcarry, lo, hi, nlo, nhi, zlo, zhi, blo, bhi);
      mspcu_spmv_csr_mpfix_f32_i32<<<g2, 256>>>(dip, dind, dval, dx, dy1, dcarry, dy, lo, hi, nlo, nhi, zlo, zhi, blo, bhi);
    }, 50);
    CK(cudaGetLastError());
    report("ours_mp", us);
    printf("{\"alg\": \"ours_mp_node1\", \"us\": %.2f}\n", us1);
    CK(cudaFree(dy1));
    CK(cudaFree(dcarry));
    CK(cudaFree(dco));
  }
  return 0;
}
