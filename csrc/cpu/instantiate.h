/* Includes the kernel body named by MSP_IMPL once per (value, index) pair; the one instantiation list. */
/* A body uses VT (stored value), AT (accumulator), IT (index), LOAD(p) -> AT, STORE(p, a),
 * AZERO, CONJ(a) (complex conjugate, identity for real types), ACC_IS_VT (1 when AT is VT) and
 * NAME(op) -> msp_<MSP_FAMILY>_<op>_<vt>_<it>. */
#include "types.h"

#define NAME(op) MSP_CAT5(msp, MSP_FAMILY, op, VNAME, INAME)
#define CONJ(a) (a)

#define VT float
#define AT float
#define ACC_IS_VT 1
#define AZERO 0.0f
#define LOAD(p) (*(p))
#define STORE(p, a) (*(p) = (a))
#define VNAME f32
#define IT int32_t
#define INAME i32
#include MSP_IMPL
#undef IT
#undef INAME
#define IT int64_t
#define INAME i64
#include MSP_IMPL
#undef IT
#undef INAME
#undef VT
#undef AT
#undef AZERO
#undef VNAME

#define VT double
#define AT double
#define AZERO 0.0
#define VNAME f64
#define IT int32_t
#define INAME i32
#include MSP_IMPL
#undef IT
#undef INAME
#define IT int64_t
#define INAME i64
#include MSP_IMPL
#undef IT
#undef INAME
#undef VT
#undef AT
#undef AZERO
#undef VNAME

#undef CONJ
#define CONJ(a) conjf(a)
#define VT msp_c64
#define AT msp_c64
#define AZERO ((msp_c64)0.0f)
#define VNAME c64
#define IT int32_t
#define INAME i32
#include MSP_IMPL
#undef IT
#undef INAME
#define IT int64_t
#define INAME i64
#include MSP_IMPL
#undef IT
#undef INAME
#undef VT
#undef AT
#undef AZERO
#undef VNAME
#undef LOAD
#undef STORE
#undef CONJ
#define CONJ(a) (a)

#undef ACC_IS_VT
#define ACC_IS_VT 0 /* 16-bit values accumulate in float */
#define VT msp_f16
#define AT float
#define AZERO 0.0f
#define LOAD(p) msp_f16_load(*(p))
#define STORE(p, a) (*(p) = msp_f32_to_f16(a))
#define VNAME f16
#define MSP_VT_IS_F16
#define IT int32_t
#define INAME i32
#include MSP_IMPL
#undef IT
#undef INAME
#define IT int64_t
#define INAME i64
#include MSP_IMPL
#undef IT
#undef INAME
#undef VT
#undef VNAME
#undef MSP_VT_IS_F16
#undef LOAD
#undef STORE

#define VT msp_bf16
#define LOAD(p) msp_bf16_to_f32(*(p))
#define STORE(p, a) (*(p) = msp_f32_to_bf16(a))
#define VNAME bf16
#define IT int32_t
#define INAME i32
#include MSP_IMPL
#undef IT
#undef INAME
#define IT int64_t
#define INAME i64
#include MSP_IMPL
#undef IT
#undef INAME
#undef VT
#undef AT
#undef AZERO
#undef VNAME
#undef LOAD
#undef STORE
#undef NAME
#undef CONJ
#undef ACC_IS_VT
