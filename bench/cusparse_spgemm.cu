// cuSPARSE SpGEMM called directly, for bench/spgemm.py: C = A B in float32 with int32 indices.
// Usage: cusparse_spgemm FILE [REPS]  (FILE: int64 m, k, n, nnza, nnzb; int32 A indptr[m+1], indices[nnza];
// f32 A data; int32 B indptr[k+1], indices[nnzb]; f32 B data). Prints one JSON line per algorithm:
//   full_us     the whole product as a user runs it each time (work estimation, compute, copy, with
//               buffers from the stream-ordered pool allocator, so allocation is nearly free)
//   reuse_us    the numeric pass alone with the structure kept (cusparseSpGEMMreuse_compute)
// Times are medians of REPS runs between CUDA events, after a warm-up.
#include <cuda_runtime.h>
#include <cusparse.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda_check.h"  // CK
#define CS(x)                                                      \
  do {                                                             \
    cusparseStatus_t s = (x);                                      \
    if (s != CUSPARSE_STATUS_SUCCESS) {                            \
      fprintf(stderr, "cuSPARSE %d at line %d\n", (int)s, __LINE__); \
      return -1.0;                                                 \
    }                                                              \
  } while (0)

struct Dev {
  int64_t rows, cols, nnz;
  int *ptr, *ind;
  float* val;
};

static Dev upload(FILE* f, int64_t rows, int64_t cols, int64_t nnz) {
  std::vector<int> p(rows + 1), i(nnz);
  std::vector<float> v(nnz);
  if (fread(p.data(), 4, p.size(), f) != p.size() || fread(i.data(), 4, i.size(), f) != i.size() ||
      fread(v.data(), 4, v.size(), f) != v.size()) {
    fprintf(stderr, "short file\n");
    exit(1);
  }
  Dev d{rows, cols, nnz, nullptr, nullptr, nullptr};
  CK(cudaMalloc(&d.ptr, 4 * (rows + 1)));
  CK(cudaMalloc(&d.ind, 4 * std::max<int64_t>(nnz, 1)));
  CK(cudaMalloc(&d.val, 4 * std::max<int64_t>(nnz, 1)));
  CK(cudaMemcpy(d.ptr, p.data(), 4 * (rows + 1), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d.ind, i.data(), 4 * nnz, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d.val, v.data(), 4 * nnz, cudaMemcpyHostToDevice));
  return d;
}

static cusparseSpMatDescr_t descr(const Dev& d) {
  cusparseSpMatDescr_t m;
  cusparseCreateCsr(&m, d.rows, d.cols, d.nnz, d.ptr, d.ind, d.val, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                    CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F);
  return m;
}

static const cusparseOperation_t N = CUSPARSE_OPERATION_NON_TRANSPOSE;
static int64_t g_nnzc = -1;

// One full product (what a user pays per call); C's arrays are freed at the end.
static double full_product(cusparseHandle_t h, const Dev& A, const Dev& B, cusparseSpGEMMAlg_t alg) {
  const float one = 1.f, zero = 0.f;
  cusparseSpMatDescr_t a = descr(A), b = descr(B), c;
  CS(cusparseCreateCsr(&c, A.rows, B.cols, 0, nullptr, nullptr, nullptr, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                       CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  cusparseSpGEMMDescr_t g;
  CS(cusparseSpGEMM_createDescr(&g));
  size_t b1 = 0, b2 = 0;
  void *w1 = nullptr, *w2 = nullptr;
  CS(cusparseSpGEMM_workEstimation(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g, &b1, nullptr));
  CK(cudaMallocAsync(&w1, std::max<size_t>(b1, 1), 0));
  CS(cusparseSpGEMM_workEstimation(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g, &b1, w1));
  if (alg != CUSPARSE_SPGEMM_ALG1) {  // ALG2/ALG3 size their compute buffer by estimateMemory
    size_t b3 = 0;
    void* w3 = nullptr;
    const float chunk = 0.2f;
    CS(cusparseSpGEMM_estimateMemory(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g, chunk, &b3, nullptr, nullptr));
    CK(cudaMallocAsync(&w3, std::max<size_t>(b3, 1), 0));
    CS(cusparseSpGEMM_estimateMemory(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g, chunk, &b3, w3, &b2));
    cudaFreeAsync(w3, 0);
  } else {
    CS(cusparseSpGEMM_compute(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g, &b2, nullptr));
  }
  CK(cudaMallocAsync(&w2, std::max<size_t>(b2, 1), 0));
  CS(cusparseSpGEMM_compute(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g, &b2, w2));
  int64_t r, cc, nnzc;
  CS(cusparseSpMatGetSize(c, &r, &cc, &nnzc));
  int *cp, *ci;
  float* cv;
  CK(cudaMallocAsync(&cp, 4 * (A.rows + 1), 0));
  CK(cudaMallocAsync(&ci, 4 * std::max<int64_t>(nnzc, 1), 0));
  CK(cudaMallocAsync(&cv, 4 * std::max<int64_t>(nnzc, 1), 0));
  CS(cusparseCsrSetPointers(c, cp, ci, cv));
  CS(cusparseSpGEMM_copy(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g));
  g_nnzc = nnzc;
  cudaFreeAsync(w1, 0), cudaFreeAsync(w2, 0), cudaFreeAsync(cp, 0), cudaFreeAsync(ci, 0), cudaFreeAsync(cv, 0);
  cusparseSpGEMM_destroyDescr(g);
  cusparseDestroySpMat(a), cusparseDestroySpMat(b), cusparseDestroySpMat(c);
  return 0.0;
}

// The reuse path: structure once, then the timed numeric passes.
static double reuse_numeric(cusparseHandle_t h, const Dev& A, const Dev& B, cusparseSpGEMMAlg_t alg, int reps) {
  const float one = 1.f, zero = 0.f;
  cusparseSpMatDescr_t a = descr(A), b = descr(B), c;
  CS(cusparseCreateCsr(&c, A.rows, B.cols, 0, nullptr, nullptr, nullptr, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                       CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  cusparseSpGEMMDescr_t g;
  CS(cusparseSpGEMM_createDescr(&g));
  size_t b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0;
  void *w1 = nullptr, *w2 = nullptr, *w3 = nullptr, *w4 = nullptr, *w5 = nullptr;
  CS(cusparseSpGEMMreuse_workEstimation(h, N, N, a, b, c, alg, g, &b1, nullptr));
  CK(cudaMalloc(&w1, std::max<size_t>(b1, 1)));
  CS(cusparseSpGEMMreuse_workEstimation(h, N, N, a, b, c, alg, g, &b1, w1));
  CS(cusparseSpGEMMreuse_nnz(h, N, N, a, b, c, alg, g, &b2, nullptr, &b3, nullptr, &b4, nullptr));
  CK(cudaMalloc(&w2, std::max<size_t>(b2, 1)));
  CK(cudaMalloc(&w3, std::max<size_t>(b3, 1)));
  CK(cudaMalloc(&w4, std::max<size_t>(b4, 1)));
  CS(cusparseSpGEMMreuse_nnz(h, N, N, a, b, c, alg, g, &b2, w2, &b3, w3, &b4, w4));
  int64_t r, cc, nnzc;
  CS(cusparseSpMatGetSize(c, &r, &cc, &nnzc));
  int *cp, *ci;
  float* cv;
  CK(cudaMalloc(&cp, 4 * (A.rows + 1)));
  CK(cudaMalloc(&ci, 4 * std::max<int64_t>(nnzc, 1)));
  CK(cudaMalloc(&cv, 4 * std::max<int64_t>(nnzc, 1)));
  CS(cusparseCsrSetPointers(c, cp, ci, cv));
  CS(cusparseSpGEMMreuse_copy(h, N, N, a, b, c, alg, g, &b5, nullptr));
  CK(cudaMalloc(&w5, std::max<size_t>(b5, 1)));
  CS(cusparseSpGEMMreuse_copy(h, N, N, a, b, c, alg, g, &b5, w5));
  cudaFree(w1), cudaFree(w2);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  std::vector<float> ts;
  for (int t = 0; t < reps + 2; ++t) {
    cudaEventRecord(e0);
    CS(cusparseSpGEMMreuse_compute(h, N, N, &one, a, b, &zero, c, CUDA_R_32F, alg, g));
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    if (t >= 2) ts.push_back(ms);
  }
  std::sort(ts.begin(), ts.end());
  cudaFree(w3), cudaFree(w4), cudaFree(w5), cudaFree(cp), cudaFree(ci), cudaFree(cv);
  cusparseSpGEMM_destroyDescr(g);
  cusparseDestroySpMat(a), cusparseDestroySpMat(b), cusparseDestroySpMat(c);
  return ts[ts.size() / 2] * 1e3;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cusparse_spgemm FILE [REPS]\n");
    return 2;
  }
  const int reps = argc > 2 ? atoi(argv[2]) : 10;
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 2;
  int64_t hdr[5];
  if (fread(hdr, 8, 5, f) != 5) return 2;
  const Dev A = upload(f, hdr[0], hdr[1], hdr[3]), B = upload(f, hdr[1], hdr[2], hdr[4]);
  fclose(f);
  cudaMemPool_t pool;
  CK(cudaDeviceGetDefaultMemPool(&pool, 0));
  uint64_t keep = UINT64_MAX;
  CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));  // cache freed blocks, as CuPy's pool
  cusparseHandle_t h;
  cusparseCreate(&h);
  const struct {
    const char* name;
    cusparseSpGEMMAlg_t alg;
  } algs[] = {{"ALG1", CUSPARSE_SPGEMM_ALG1}, {"ALG2", CUSPARSE_SPGEMM_ALG2}, {"ALG3", CUSPARSE_SPGEMM_ALG3}};
  for (const auto& al : algs) {
    if (full_product(h, A, B, al.alg) < 0) {  // warm-up; an algorithm this matrix cannot run is reported
      printf("{\"alg\": \"%s\", \"error\": \"cuSPARSE refused\"}\n", al.name);
      fflush(stdout);
      continue;
    }
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    std::vector<float> ts;
    for (int t = 0; t < reps; ++t) {
      cudaEventRecord(e0);
      full_product(h, A, B, al.alg);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float ms;
      cudaEventElapsedTime(&ms, e0, e1);
      ts.push_back(ms);
    }
    std::sort(ts.begin(), ts.end());
    const double reuse = al.alg == CUSPARSE_SPGEMM_ALG1 ? reuse_numeric(h, A, B, al.alg, reps) : -1.0;
    printf("{\"alg\": \"%s\", \"full_us\": %.2f, \"reuse_us\": %.2f, \"nnzc\": %lld}\n", al.name,
           ts[ts.size() / 2] * 1e3, reuse, (long long)g_nnzc);
    fflush(stdout);
  }
  return 0;
}
