/* Factorization kernels: triangular solves, ILU(0), IC(0). */
#include <math.h>
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY factor
#define MSP_IMPL "factor_impl.h"
#include "instantiate.h"
