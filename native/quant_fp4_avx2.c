/* AVX2 twins of MXFP4 and NVFP4. The block maximum does not depend on order and the scale is the
 * reference's (computed per block, in scalar code). The reference scans the 16 table values for the
 * first one nearest to x. Its answer can be had in fewer dependent steps, exactly:
 *  - the table is 0, +m_1..+m_7 (indices 1-7), 0, -m_1..-m_7 (9-15). For x >= 0 (or -0) a negative entry
 *    is at least as far as index 0 (m*d + x >= x), and so is index 8, so only indices 0-7 can win; for
 *    x < 0 likewise only 0 and 9-15, and |-m*d - x| is bit for bit |m*d - |x|| (IEEE negation and
 *    subtraction are sign-symmetric). So the search is over m = 0..7 against |x|, then +8 when x < 0.
 *  - "first strictly smaller" over a list is a tree of pairwise picks (take the later half only when
 *    strictly smaller), which finds the same minimum and the same first index; with x NaN every error is
 *    NaN and both give index 0. */
#include "simd_kernels.h"

#if QN_HAVE_AVX2_BUILD

#include "avx2_util.h"

typedef struct {
    __m256 err;
    __m256i idx;
} pick8;

/* The first of two candidates unless the second is strictly nearer. */
static inline pick8 pick(pick8 a, pick8 b) {
    const __m256 lt = _mm256_cmp_ps(b.err, a.err, _CMP_LT_OQ);
    return (pick8){_mm256_blendv_ps(a.err, b.err, lt), _mm256_blendv_epi8(a.idx, b.idx, _mm256_castps_si256(lt))};
}

/* Table indices of the n (multiple of 8) elements at scale d. */
static inline void best_indices(const float *x, int n, float d, int32_t *idx) {
    __m256 v[8];
    for (int i = 0; i < 8; ++i) v[i] = _mm256_set1_ps(qn_kvalues_fp4[i] * d);
    for (int j = 0; j < n; j += 8) {
        const __m256 xv = _mm256_loadu_ps(x + j);
        const __m256 a = vabs(xv);
        pick8 c[8];
        for (int i = 0; i < 8; ++i) c[i] = (pick8){vabs(_mm256_sub_ps(v[i], a)), _mm256_set1_epi32(i)};
        const pick8 best = pick(pick(pick(c[0], c[1]), pick(c[2], c[3])), pick(pick(c[4], c[5]), pick(c[6], c[7])));
        const __m256i negative = _mm256_castps_si256(_mm256_cmp_ps(xv, _mm256_setzero_ps(), _CMP_LT_OQ));
        const __m256i nonzero = _mm256_cmpgt_epi32(best.idx, _mm256_setzero_si256());
        const __m256i shift = _mm256_and_si256(_mm256_and_si256(negative, nonzero), _mm256_set1_epi32(8));
        _mm256_storeu_si256((__m256i *)(idx + j), _mm256_add_epi32(best.idx, shift));
    }
}

static void mxfp4_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    block_mxfp4 *y = (block_mxfp4 *)dst;
    const int64_t nb = nrow * (n_per_row / 32);
    int32_t idx[32];
    for (int64_t i = 0; i < nb; ++i, ++y) {
        const float *x = src + 32 * i;
        const uint8_t e = qn_mxfp4_exponent(absmax_n(x, 32));
        y->e = e;
        best_indices(x, 32, qn_e8m0_to_fp32_half(e), idx);
        for (int j = 0; j < 16; ++j) y->qs[j] = (uint8_t)(idx[j] | idx[16 + j] << 4);
    }
}

static void nvfp4_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    block_nvfp4 *y = (block_nvfp4 *)dst;
    const int64_t nb = nrow * (n_per_row / 64);
    int32_t idx[16];
    for (int64_t i = 0; i < nb; ++i, ++y) {
        for (int s = 0; s < 4; ++s) {
            const float *x = src + 64 * i + 16 * s;
            const uint8_t ue = qn_fp32_to_ue4m3(absmax_n(x, 16) / 6.0f);
            y->d[s] = ue;
            best_indices(x, 16, qn_ue4m3_to_fp32(ue), idx);
            for (int j = 0; j < 8; ++j) y->qs[8 * s + j] = (uint8_t)(idx[j] | idx[8 + j] << 4);
        }
    }
}

qn_quantize_fn qn_avx2_fp4_quantize(int type) {
    switch (type) {
    case QN_MXFP4: return mxfp4_avx2;
    case QN_NVFP4: return nvfp4_avx2;
    default: return NULL;
    }
}

#else

qn_quantize_fn qn_avx2_fp4_quantize(int type) { (void)type; return NULL; }

#endif
