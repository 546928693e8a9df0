/* The vector layer of the lane kernels, AVX-512 (F + BW + DQ + VL): 16 float lanes, masks in mask
 * registers. Every operation is the IEEE single-precision operation C performs (no FMA, comparisons
 * with C's NaN semantics), as in vec_avx2.h. */
#ifndef QN_VEC_AVX512_H
#define QN_VEC_AVX512_H

#include <immintrin.h>
#include "avx2_util.h"

#define QN_LANES 16

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm; /* bit set where true */

static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
static inline vf vf_set(float a) { return _mm512_set1_ps(a); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
/* For finite operands only (NaN and signed-zero rules differ between ISAs). */
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
/* The larger of x and acc, acc where x is NaN (acc never is NaN). */
static inline vf vf_max_num(vf x, vf acc) { return _mm512_max_ps(x, acc); }
static inline vf vf_min_num(vf x, vf acc) { return _mm512_min_ps(x, acc); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff))); }
static inline vf vf_neg(vf a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u))); }
/* C's <, >, <=, >=, == are false when either side is NaN; != is true. */
static inline vm vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm vf_le(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vm vf_eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline vm vf_ne(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
/* m ? a : b, lane by lane */
static inline vf vf_select(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
static inline vm vm_and(vm a, vm b) { return (vm)(a & b); }
static inline vm vm_or(vm a, vm b) { return (vm)(a | b); }
/* b and not a */
static inline vm vm_andnot(vm a, vm b) { return (vm)(~a & b); }
static inline vm vm_none(void) { return 0; }
static inline int vm_any(vm m) { return m != 0; }
/* Bit k set where lane k is true. */
static inline unsigned vm_bits(vm m) { return (unsigned)m; }

static inline vi vi_set(int a) { return _mm512_set1_epi32(a); }
static inline vi vi_load(const int32_t *p) { return _mm512_loadu_si512(p); }
static inline void vi_store(int32_t *p, vi a) { _mm512_storeu_si512(p, a); }
static inline vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi vi_and(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm512_or_si512(a, b); }
static inline vi vi_shl(vi a, int n) { return _mm512_slli_epi32(a, (unsigned)n); }
/* Arithmetic (sign-filling) shift right. */
static inline vi vi_sar(vi a, int n) { return _mm512_srai_epi32(a, (unsigned)n); }
/* 16 bytes (0..255) to lanes. */
static inline vi vi_load_u8(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }
static inline vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
static inline vi vi_min(vi a, vi b) { return _mm512_min_epi32(a, b); }
static inline vi vi_max(vi a, vi b) { return _mm512_max_epi32(a, b); }
static inline vi vi_select(vm m, vi a, vi b) { return _mm512_mask_blend_epi32(m, b, a); }
static inline vm vi_ne(vi a, vi b) { return _mm512_cmpneq_epi32_mask(a, b); }
static inline vm vi_eq(vi a, vi b) { return _mm512_cmpeq_epi32_mask(a, b); }
static inline vm vi_lt(vi a, vi b) { return _mm512_cmplt_epi32_mask(a, b); }
/* base[idx] per lane. */
static inline vi vi_gather(const int32_t *base, vi idx) { return _mm512_i32gather_epi32(idx, (const void *)base, 4); }
static inline vf vf_gather(const float *base, vi idx) { return _mm512_i32gather_ps(idx, (const void *)base, 4); }
/* Exact for the small integers used here. */
static inline vf vi_to_vf(vi a) { return _mm512_cvtepi32_ps(a); }
/* Stores the low bytes of 16 lanes holding 0..255. */
static inline void vi_store_u8(uint8_t *p, vi a) { _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(a)); }
/* Stores the 4 * 16 lanes of a, b, c, d (in that order) as bytes, each clamped to lo..hi (within -128..127)
 * and offset. The narrowing saturates, which keeps the order of values, so clamping after it is clamping before. */
static inline void vi_store_levels4(uint8_t *p, vi a, vi b, vi c, vi d, int lo, int hi, int offset) {
    const vi v[4] = {a, b, c, d};
    for (int k = 0; k < 4; ++k) {
        const __m128i r = _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(v[k]), _mm_set1_epi8((char)lo)), _mm_set1_epi8((char)hi));
        _mm_storeu_si128((__m128i *)(p + 16 * k), _mm_add_epi8(r, _mm_set1_epi8((char)offset)));
    }
}
/* Exact for the small whole numbers used here. */
static inline vi vf_to_vi(vf a) { return _mm512_cvttps_epi32(a); }
/* 1 where m is true, else 0. */
static inline vi vm_to_vi(vm m) { return _mm512_maskz_set1_epi32(m, 1); }

/* ggml's nearest_int: (bits(x + 1.5*2^23) & 0x7fffff) - 0x400000. */
static inline vi vf_nearest_int(vf x) {
    const vi bits = _mm512_castps_si512(_mm512_add_ps(x, _mm512_set1_ps(12582912.f)));
    return _mm512_sub_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
}
/* x rounded to the nearest integer, ties to even, in one instruction: nearest_int(x) where |x| < 2^22, and
 * not elsewhere (there nearest_int wraps; here a value out of int range or NaN gives INT_MIN). */
static inline vi vf_round_int(vf x) { return _mm512_cvtps_epi32(x); }

/* table[idx] per lane for idx in 0..3, the table in its first four lanes. */
static inline vf vf_lut4(vf table, vi idx) { return _mm512_permutexvar_ps(idx, table); }

/* table[idx] for idx in 0..15: one permute. */
static inline vf vf_lut16(const float *table, vi idx) { return _mm512_permutexvar_ps(idx, _mm512_loadu_ps(table)); }

/* dst row c = column c of the 16x16 tile whose row r starts at src + r * ss (32-bit elements), as
 * four 8x8 transposes. */
static inline void tile_transpose(const float *src, size_t ss, float *dst, size_t ds) {
    for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) tile_transpose8(src + 8 * a * ss + 8 * b, ss, dst + 8 * b * ds + 8 * a, ds);
}
/* dst row c = (rows[r][col + c]) for r, c < 16, as four 8x8 transposes. */
static inline void tile_transpose_rows(const float *const *rows, size_t col, float *dst, size_t ds) {
    for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) tile_transpose8_rows(rows + 8 * a, col + 8 * b, dst + 8 * b * ds + 8 * a, ds);
}

/* qn_pack_q3's bytes. */
static inline void vb_pack_q3(const uint8_t *L, uint8_t *hmask, uint8_t *qs) { pack_q3_avx2(L, hmask, qs); }

/* The largest lane (no lane may be NaN). */
static inline float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }

/* qn_fp32_to_fp16 and qn_fp16_to_fp32 in hardware: the same bits for every value but a NaN, whose payload
 * these keep where qn_fp32_to_fp16 makes it 0x7E00. */
static inline qn_fp16 hw_fp32_to_fp16(float f) { return (qn_fp16)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
static inline float hw_fp16_to_fp32(qn_fp16 h) { return _cvtsh_ss(h); }

#endif
