/* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: 32-element blocks. Without an importance matrix each block gets a
 * closed-form scale; with one, a weighted search (the row's mean square sets the weights' floor). */
#include "kernels.h"
#include "quant_search.h"

/* The signed value of the first element with the largest magnitude. */
static inline float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    return max;
}

static inline void min_max(const float *x, int n, float *min_out, float *max_out) {
    float min = 3.402823466e+38f, max = -3.402823466e+38f;
    for (int j = 0; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

/* Low nibbles in qs, the fifth bit of element j in bit j of qh. */
static inline void pack_5bit(const uint8_t *q, uint8_t *qs, uint8_t *qh_out) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        qh |= ((q[j] & 0x10u) >> 4) << j;
        qh |= ((q[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    memcpy(qh_out, &qh, 4);
}

static float row_sigma2(const float *x, int64_t n) {
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
    return sum_x2 / n;
}

static inline void block_weights(const float *xb, const float *qw, float sigma2, float *weight) {
    for (int j = 0; j < QK32; ++j) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
}

static void q4_0_block_ref(const float *x, block_q4_0 *y) {
    const float max = signed_absmax(x, QK32);
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = qn_fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
        const uint8_t q0 = (uint8_t)QN_MIN(15, (int8_t)qn_trunc_to_i32(x[j] * id + 8.5f));
        const uint8_t q1 = (uint8_t)QN_MIN(15, (int8_t)qn_trunc_to_i32(x[j + 16] * id + 8.5f));
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void q4_1_block_ref(const float *x, block_q4_1 *y) {
    float min, max;
    min_max(x, QK32, &min, &max);
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = qn_fp32_to_fp16(d);
    y->m = qn_fp32_to_fp16(min);
    for (int j = 0; j < 16; ++j) {
        const uint8_t q0 = (uint8_t)QN_MIN(15, (int8_t)qn_trunc_to_i32((x[j] - min) * id + 0.5f));
        const uint8_t q1 = (uint8_t)QN_MIN(15, (int8_t)qn_trunc_to_i32((x[j + 16] - min) * id + 0.5f));
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void q5_0_block_ref(const float *x, block_q5_0 *y) {
    const float max = signed_absmax(x, QK32);
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = qn_fp32_to_fp16(d);
    uint8_t q[QK32];
    for (int j = 0; j < QK32; ++j) q[j] = (uint8_t)QN_MIN(31, (int8_t)qn_trunc_to_i32(x[j] * id + 16.5f));
    pack_5bit(q, y->qs, y->qh);
}

static void q5_1_block_ref(const float *x, block_q5_1 *y) {
    float min, max;
    min_max(x, QK32, &min, &max);
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = qn_fp32_to_fp16(d);
    y->m = qn_fp32_to_fp16(min);
    uint8_t q[QK32];
    /* Unlike Q5_0 there is no clamp to 31 here: the reference relies on the range. */
    for (int j = 0; j < QK32; ++j) q[j] = (uint8_t)qn_trunc_to_i32((x[j] - min) * id + 0.5f);
    pack_5bit(q, y->qs, y->qh);
}

static void q8_0_block(const float *x, block_q8_0 *y) {
    float amax = 0.0f;
    for (int j = 0; j < QK32; j++) amax = QN_MAX(amax, fabsf(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = qn_fp32_to_fp16(d);
    for (int j = 0; j < QK32; ++j) y->qs[j] = (int8_t)qn_trunc_to_i32(roundf(x[j] * id));
}

/* Stores one imatrix-path block: the searched scale (and min) and the levels L, as the reference
 * does (the nibbles are the search's levels; no re-quantization against the fp16 scale). */
void qn_legacy_store_block(int type, void *block, float d, float the_min, const uint8_t *L) {
    switch (type) {
    case QN_Q4_0: {
        block_q4_0 *y = (block_q4_0 *)block;
        y->d = qn_fp32_to_fp16(d);
        for (int j = 0; j < 16; ++j) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        break;
    }
    case QN_Q4_1: {
        block_q4_1 *y = (block_q4_1 *)block;
        y->d = qn_fp32_to_fp16(d);
        y->m = qn_fp32_to_fp16(-the_min);
        for (int j = 0; j < 16; ++j) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        break;
    }
    case QN_Q5_0: {
        block_q5_0 *y = (block_q5_0 *)block;
        y->d = qn_fp32_to_fp16(d);
        pack_5bit(L, y->qs, y->qh);
        break;
    }
    default: {
        block_q5_1 *y = (block_q5_1 *)block;
        y->d = qn_fp32_to_fp16(d);
        y->m = qn_fp32_to_fp16(-the_min);
        pack_5bit(L, y->qs, y->qh);
        break;
    }
    }
}

float qn_legacy_row_sigma2(const float *x, int64_t n) { return row_sigma2(x, n); }

/* The imatrix path of one row: weights from the row's mean square, then a search per block. */
static void legacy_imatrix_row(int type, const float *x, void *dst, int64_t n_per_row, const float *imatrix) {
    const size_t block_bytes = (size_t)qn_type_info(type)->type_size;
    const float sigma2 = row_sigma2(x, n_per_row);
    float weight[QK32], the_min = 0, d;
    uint8_t L[QK32], Laux[QK32];
    for (int64_t ib = 0; ib < n_per_row / QK32; ++ib) {
        const float *xb = x + QK32 * ib;
        block_weights(xb, imatrix + QK32 * ib, sigma2, weight);
        switch (type) {
        case QN_Q4_0: d = qn_make_qx_quants(QK32, 8, xb, (int8_t *)L, weight); break;
        case QN_Q5_0: d = qn_make_qx_quants(QK32, 16, xb, (int8_t *)L, weight); break;
        case QN_Q4_1: d = qn_make_qkx_quants(QK32, 15, xb, weight, L, &the_min, Laux, -0.9f, 0.05f, 36, false); break;
        default: d = qn_make_qkx_quants(QK32, 31, xb, weight, L, &the_min, Laux, -0.9f, 0.05f, 36, false); break;
        }
        qn_legacy_store_block(type, (uint8_t *)dst + ib * block_bytes, d, the_min, L);
    }
}

#define LEGACY_ROWS(type, block_t, ref_block)                                                                   \
    const int64_t nb = n_per_row / QK32;                                                                        \
    block_t *y = (block_t *)dst;                                                                                \
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row, y += nb) {                                       \
        if (imatrix) legacy_imatrix_row(type, src, y, n_per_row, imatrix);                                      \
        else for (int64_t ib = 0; ib < nb; ++ib) ref_block(src + QK32 * ib, y + ib);                            \
    }

void qn_quantize_q4_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    LEGACY_ROWS(QN_Q4_0, block_q4_0, q4_0_block_ref)
}

void qn_quantize_q4_1(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    LEGACY_ROWS(QN_Q4_1, block_q4_1, q4_1_block_ref)
}

void qn_quantize_q5_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    LEGACY_ROWS(QN_Q5_0, block_q5_0, q5_0_block_ref)
}

void qn_quantize_q5_1(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    LEGACY_ROWS(QN_Q5_1, block_q5_1, q5_1_block_ref)
}

/* Q8_0 has no imatrix path: the importance weights are ignored, as in ggml. */
void qn_quantize_q8_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK32);
    block_q8_0 *y = (block_q8_0 *)dst;
    for (int64_t ib = 0; ib < nb; ++ib) q8_0_block(src + QK32 * ib, y + ib);
}
