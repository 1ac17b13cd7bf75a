/* Constructor kernels: the Kronecker product of canonical CSR matrices. */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY construct
#define MSP_IMPL "construct_impl.h"
#include "instantiate.h"
