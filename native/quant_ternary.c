/* TQ1_0 and TQ2_0: ternary weights {-1, 0, 1} times the block's absolute maximum. TQ1_0 packs five
 * trits per byte as a fixed-point fraction of 3^5; TQ2_0 stores each trit in two bits. */
#include "kernels.h"

static float tq_absmax(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < QK_K; j++) amax = QN_MAX(amax, fabsf(x[j]));
    return amax;
}

/* As ggml: `int xi = lroundf(x*id) + 1`, keeping the low 32 bits of the long sum. */
static inline int trit(float x, float id) { return (int)(uint32_t)(uint64_t)(qn_lroundf(x * id) + 1); }

/* q holds up to five trits in base 3; store ceil(q * 256 / 243) so a multiply recovers them. */
static inline uint8_t tq1_byte(uint8_t q) { return (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243); }

void qn_quantize_tq1_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK_K);
    block_tq1_0 *y = (block_tq1_0 *)dst;
    for (int64_t i = 0; i < nb; i++) {
        const float *x = src + QK_K * i;
        const float d = tq_absmax(x);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = qn_fp32_to_fp16(d);
        for (int m = 0; m < 32; ++m) {
            uint8_t q = 0;
            for (int n = 0; n < 5; ++n) q = (uint8_t)(q * 3 + trit(x[m + n * 32], id));
            y[i].qs[m] = tq1_byte(q);
        }
        x += 160;
        for (int m = 0; m < 16; ++m) {
            uint8_t q = 0;
            for (int n = 0; n < 5; ++n) q = (uint8_t)(q * 3 + trit(x[m + n * 16], id));
            y[i].qs[32 + m] = tq1_byte(q);
        }
        x += 80;
        for (int j = 0; j < 4; ++j) {
            uint8_t q = 0;
            for (int m = 0; m < 4; ++m) q = (uint8_t)(q * 3 + trit(x[j + m * 4], id));
            q = (uint8_t)(q * 3); /* the first value goes to the most significant trit */
            y[i].qh[j] = tq1_byte(q);
        }
    }
}

void qn_quantize_tq2_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK_K);
    block_tq2_0 *y = (block_tq2_0 *)dst;
    for (int64_t i = 0; i < nb; i++) {
        const float *x = src + QK_K * i;
        const float d = tq_absmax(x);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = qn_fp32_to_fp16(d);
        for (int h = 0; h < 2; ++h) {
            for (int m = 0; m < 32; ++m) {
                uint8_t q = 0;
                for (int n = 0; n < 4; ++n) q = (uint8_t)(q + ((trit(x[128 * h + m + n * 32], id) & 3) << (2 * n)));
                y[i].qs[32 * h + m] = q;
            }
        }
    }
}
