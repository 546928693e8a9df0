/* Small AVX2 helpers shared by the AVX2 twins; include only from translation units built with AVX2. */
#ifndef QN_AVX2_UTIL_H
#define QN_AVX2_UTIL_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

static inline __m256 vabs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* The largest of eight lanes (no lane may be NaN). */
static inline float hmax8(__m256 m) {
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* C's roundf (half away from zero), exactly: v - trunc(v) is exact, so the tie test is too. */
static inline __m256 round_half_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = vabs(_mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/* Largest |x| of n elements (a multiple of 8), as `if (amax < fabsf(v)) amax = fabsf(v)` from 0: a NaN
 * never wins (max_ps returns its second operand when the first is NaN). */
static inline float absmax_n(const float *x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) m = _mm256_max_ps(vabs(_mm256_loadu_ps(x + j)), m);
    return hmax8(m);
}

/* The 8x8 transpose of r[0..7] (rows) stored as dst row c = column c. */
static inline void transpose8_store(const __m256 *r, float *dst, size_t ds) {
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    for (int k = 0; k < 4; ++k) {
        _mm256_storeu_ps(dst + k * ds, _mm256_permute2f128_ps(u[k], u[k + 4], 0x20));
        _mm256_storeu_ps(dst + (k + 4) * ds, _mm256_permute2f128_ps(u[k], u[k + 4], 0x31));
    }
}

/* dst row c = column c of the 8x8 tile whose row r starts at src + r * ss (32-bit elements). */
static inline void tile_transpose8(const float *src, size_t ss, float *dst, size_t ds) {
    __m256 r[8];
    for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(src + k * ss);
    transpose8_store(r, dst, ds);
}

/* The same with row r at rows[r] + col. */
static inline void tile_transpose8_rows(const float *const *rows, size_t col, float *dst, size_t ds) {
    __m256 r[8];
    for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(rows[k] + col);
    transpose8_store(r, dst, ds);
}

/* qn_pack_q3 (Q3_K's hmask and qs from 256 levels 0..7) in 32-byte vectors: byte m of vector b is level
 * 32 * b + m; the masks keep every 32-bit shift inside its byte. */
static inline void pack_q3_avx2(const uint8_t *L, uint8_t *hmask, uint8_t *qs) {
    __m256i v[8];
    for (int b = 0; b < 8; ++b) v[b] = _mm256_loadu_si256((const __m256i *)(L + 32 * b));
    const __m256i m4 = _mm256_set1_epi8(4), m3 = _mm256_set1_epi8(3);
    __m256i h = _mm256_or_si256(_mm256_srli_epi32(_mm256_and_si256(v[0], m4), 2), _mm256_srli_epi32(_mm256_and_si256(v[1], m4), 1));
    h = _mm256_or_si256(h, _mm256_and_si256(v[2], m4));
    h = _mm256_or_si256(h, _mm256_slli_epi32(_mm256_and_si256(v[3], m4), 1));
    h = _mm256_or_si256(h, _mm256_slli_epi32(_mm256_and_si256(v[4], m4), 2));
    h = _mm256_or_si256(h, _mm256_slli_epi32(_mm256_and_si256(v[5], m4), 3));
    h = _mm256_or_si256(h, _mm256_slli_epi32(_mm256_and_si256(v[6], m4), 4));
    h = _mm256_or_si256(h, _mm256_slli_epi32(_mm256_and_si256(v[7], m4), 5));
    _mm256_storeu_si256((__m256i *)hmask, h);
    for (int j = 0; j < 2; ++j) {
        const __m256i *w = v + 4 * j;
        __m256i q = _mm256_or_si256(_mm256_and_si256(w[0], m3), _mm256_slli_epi32(_mm256_and_si256(w[1], m3), 2));
        q = _mm256_or_si256(q, _mm256_slli_epi32(_mm256_and_si256(w[2], m3), 4));
        q = _mm256_or_si256(q, _mm256_slli_epi32(_mm256_and_si256(w[3], m3), 6));
        _mm256_storeu_si256((__m256i *)(qs + 32 * j), q);
    }
}

#endif
