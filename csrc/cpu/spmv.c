/* CSR sparse matrix-vector product kernels (all value/index type pairs). */
#include "parallel.h"

#define MSP_FAMILY spmv
#define MSP_IMPL "spmv_impl.h"
#include "instantiate.h"
