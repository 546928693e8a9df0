/* NEON twins (arm64, where NEON is always present): the lane kernels of quant_lanes.inc (4 lanes),
 * plus Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, TQ1_0, TQ2_0, the F16/BF16 conversions and the NaN/Inf row checks, under the same rules as the AVX2
 * twins: exact conversions, and C's float -> int conversion as x86-64 performs it. */
#include "simd_kernels.h"

#if QN_HAVE_NEON_BUILD
#include "vec_neon.h"
#include "quant_lanes.inc"

static inline bool block_is_finite_neon(const float32x4_t v[8]) {
    const uint32x4_t e = vdupq_n_u32(0x7f800000u);
    uint32x4_t any = vdupq_n_u32(0);
    for (int k = 0; k < 8; ++k) any = vorrq_u32(any, vceqq_u32(vandq_u32(vreinterpretq_u32_f32(v[k]), e), e));
    return vmaxvq_u32(any) == 0;
}

/* roundf, then x86-64's conversion: out of range (here only from id = Inf) gives INT32_MIN. */
static inline int32x4_t round_to_i32_x86(float32x4_t x) {
    const int32x4_t r = vcvtaq_s32_f32(x); /* to nearest, ties away from zero */
    const uint32x4_t in_range = vcltq_f32(vabsq_f32(x), vdupq_n_f32(2147483648.0f));
    return vbslq_s32(in_range, r, vdupq_n_s32(INT32_MIN));
}

static void q8_0_neon(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK32);
    block_q8_0 *y = (block_q8_0 *)dst;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float *x = src + QK32 * ib;
        float32x4_t v[8];
        for (int k = 0; k < 8; ++k) v[k] = vld1q_f32(x + 4 * k);
        if (!block_is_finite_neon(v)) {
            qn_quantize_q8_0(x, y + ib, 1, QK32, NULL);
            continue;
        }
        float32x4_t m = vabsq_f32(v[0]);
        for (int k = 1; k < 8; ++k) m = vmaxq_f32(m, vabsq_f32(v[k]));
        const float d = vmaxvq_f32(m) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[ib].d = qn_fp32_to_fp16(d);
        for (int k = 0; k < 8; k += 2) {
            const int32x4_t a = round_to_i32_x86(vmulq_n_f32(v[k], id)), b = round_to_i32_x86(vmulq_n_f32(v[k + 1], id));
            /* Truncating narrows keep the low byte, as C's int -> int8_t conversion does. */
            const int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
            vst1_s8(y[ib].qs + 4 * k, vmovn_s16(h));
        }
    }
}

/* x86-64's float -> int32 conversion: truncation, INT32_MIN out of range (and for NaN). */
static inline int32x4_t trunc_to_i32_x86(float32x4_t x) {
    const uint32x4_t in_range = vcltq_f32(vabsq_f32(x), vdupq_n_f32(2147483648.0f));
    return vbslq_s32(in_range, vcvtq_s32_f32(x), vdupq_n_s32(INT32_MIN));
}

/* Q4_0, Q5_0, Q4_1, Q5_1 without an imatrix, one block at a time; levels are computed by vector
 * (C's float -> int8_t conversion: low byte, sign-extended, then the reference's clamp) and stored
 * by qn_legacy_store_block, the scalar file's packing. */
static void legacy_neon(int type, const float *src, void *dst, int64_t nrow, int64_t n_per_row) {
    const bool with_min = type == QN_Q4_1 || type == QN_Q5_1;
    const bool five = type == QN_Q5_0 || type == QN_Q5_1;
    const size_t bytes = (size_t)qn_type_info(type)->type_size;
    const qn_quantize_fn reference = qn_get_quantize(QN_SIMD_SCALAR, type);
    const int64_t nb = nrow * (n_per_row / QK32);
    uint8_t *y = (uint8_t *)dst;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float *x = src + QK32 * ib;
        float32x4_t v[8];
        for (int k = 0; k < 8; ++k) v[k] = vld1q_f32(x + 4 * k);
        if (!block_is_finite_neon(v)) {
            reference(x, y + ib * bytes, 1, QK32, NULL);
            continue;
        }
        float d, min = 0.0f, bias;
        if (with_min) {
            float32x4_t lo = v[0], hi = v[0];
            for (int k = 1; k < 8; ++k) { lo = vminq_f32(lo, v[k]); hi = vmaxq_f32(hi, v[k]); }
            min = vminvq_f32(lo);
            d = (vmaxvq_f32(hi) - min) / (five ? 31 : 15);
            bias = 0.5f;
        } else {
            float32x4_t m = vabsq_f32(v[0]);
            for (int k = 1; k < 8; ++k) m = vmaxq_f32(m, vabsq_f32(v[k]));
            const float amax = vmaxvq_f32(m);
            float max = 0.0f;
            /* The reference keeps the sign of the first element reaching the largest magnitude. */
            for (int j = 0; j < QK32 && amax > 0.0f; ++j) {
                if (fabsf(x[j]) == amax) { max = x[j]; break; }
            }
            d = max / (five ? -16 : -8);
            bias = five ? 16.5f : 8.5f;
        }
        const float id = d ? 1.0f / d : 0.0f;
        const int clamp_max = type == QN_Q5_1 ? 0 : five ? 31 : 15;
        int32_t q[QK32];
        for (int k = 0; k < 8; ++k) {
            const float32x4_t xv = with_min ? vsubq_f32(v[k], vdupq_n_f32(min)) : v[k];
            int32x4_t t = trunc_to_i32_x86(vaddq_f32(vmulq_n_f32(xv, id), vdupq_n_f32(bias)));
            if (clamp_max) t = vminq_s32(vshrq_n_s32(vshlq_n_s32(t, 24), 24), vdupq_n_s32(clamp_max));
            vst1q_s32(q + 4 * k, t);
        }
        uint8_t L[QK32];
        for (int j = 0; j < QK32; ++j) L[j] = (uint8_t)q[j];
        /* The no-imatrix blocks store min itself (the imatrix path stores -the_min). */
        qn_legacy_store_block(type, y + ib * bytes, d, -min, L);
    }
}

#define LEGACY_NEON(name, TYPE)                                                                               \
    static void name##_neon(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) { \
        if (imatrix) lanes_legacy_imatrix(TYPE, src, dst, nrow, n_per_row, imatrix);                          \
        else legacy_neon(TYPE, src, dst, nrow, n_per_row);                                                     \
    }

LEGACY_NEON(q4_0, QN_Q4_0)
LEGACY_NEON(q5_0, QN_Q5_0)
LEGACY_NEON(q4_1, QN_Q4_1)
LEGACY_NEON(q5_1, QN_Q5_1)

static void dequantize_f16_neon(const void *src, float *dst, int64_t n) {
    const qn_fp16 *x = (const qn_fp16 *)src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    for (; i < n; ++i) dst[i] = qn_fp16_to_fp32(x[i]);
}

static void dequantize_bf16_neon(const void *src, float *dst, int64_t n) {
    const uint16_t *x = (const uint16_t *)src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(x + i), 16)));
    for (; i < n; ++i) dst[i] = qn_bf16_to_fp32(x[i]);
}

/* fcvtn rounds to nearest even like ggml's conversion; NaN lanes become sign | 0x7E00 as in ggml. */
static void quantize_f16_neon(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    qn_fp16 *y = (qn_fp16 *)dst;
    const int64_t n = nrow * n_per_row;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(src + i);
        uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));
        const uint32x4_t nan = vmvnq_u32(vceqq_f32(v, v));
        if (vmaxvq_u32(nan)) {
            const uint32x4_t bits = vreinterpretq_u32_f32(v);
            const uint16x4_t canon = vmovn_u32(vorrq_u32(vandq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(0x8000)), vdupq_n_u32(0x7E00)));
            h = vbsl_u16(vmovn_u32(nan), canon, h);
        }
        vst1_u16(y + i, h);
    }
    for (; i < n; ++i) y[i] = qn_fp32_to_fp16(src[i]);
}

/* First row with an exponent of all ones, or -1 (see convert_avx2.c). */
static int64_t find_nonfinite_rows_neon(const uint8_t *p, int64_t nrow, int64_t n_per_row, int bytes, uint32_t exp_mask) {
    const size_t row_bytes = (size_t)n_per_row * bytes;
    for (int64_t r = 0; r < nrow; ++r) {
        const uint8_t *row = p + (size_t)r * row_bytes;
        size_t k = 0;
        uint32_t bad = 0;
        if (bytes == 4) {
            const uint32x4_t m = vdupq_n_u32(exp_mask);
            uint32x4_t acc = vdupq_n_u32(0);
            for (; k + 16 <= row_bytes; k += 16) acc = vorrq_u32(acc, vceqq_u32(vandq_u32(vld1q_u32((const uint32_t *)(row + k)), m), m));
            bad = vmaxvq_u32(acc);
        } else {
            const uint16x8_t m = vdupq_n_u16((uint16_t)exp_mask);
            uint16x8_t acc = vdupq_n_u16(0);
            for (; k + 16 <= row_bytes; k += 16) acc = vorrq_u16(acc, vceqq_u16(vandq_u16(vld1q_u16((const uint16_t *)(row + k)), m), m));
            bad = vmaxvq_u16(acc);
        }
        if (bad) return r;
        for (; k < row_bytes; k += (size_t)bytes) {
            uint32_t w = 0;
            memcpy(&w, row + k, (size_t)bytes);
            if ((w & exp_mask) == exp_mask) return r;
        }
    }
    return -1;
}

static int64_t find_invalid_f32_neon(const void *d, int64_t nrow, int64_t n) { return find_nonfinite_rows_neon(d, nrow, n, 4, 0x7f800000u); }
static int64_t find_invalid_f16_neon(const void *d, int64_t nrow, int64_t n) { return find_nonfinite_rows_neon(d, nrow, n, 2, 0x7c00u); }
static int64_t find_invalid_bf16_neon(const void *d, int64_t nrow, int64_t n) { return find_nonfinite_rows_neon(d, nrow, n, 2, 0x7f80u); }

/* TQ1_0 and TQ2_0: trits as the reference's lroundf(x * id) + 1 (ties away from zero; out of range,
 * from id = Inf, gives x86-64's LONG_MIN, whose low byte plus one is 1), packed by the scalar file.
 * Blocks holding NaN/Inf take the reference. */
static void ternary_neon(int type, const float *src, void *dst, int64_t nrow, int64_t n_per_row) {
    const int64_t nb = nrow * (n_per_row / QK_K);
    uint8_t t[QK_K];
    for (int64_t i = 0; i < nb; ++i) {
        const float *x = src + QK_K * i;
        float32x4_t v[64];
        bool finite = true;
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int k = 0; k < 64; k += 8) {
            for (int j = 0; j < 8; ++j) v[k + j] = vld1q_f32(x + 4 * (k + j));
            finite = finite && block_is_finite_neon(v + k);
            for (int j = 0; j < 8; ++j) m = vmaxq_f32(m, vabsq_f32(v[k + j]));
        }
        if (!finite) {
            const size_t bytes = type == QN_TQ1_0 ? sizeof(block_tq1_0) : sizeof(block_tq2_0);
            (type == QN_TQ1_0 ? qn_quantize_tq1_0 : qn_quantize_tq2_0)(x, (uint8_t *)dst + (size_t)i * bytes, 1, QK_K, NULL);
            continue;
        }
        const float d = vmaxvq_f32(m);
        const float id = d ? 1.0f / d : 0.0f;
        const int32x4_t one = vdupq_n_s32(1);
        for (int k = 0; k < 64; k += 2) {
            const int32x4_t a = vaddq_s32(round_to_i32_x86(vmulq_n_f32(v[k], id)), one);
            const int32x4_t b = vaddq_s32(round_to_i32_x86(vmulq_n_f32(v[k + 1], id)), one);
            vst1_u8(t + 4 * k, vmovn_u16(vreinterpretq_u16_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b)))));
        }
        qn_tq_store(type, d, t, dst, i);
    }
}

static void tq1_0_neon(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    ternary_neon(QN_TQ1_0, src, dst, nrow, n_per_row);
}

static void tq2_0_neon(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    ternary_neon(QN_TQ2_0, src, dst, nrow, n_per_row);
}

qn_quantize_fn qn_neon_quantize(int type) {
    switch (type) {
    case QN_Q8_0: return q8_0_neon;
    case QN_Q4_0: return q4_0_neon;
    case QN_Q5_0: return q5_0_neon;
    case QN_Q4_1: return q4_1_neon;
    case QN_Q5_1: return q5_1_neon;
    case QN_F16: return quantize_f16_neon;
    case QN_TQ1_0: return tq1_0_neon;
    case QN_TQ2_0: return tq2_0_neon;
    default: return lanes_quantize(type);
    }
}

qn_dequantize_fn qn_neon_dequantize(int type) {
    switch (type) {
    case QN_F16: return dequantize_f16_neon;
    case QN_BF16: return dequantize_bf16_neon;
    default: return NULL;
    }
}

qn_find_invalid_fn qn_neon_find_invalid(int type) {
    switch (type) {
    case QN_F32: return find_invalid_f32_neon;
    case QN_F16: return find_invalid_f16_neon;
    case QN_BF16: return find_invalid_bf16_neon;
    default: return NULL;
    }
}
#else
qn_quantize_fn qn_neon_quantize(int type) { (void)type; return NULL; }
qn_dequantize_fn qn_neon_dequantize(int type) { (void)type; return NULL; }
qn_find_invalid_fn qn_neon_find_invalid(int type) { (void)type; return NULL; }
#endif
