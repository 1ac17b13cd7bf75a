/* Sparse-sparse products (C = A B of CSR matrices): a symbolic count per row, then the numeric fill. */
#include <stdlib.h>
#include <string.h>

#include "parallel.h"

#define MSP_FAMILY spgemm
#define MSP_IMPL "spgemm_impl.h"
#include "instantiate.h"
