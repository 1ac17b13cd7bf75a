// The CUDA runtime check shared by the bench harnesses (cusparse_spmv.cu, cusparse_spgemm.cu, cudss_direct.cu):
// a failed call prints the error and the line, and exits.
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define CK(x)                                                              \
  do {                                                                     \
    cudaError_t e = (x);                                                   \
    if (e != cudaSuccess) {                                                \
      fprintf(stderr, "CUDA %s at %d\n", cudaGetErrorString(e), __LINE__); \
      exit(1);                                                             \
    }                                                                      \
  } while (0)
