/* Float targets: F16 and BF16 by ggml's scalar conversions, F32 as a copy. */
#include "kernels.h"

void qn_quantize_f16(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    qn_fp16 *y = (qn_fp16 *)dst;
    const int64_t n = nrow * n_per_row;
    for (int64_t i = 0; i < n; ++i) y[i] = qn_fp32_to_fp16(src[i]);
}

void qn_quantize_bf16(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    uint16_t *y = (uint16_t *)dst;
    const int64_t n = nrow * n_per_row;
    for (int64_t i = 0; i < n; ++i) y[i] = qn_fp32_to_bf16(src[i]);
}

void qn_quantize_f32(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    memcpy(dst, src, (size_t)(nrow * n_per_row) * sizeof(float));
}
