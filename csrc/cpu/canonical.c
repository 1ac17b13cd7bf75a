/* Canonicalization kernels: sort column indices within rows, count and sum duplicates. */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY canonical
#define MSP_IMPL "canonical_impl.h"
#include "instantiate.h"
