/* Q1_0 and Q2_0: one sign bit per element under the mean magnitude of 128 (Q1_0), and levels
 * {-1, 0, 1, 2} under the largest magnitude of 64 (Q2_0). Importance weights are not used. */
#include "kernels.h"

void qn_quantize_q1_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    block_q1_0 *y = (block_q1_0 *)dst;
    const int64_t nb = nrow * (n_per_row / 128);
    for (int64_t i = 0; i < nb; ++i, ++y) {
        const float *x = src + 128 * i;
        float sum_abs = 0.0f;
        for (int j = 0; j < 128; ++j) sum_abs += fabsf(x[j]);
        y->d = qn_fp32_to_fp16(sum_abs / 128);
        memset(y->qs, 0, sizeof(y->qs));
        for (int j = 0; j < 128; ++j) {
            if (x[j] >= 0.0f) y->qs[j / 8] |= (uint8_t)(1 << (j % 8));
        }
    }
}

void qn_quantize_q2_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    block_q2_0 *y = (block_q2_0 *)dst;
    const int64_t nb = nrow * (n_per_row / 64);
    for (int64_t i = 0; i < nb; ++i, ++y) {
        const float *x = src + 64 * i;
        float amax = 0.0f;
        for (int j = 0; j < 64; ++j) {
            const float a = fabsf(x[j]);
            if (a > amax) amax = a;
        }
        const float d = amax;
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        y->d = qn_fp32_to_fp16(d);
        memset(y->qs, 0, sizeof(y->qs));
        for (int j = 0; j < 64; ++j) {
            int q = qn_trunc_to_i32(roundf(x[j] * id)) + 1;
            q = QN_MAX(0, QN_MIN(3, q));
            y->qs[j / 4] |= (uint8_t)(q << (j % 4) * 2);
        }
    }
}
