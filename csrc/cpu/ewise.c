/* Elementwise binary operations of two canonical CSR matrices: the union (add, subtract) by a merge of rows. */
#include <stdlib.h>

#include "parallel.h"

#define MSP_FAMILY ewise
#define MSP_IMPL "ewise_impl.h"
#include "instantiate.h"
