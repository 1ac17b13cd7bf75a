/* Algebraic multigrid setup kernels: standard aggregation. */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY amg
#define MSP_IMPL "amg_impl.h"
#include "instantiate.h"
