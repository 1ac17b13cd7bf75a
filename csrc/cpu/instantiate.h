/* Includes the kernel body named by MSP_IMPL once per (value, index) pair of MSP_TYPE_PAIRS. */
/* A body uses VT (stored value), AT (accumulator), IT (index), LOAD(p) -> AT, STORE(p, a), AZERO,
 * CONJ(a) (complex conjugate, identity for real types), ABS(a) (magnitude), REAL(a) (the ordered part), ACC_IS_VT (1 when AT is VT), IS_F16 (for
 * #if), NAME(op) -> msp_<MSP_FAMILY>_<op>_<vt>_<it>_body (the registry's checked entry point
 * msp_<family>_<op>_<vt>_<it> calls it) and MSP_UNPACK(op) (the call record as named locals). */
#include "ops.gen.h"
#include "types.h"

#define VT MSP_CAT(msp_vt_, VNAME)
#define AT MSP_CAT(msp_at_, VNAME)
#define IT MSP_CAT(msp_it_, INAME)
#define LOAD(p) MSP_CAT(msp_load_, VNAME)(p)
#define STORE(p, a) MSP_CAT(msp_store_, VNAME)(p, a)
#define CONJ(a) MSP_CAT(msp_conj_, VNAME)(a)
#define ABS(a) MSP_CAT(msp_abs_, VNAME)(a)
#define REAL(a) MSP_CAT(msp_real_, VNAME)(a)
#define AZERO ((AT)0)
#define WIDE MSP_CAT(msp_wide_, VNAME)
#define CDOT(u, v) MSP_CAT(msp_cdot_, VNAME)(u, v)
#define ACC_IS_VT MSP_CAT(MSP_ACC_IS_VT_, VNAME)
#define IS_F16 MSP_CAT(MSP_IS_F16_, VNAME)
#define IS_F32 MSP_CAT(MSP_IS_F32_, VNAME)
#define NAME(op) MSP_CAT(MSP_CAT5(msp, MSP_FAMILY, op, VNAME, INAME), _body)
#define MSP_UNPACK_(fam, op, c) MSP_UNPACK_##fam##_##op(c)
#define MSP_UNPACK__(fam, op, c) MSP_UNPACK_(fam, op, c)
#define MSP_UNPACK(op) MSP_UNPACK__(MSP_FAMILY, op, c)

#include "instantiate.gen.h"

#undef VT
#undef AT
#undef IT
#undef LOAD
#undef STORE
#undef CONJ
#undef ABS
#undef REAL
#undef AZERO
#undef WIDE
#undef CDOT
#undef ACC_IS_VT
#undef IS_F16
#undef IS_F32
#undef NAME
#undef MSP_UNPACK
