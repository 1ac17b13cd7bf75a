// NVIDIA cuDSS called directly, for bench/direct.py --gpu: the peer our GPU direct solver must stay within 10% of.
// Usage: cudss_direct FILE SPD [REPS]  (FILE: int64 n, nnz; int32 indptr[n+1], indices[nnz]; f32 data; the CSR of
// A; SPD 1: Cholesky on the upper triangle, 0: LU). Prints one JSON line with medians of REPS runs between CUDA
// events, after a warm-up: analysis_us (reordering + symbolic), factor_us (numeric factorization with the
// analysis kept), solve_us (one right-hand side), and the relative residual of the solve; and the same phases
// on the host's clock as a C user waits for them (*_wall_us: from the call to the stream's completion), the
// factorization's then including the error check a careful user makes (cudssDataGet of INFO and NPIVOTS).
#include <cuda_runtime.h>
#include <cudss.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda_check.h"  // CK
#define CD(x)                                                   \
  do {                                                          \
    cudssStatus_t s = (x);                                      \
    if (s != CUDSS_STATUS_SUCCESS) {                            \
      fprintf(stderr, "cuDSS %d at line %d\n", (int)s, __LINE__); \
      exit(1);                                                  \
    }                                                           \
  } while (0)

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// an integer of cuDSS's data (int32 or int64 as the parameter is)
static int64_t data_int(cudssHandle_t h, cudssData_t d, cudssDataParam_t p) {
  int32_t v32 = 0;
  int64_t v64 = 0;
  size_t got = 0;
  if (cudssDataGet(h, d, p, &v32, sizeof v32, &got) == CUDSS_STATUS_SUCCESS) return v32;
  CD(cudssDataGet(h, d, p, &v64, sizeof v64, &got));
  return v64;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FILE SPD [REPS]\n", argv[0]);
    return 2;
  }
  const int spd = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 5;
  FILE* f = fopen(argv[1], "rb");
  int64_t hdr[2];
  if (!f || fread(hdr, sizeof(int64_t), 2, f) != 2) return 2;
  const int64_t n = hdr[0], nnz = hdr[1];
  std::vector<int> ptr(n + 1), ind(nnz);
  std::vector<float> val(nnz);
  if (fread(ptr.data(), 4, n + 1, f) != size_t(n + 1) || fread(ind.data(), 4, nnz, f) != size_t(nnz) ||
      fread(val.data(), 4, nnz, f) != size_t(nnz))
    return 2;
  fclose(f);
  int *dptr, *dind;
  float *dval, *db, *dx;
  CK(cudaMalloc(&dptr, 4 * (n + 1)));
  CK(cudaMalloc(&dind, 4 * nnz));
  CK(cudaMalloc(&dval, 4 * nnz));
  CK(cudaMalloc(&db, 4 * n));
  CK(cudaMalloc(&dx, 4 * n));
  CK(cudaMemcpy(dptr, ptr.data(), 4 * (n + 1), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dind, ind.data(), 4 * nnz, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dval, val.data(), 4 * nnz, cudaMemcpyHostToDevice));
  std::vector<float> ones(n, 1.0f);
  CK(cudaMemcpy(db, ones.data(), 4 * n, cudaMemcpyHostToDevice));
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  cudssHandle_t h;
  CD(cudssCreate(&h));
  CD(cudssSetStream(h, st));
  cudssConfig_t cfg;
  CD(cudssConfigCreate(&cfg));
  cudssMatrix_t A, X, B;
  CD(cudssMatrixCreateCsr(&A, n, n, nnz, dptr, nullptr, dind, dval, CUDA_R_32I, CUDA_R_32I, CUDA_R_32F,
                          spd ? CUDSS_MTYPE_SPD : CUDSS_MTYPE_GENERAL, spd ? CUDSS_MVIEW_UPPER : CUDSS_MVIEW_FULL,
                          CUDSS_BASE_ZERO));
  CD(cudssMatrixCreateDn(&X, n, 1, n, dx, CUDA_R_32F, CUDSS_LAYOUT_COL_MAJOR));
  CD(cudssMatrixCreateDn(&B, n, 1, n, db, CUDA_R_32F, CUDSS_LAYOUT_COL_MAJOR));
  double wall = 0;  // the last timed call's host time, from the call to the stream's completion (us)
  auto timed = [&](auto&& fn) {
    auto w0 = std::chrono::steady_clock::now();
    CK(cudaEventRecord(e0, st));
    fn();
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    wall = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - w0).count();
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    return 1e3 * ms;
  };
  std::vector<double> ta, tf, ts, wa, wf, ws;
  for (int r = 0; r <= reps; ++r) {  // run 0 warms up (cuDSS's kernels load on first use)
    cudssData_t d;
    CD(cudssDataCreate(h, &d));
    double a = timed([&] { CD(cudssExecute(h, CUDSS_PHASE_ANALYSIS, cfg, d, A, X, B)); }), a_w = wall;
    double fa = timed([&] { CD(cudssExecute(h, CUDSS_PHASE_FACTORIZATION, cfg, d, A, X, B)); }), fa_w = wall;
    auto w0 = std::chrono::steady_clock::now();  // the error indicator and the count of perturbed pivots
    int64_t info = data_int(h, d, CUDSS_DATA_INFO), npiv = data_int(h, d, CUDSS_DATA_NPIVOTS);
    fa_w += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - w0).count();
    if (info != 0 || npiv != 0) fprintf(stderr, "cuDSS info %ld, %ld perturbed pivots\n", (long)info, (long)npiv);
    double so = timed([&] { CD(cudssExecute(h, CUDSS_PHASE_SOLVE, cfg, d, A, X, B)); }), so_w = wall;
    if (r > 0) ta.push_back(a), tf.push_back(fa), ts.push_back(so), wa.push_back(a_w), wf.push_back(fa_w),
        ws.push_back(so_w);
    CD(cudssDataDestroy(h, d));
  }
  // the residual of the last solve, on the host
  std::vector<float> x(n);
  CK(cudaMemcpy(x.data(), dx, 4 * n, cudaMemcpyDeviceToHost));
  double rn = 0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int p = ptr[i]; p < ptr[i + 1]; ++p) s += double(val[p]) * x[ind[p]];
    rn += (1 - s) * (1 - s);
  }
  printf("{\"analysis_us\": %.1f, \"factor_us\": %.1f, \"solve_us\": %.1f, \"analysis_wall_us\": %.1f, "
         "\"factor_wall_us\": %.1f, \"solve_wall_us\": %.1f, \"residual\": %.3e}\n",
         median(ta), median(tf), median(ts), median(wa), median(wf), median(ws), std::sqrt(rn / double(n)));
  cudssMatrixDestroy(A);
  cudssMatrixDestroy(X);
  cudssMatrixDestroy(B);
  cudssConfigDestroy(cfg);
  cudssDestroy(h);
  return 0;
}
