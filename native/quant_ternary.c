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

/* Five trits per byte along 32 bytes, then along 16 bytes, then four per qh byte (plus one more
 * factor of 3 so the first trit is the most significant). t[] holds each trit's low byte. */
static void tq1_pack(const uint8_t *t, block_tq1_0 *y) {
    for (int m = 0; m < 32; ++m) {
        uint8_t q = 0;
        for (int n = 0; n < 5; ++n) q = (uint8_t)(q * 3 + t[m + n * 32]);
        y->qs[m] = tq1_byte(q);
    }
    for (int m = 0; m < 16; ++m) {
        uint8_t q = 0;
        for (int n = 0; n < 5; ++n) q = (uint8_t)(q * 3 + t[160 + m + n * 16]);
        y->qs[32 + m] = tq1_byte(q);
    }
    for (int j = 0; j < 4; ++j) {
        uint8_t q = 0;
        for (int m = 0; m < 4; ++m) q = (uint8_t)(q * 3 + t[240 + j + m * 4]);
        y->qh[j] = tq1_byte((uint8_t)(q * 3));
    }
}

/* Four two-bit trits per byte, 32 apart, per 128-half. */
static void tq2_pack(const uint8_t *t, block_tq2_0 *y) {
    for (int h = 0; h < 2; ++h) {
        for (int m = 0; m < 32; ++m) {
            uint8_t q = 0;
            for (int n = 0; n < 4; ++n) q = (uint8_t)(q + ((t[128 * h + m + n * 32] & 3) << (2 * n)));
            y->qs[32 * h + m] = q;
        }
    }
}

void qn_tq_store(int type, float d, const uint8_t *t, void *dst, int64_t i) {
    if (type == QN_TQ1_0) {
        ((block_tq1_0 *)dst)[i].d = qn_fp32_to_fp16(d);
        tq1_pack(t, (block_tq1_0 *)dst + i);
    } else {
        ((block_tq2_0 *)dst)[i].d = qn_fp32_to_fp16(d);
        tq2_pack(t, (block_tq2_0 *)dst + i);
    }
}

/* d = the block's largest magnitude (stored fp16); each weight's trit. */
static float tq_trits(const float *x, uint8_t *t) {
    const float d = tq_absmax(x);
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK_K; ++j) t[j] = (uint8_t)trit(x[j], id);
    return d;
}

void qn_quantize_tq1_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK_K);
    uint8_t t[QK_K];
    for (int64_t i = 0; i < nb; i++) qn_tq_store(QN_TQ1_0, tq_trits(src + QK_K * i, t), t, dst, i);
}

void qn_quantize_tq2_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK_K);
    uint8_t t[QK_K];
    for (int64_t i = 0; i < nb; i++) qn_tq_store(QN_TQ2_0, tq_trits(src + QK_K * i, t), t, dst, i);
}
