/* Format conversion kernels: COO -> CSR (stable counting sort by row) and CSR -> dense. */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY convert
#define MSP_IMPL "convert_impl.h"
#include "instantiate.h"
