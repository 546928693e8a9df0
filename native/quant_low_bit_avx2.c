/* AVX2 twins of Q1_0 and Q2_0.
 * Q1_0: the scale is a sequential sum of 128 magnitudes, so eight blocks run side by side, one per
 * lane (8x8 transposes feed each lane its block's elements in order); the sign bits are a comparison.
 * Q2_0: the maximum does not depend on order; the levels are the reference's roundf (half away from
 * zero) and x86-64's float -> int conversion (INT32_MIN for NaN and overflow, then the clamp). */
#include "simd_kernels.h"

#if QN_HAVE_AVX2_BUILD

#include "avx2_util.h"

static inline void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

static void q1_0_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / 128);
    block_q1_0 *y = (block_q1_0 *)dst;
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const float *x = src + 128 * ib;
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < 128; j += 8) {
            __m256 r[8];
            for (int b = 0; b < 8; ++b) r[b] = vabs(_mm256_loadu_ps(x + 128 * b + j));
            transpose8(r); /* r[k]: element j + k of each block */
            for (int k = 0; k < 8; ++k) sum = _mm256_add_ps(sum, r[k]);
        }
        float d[8];
        _mm256_storeu_ps(d, _mm256_div_ps(sum, _mm256_set1_ps(128.0f)));
        for (int b = 0; b < 8; ++b) {
            y[ib + b].d = qn_fp32_to_fp16(d[b]);
            for (int j = 0; j < 128; j += 32) {
                uint32_t bits = 0;
                for (int k = 0; k < 4; ++k) {
                    const __m256 v = _mm256_loadu_ps(x + 128 * b + j + 8 * k);
                    bits |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ)) << (8 * k);
                }
                memcpy(y[ib + b].qs + j / 8, &bits, 4);
            }
        }
    }
    if (ib < nb) qn_quantize_q1_0(src + 128 * ib, y + ib, 1, 128 * (nb - ib), NULL);
}

static void q2_0_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / 64);
    block_q2_0 *y = (block_q2_0 *)dst;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float *x = src + 64 * ib;
        __m256 v[8];
        for (int k = 0; k < 8; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
        const float d = absmax_n(x, 64); /* `a > amax` from 0: a NaN never wins */
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        y[ib].d = qn_fp32_to_fp16(d);
        const __m256 vid = _mm256_set1_ps(id);
        int32_t q[64];
        for (int k = 0; k < 8; ++k) {
            /* x86-64 turns NaN and out-of-range values into INT32_MIN; +1 cannot overflow from there. */
            const __m256i l = _mm256_add_epi32(_mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[k], vid))), _mm256_set1_epi32(1));
            _mm256_storeu_si256((__m256i *)(q + 8 * k), _mm256_max_epi32(_mm256_setzero_si256(), _mm256_min_epi32(_mm256_set1_epi32(3), l)));
        }
        for (int j = 0; j < 16; ++j) y[ib].qs[j] = (uint8_t)(q[4 * j] | q[4 * j + 1] << 2 | q[4 * j + 2] << 4 | q[4 * j + 3] << 6);
    }
}

qn_quantize_fn qn_avx2_low_bit_quantize(int type) {
    switch (type) {
    case QN_Q1_0: return q1_0_avx2;
    case QN_Q2_0: return q2_0_avx2;
    default: return NULL;
    }
}

#else

qn_quantize_fn qn_avx2_low_bit_quantize(int type) { (void)type; return NULL; }

#endif
