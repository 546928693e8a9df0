/* AVX2/F16C twins of the float conversions (quant_float.c, dequant.c) and of the NaN/Inf row checks
 * (validate.c) for float data. fp16 -> fp32 is exact, and F16C's fp32 -> fp16 rounds to nearest even
 * exactly as ggml's bit construction does; only NaN differs (ggml writes sign | 0x7E00), so NaN lanes
 * are rewritten. */
#include "simd_kernels.h"

#if QN_HAVE_AVX2_BUILD
#include <immintrin.h>

static void dequantize_f16_avx2(const void *src, float *dst, int64_t n) {
    const qn_fp16 *x = (const qn_fp16 *)src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; ++i) dst[i] = qn_fp16_to_fp32(x[i]);
}

static void dequantize_bf16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *x = (const uint16_t *)src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
    }
    for (; i < n; ++i) dst[i] = qn_bf16_to_fp32(x[i]);
}

static void quantize_f16_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    qn_fp16 *y = (qn_fp16 *)dst;
    const int64_t n = nrow * n_per_row;
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i bits = _mm256_castps_si256(v);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
        if (!_mm256_testz_si256(nan, nan)) {
            /* sign | 0x7E00, in 32-bit lanes, then narrowed like the converted halves. */
            const __m256i canon = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x8000)), _mm256_set1_epi32(0x7E00));
            const __m256i wide = _mm256_blendv_epi8(_mm256_cvtepu16_epi32(h), canon, nan);
            h = _mm_packus_epi32(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
        }
        _mm_storeu_si128((__m128i *)(y + i), h);
    }
    for (; i < n; ++i) y[i] = qn_fp32_to_fp16(src[i]);
}

/* First row with an exponent of all ones (NaN or Inf), or -1. elem_bits 32: F32; 16: F16 or BF16. */
static int64_t find_nonfinite_rows(const uint8_t *p, int64_t nrow, int64_t n_per_row, int bytes, uint32_t exp_mask) {
    const size_t row_bytes = (size_t)n_per_row * bytes;
    for (int64_t r = 0; r < nrow; ++r) {
        const uint8_t *row = p + (size_t)r * row_bytes;
        size_t k = 0;
        __m256i bad = _mm256_setzero_si256();
        if (bytes == 4) {
            const __m256i m = _mm256_set1_epi32((int)exp_mask);
            for (; k + 32 <= row_bytes; k += 32) {
                const __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(row + k)), m);
                bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(v, m));
            }
        } else {
            const __m256i m = _mm256_set1_epi16((short)exp_mask);
            for (; k + 32 <= row_bytes; k += 32) {
                const __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(row + k)), m);
                bad = _mm256_or_si256(bad, _mm256_cmpeq_epi16(v, m));
            }
        }
        if (!_mm256_testz_si256(bad, bad)) return r;
        for (; k < row_bytes; k += (size_t)bytes) {
            uint32_t w = 0;
            memcpy(&w, row + k, (size_t)bytes);
            if ((w & exp_mask) == exp_mask) return r;
        }
    }
    return -1;
}

static int64_t find_invalid_f32_avx2(const void *data, int64_t nrow, int64_t n_per_row) {
    return find_nonfinite_rows((const uint8_t *)data, nrow, n_per_row, 4, 0x7f800000u);
}
static int64_t find_invalid_f16_avx2(const void *data, int64_t nrow, int64_t n_per_row) {
    return find_nonfinite_rows((const uint8_t *)data, nrow, n_per_row, 2, 0x7c00u);
}
/* BF16: (h & 0x7fff) >= 0x7f80 is exactly "exponent bits all ones". */
static int64_t find_invalid_bf16_avx2(const void *data, int64_t nrow, int64_t n_per_row) {
    return find_nonfinite_rows((const uint8_t *)data, nrow, n_per_row, 2, 0x7f80u);
}

qn_quantize_fn qn_avx2_convert_quantize(int type) { return type == QN_F16 ? quantize_f16_avx2 : NULL; }

qn_dequantize_fn qn_avx2_dequantize(int type) {
    switch (type) {
    case QN_F16: return dequantize_f16_avx2;
    case QN_BF16: return dequantize_bf16_avx2;
    default: return NULL;
    }
}

qn_find_invalid_fn qn_avx2_find_invalid(int type) {
    switch (type) {
    case QN_F32: return find_invalid_f32_avx2;
    case QN_F16: return find_invalid_f16_avx2;
    case QN_BF16: return find_invalid_bf16_avx2;
    default: return NULL;
    }
}
#else
qn_quantize_fn qn_avx2_convert_quantize(int type) { (void)type; return NULL; }
qn_dequantize_fn qn_avx2_dequantize(int type) { (void)type; return NULL; }
qn_find_invalid_fn qn_avx2_find_invalid(int type) { (void)type; return NULL; }
#endif
