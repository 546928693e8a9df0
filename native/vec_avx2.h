/* The vector layer of the lane kernels, AVX2: 8 float lanes. Every operation is the IEEE
 * single-precision operation C performs (no FMA, comparisons with C's NaN semantics). */
#ifndef QN_VEC_AVX2_H
#define QN_VEC_AVX2_H

#include <immintrin.h>
#include "avx2_util.h"

#define QN_LANES 8

typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm; /* all-ones lanes where true */

static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
static inline vf vf_set(float a) { return _mm256_set1_ps(a); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
/* For finite operands only (NaN and signed-zero rules differ between ISAs). */
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
/* The larger of x and acc, acc where x is NaN (acc never is NaN); +0 for -0 against +0. */
static inline vf vf_max_num(vf x, vf acc) { return _mm256_max_ps(x, acc); }
static inline vf vf_min_num(vf x, vf acc) { return _mm256_min_ps(x, acc); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vf vf_neg(vf a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
/* C's <, >, <=, >=, == are false when either side is NaN; != is true. */
static inline vm vf_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vf_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vf_le(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm vf_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vm vf_ne(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
/* m ? a : b, lane by lane (every vm is all ones or all zeros per lane, so the sign bit blendv reads says it all).
 * blendv rather than and/andnot/or: one instruction instead of three, 8-20% faster lattice searches (IQ3_S, IQ2_S,
 * IQ4_NL) and no slower elsewhere on this AMD CPU. */
static inline vf vf_select(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline vm vm_and(vm a, vm b) { return _mm256_and_ps(a, b); }
static inline vm vm_or(vm a, vm b) { return _mm256_or_ps(a, b); }
/* b and not a */
static inline vm vm_andnot(vm a, vm b) { return _mm256_andnot_ps(a, b); }
static inline vm vm_none(void) { return _mm256_setzero_ps(); }
static inline int vm_any(vm m) { return _mm256_movemask_ps(m) != 0; }
/* Bit k set where lane k is true. */
static inline unsigned vm_bits(vm m) { return (unsigned)_mm256_movemask_ps(m); }

static inline vi vi_set(int a) { return _mm256_set1_epi32(a); }
static inline vi vi_load(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline void vi_store(int32_t *p, vi a) { _mm256_storeu_si256((__m256i *)p, a); }
static inline vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
static inline vi vi_and(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm256_or_si256(a, b); }
static inline vi vi_shl(vi a, int n) { return _mm256_slli_epi32(a, n); }
/* Arithmetic (sign-filling) shift right. */
static inline vi vi_sar(vi a, int n) { return _mm256_srai_epi32(a, n); }
/* 8 bytes (0..255) to lanes. */
static inline vi vi_load_u8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
static inline vi vi_min(vi a, vi b) { return _mm256_min_epi32(a, b); }
static inline vi vi_max(vi a, vi b) { return _mm256_max_epi32(a, b); }
static inline vi vi_select(vm m, vi a, vi b) { return _mm256_blendv_epi8(b, a, _mm256_castps_si256(m)); }
static inline vm vi_ne(vi a, vi b) { return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_cmpeq_epi32(a, b), _mm256_set1_epi32(-1))); }
static inline vm vi_eq(vi a, vi b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
static inline vm vi_lt(vi a, vi b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(b, a)); }
/* base[idx] per lane. */
static inline vi vi_gather(const int32_t *base, vi idx) { return _mm256_i32gather_epi32((const int *)base, idx, 4); }
static inline vf vf_gather(const float *base, vi idx) { return _mm256_i32gather_ps(base, idx, 4); }
/* Exact for the small integers used here. */
static inline vf vi_to_vf(vi a) { return _mm256_cvtepi32_ps(a); }
/* Stores the low bytes of 8 lanes holding 0..255. */
static inline void vi_store_u8(uint8_t *p, vi a) {
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
}
/* Stores the 4 * 8 lanes of a, b, c, d (in that order) as bytes, each clamped to lo..hi (within -128..127)
 * and offset. Packing saturates, which keeps the order of values, so clamping after it is clamping before. */
static inline void vi_store_levels4(uint8_t *p, vi a, vi b, vi c, vi d, int lo, int hi, int offset) {
    const __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    __m256i r = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    r = _mm256_min_epi8(_mm256_max_epi8(r, _mm256_set1_epi8((char)lo)), _mm256_set1_epi8((char)hi));
    _mm256_storeu_si256((__m256i *)p, _mm256_add_epi8(r, _mm256_set1_epi8((char)offset)));
}
/* Exact for the small whole numbers used here. */
static inline vi vf_to_vi(vf a) { return _mm256_cvttps_epi32(a); }
/* 1 where m is true, else 0. */
static inline vi vm_to_vi(vm m) { return _mm256_srli_epi32(_mm256_castps_si256(m), 31); }

/* ggml's nearest_int: (bits(x + 1.5*2^23) & 0x7fffff) - 0x400000. */
static inline vi vf_nearest_int(vf x) {
    const vi bits = _mm256_castps_si256(_mm256_add_ps(x, _mm256_set1_ps(12582912.f)));
    return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}
/* x rounded to the nearest integer, ties to even, in one instruction: nearest_int(x) where |x| < 2^22, and
 * not elsewhere (there nearest_int wraps; here a value out of int range or NaN gives INT_MIN). */
static inline vi vf_round_int(vf x) { return _mm256_cvtps_epi32(x); }

/* table[idx] per lane for idx in 0..3, the table in its first four lanes. */
static inline vf vf_lut4(vf table, vi idx) { return _mm256_permutevar8x32_ps(table, idx); }

/* table[idx] for idx in 0..15. */
static inline vf vf_lut16(const float *table, vi idx) {
    const vf lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), idx);
    const vf hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), idx);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7))));
}

/* dst row c = column c of the 8x8 tile whose row r starts at src + r * ss (32-bit elements). */
static inline void tile_transpose(const float *src, size_t ss, float *dst, size_t ds) { tile_transpose8(src, ss, dst, ds); }
/* dst row c = (rows[r][col + c]) for r, c < 8. */
static inline void tile_transpose_rows(const float *const *rows, size_t col, float *dst, size_t ds) { tile_transpose8_rows(rows, col, dst, ds); }

/* qn_pack_q3's bytes. */
static inline void vb_pack_q3(const uint8_t *L, uint8_t *hmask, uint8_t *qs) { pack_q3_avx2(L, hmask, qs); }

/* The largest lane (no lane may be NaN). */
static inline float vf_hmax(vf a) { return hmax8(a); }

/* qn_fp32_to_fp16 and qn_fp16_to_fp32 in hardware: the same bits for every value but a NaN, whose payload
 * these keep where qn_fp32_to_fp16 makes it 0x7E00. */
static inline qn_fp16 hw_fp32_to_fp16(float f) { return (qn_fp16)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
static inline float hw_fp16_to_fp32(qn_fp16 h) { return _cvtsh_ss(h); }

#endif
