/* The SIMD twins, each in its own translation unit built with its own instruction-set flags.
 * On a build where a path cannot exist its lookup returns NULL and QN_HAVE_*_BUILD is 0. */
#ifndef QN_SIMD_KERNELS_H
#define QN_SIMD_KERNELS_H

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define QN_HAVE_AVX2_BUILD 1
#else
#define QN_HAVE_AVX2_BUILD 0
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define QN_HAVE_NEON_BUILD 1
#else
#define QN_HAVE_NEON_BUILD 0
#endif

/* The AVX2 (or NEON) quantizer for a type, or NULL where that path has no twin for it. */
qn_quantize_fn qn_avx2_quantize(int type);   /* quant_legacy_avx2.c, then the K-quant lanes */
qn_quantize_fn qn_avx2_k_quantize(int type); /* quant_k_avx2.c: the lane kernels */
qn_quantize_fn qn_avx2_convert_quantize(int type); /* convert_avx2.c: F16 */
qn_quantize_fn qn_avx2_fp4_quantize(int type);     /* quant_fp4_avx2.c: MXFP4, NVFP4 */
qn_quantize_fn qn_avx2_low_bit_quantize(int type); /* quant_low_bit_avx2.c: Q1_0, Q2_0 */
qn_quantize_fn qn_avx512_quantize(int type);       /* quant_k_avx512.c: the lane kernels, else AVX2 */
qn_dequantize_fn qn_avx2_dequantize(int type);
qn_find_invalid_fn qn_avx2_find_invalid(int type);
qn_quantize_fn qn_neon_quantize(int type);
qn_dequantize_fn qn_neon_dequantize(int type);
qn_find_invalid_fn qn_neon_find_invalid(int type);

#endif
