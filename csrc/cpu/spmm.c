/* Sparse times dense-matrix kernels: Y = A X and Y = A^T X (or A^H X), X and Y row-major. */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY spmm
#define MSP_IMPL "spmm_impl.h"
#include "instantiate.h"
