/* Entry selection kernels: dense -> CSR (fromdense) and CSR -> CSR subsets (eliminate_zeros, tril, triu). */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY select
#define MSP_IMPL "select_impl.h"
#include "instantiate.h"
