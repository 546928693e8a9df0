/* MXFP4 and NVFP4: 4-bit E2M1 values (doubled, so the table holds integers) under a power-of-two
 * scale per 32 elements (MXFP4, E8M0) or an unsigned E4M3 scale per 16 (NVFP4, four per 64-block).
 * Importance weights are not used. */
#include "kernels.h"

const int8_t qn_kvalues_fp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* Half of 2^(e - 127), as ggml_e8m0_to_fp32_half builds it (subnormal for e < 2). */
float qn_e8m0_to_fp32_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return qn_f32_from_bits(bits);
}

/* Unsigned E4M3 (bias 7, no infinities; 0x7F reads as 0) times 0.5, as ggml_ue4m3_to_fp32. */
float qn_ue4m3_to_fp32(uint8_t x) {
    if (x == 0 || x == 0x7F) return 0.0f;
    const int exp = (x >> 3) & 0xF, man = x & 0x7;
    const float raw = exp == 0 ? ldexpf((float)man, -9) : ldexpf(1.0f + (float)man / 8.0f, exp - 7);
    return raw * 0.5f;
}

/* ggml_fp32_to_ue4m3: clamps to 448, rounds the mantissa on its first dropped bit. */
uint8_t qn_fp32_to_ue4m3(float x) {
    if (!(x > 0.0f)) return 0;
    if (x > 448.0f) x = 448.0f;
    const uint32_t bits = qn_f32_to_bits(x);
    int e = (int)((bits >> 23) & 0xFF) - 127 + 7;
    if (e <= 0) {
        int man = (int)(x * 512.0f + 0.5f);
        if (man > 7) man = 7;
        return man < 1 ? 0 : (uint8_t)man;
    }
    if (e >= 15) return 0x7E;
    int man = (int)((bits >> 20) & 0x7) + (int)((bits >> 19) & 1);
    if (man > 7) {
        man = 0;
        if (++e >= 15) return 0x7E;
    }
    return (uint8_t)(e << 3 | man);
}

/* The first index whose scaled table value is nearest to x. */
static uint8_t best_index_fp4(float x, float e) {
    int best = 0;
    float best_err = fabsf(qn_kvalues_fp4[0] * e - x);
    for (int i = 1; i < 16; ++i) {
        const float err = fabsf(qn_kvalues_fp4[i] * e - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return (uint8_t)best;
}

/* ggml computes floorf(log2f(amax)). glibc's log2f and the double log2 rounded to float give the same
 * floor for every positive finite float (checked exhaustively, all 2^31 - 2^23 of them: 7456 values
 * just below a power of two round up to it in both); the double form does not depend on the quality
 * of a platform's log2f. Out-of-range values convert as on x86-64. */
uint8_t qn_mxfp4_exponent(float amax) {
    if (!(amax > 0.0f)) return 0;
    return (uint8_t)qn_trunc_to_i32(floorf((float)log2((double)amax)) - 2 + 127);
}

void qn_quantize_mxfp4(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    block_mxfp4 *y = (block_mxfp4 *)dst;
    const int64_t nb = nrow * (n_per_row / 32);
    for (int64_t i = 0; i < nb; ++i, ++y) {
        const float *x = src + 32 * i;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) {
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        }
        const uint8_t e = qn_mxfp4_exponent(amax);
        const float d = qn_e8m0_to_fp32_half(e);
        y->e = e;
        for (int j = 0; j < 16; ++j) y->qs[j] = (uint8_t)(best_index_fp4(x[j], d) | best_index_fp4(x[16 + j], d) << 4);
    }
}

void qn_quantize_nvfp4(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    block_nvfp4 *y = (block_nvfp4 *)dst;
    const int64_t nb = nrow * (n_per_row / 64);
    for (int64_t i = 0; i < nb; ++i, ++y) {
        for (int s = 0; s < 4; ++s) {
            const float *x = src + 64 * i + 16 * s;
            float amax = 0.0f;
            for (int j = 0; j < 16; ++j) {
                if (amax < fabsf(x[j])) amax = fabsf(x[j]);
            }
            const uint8_t ue = qn_fp32_to_ue4m3(amax / 6.0f);
            y->d[s] = ue;
            const float d = qn_ue4m3_to_fp32(ue);
            for (int j = 0; j < 8; ++j) y->qs[8 * s + j] = (uint8_t)(best_index_fp4(x[j], d) | best_index_fp4(x[8 + j], d) << 4);
        }
    }
}
