/* IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table. Each 32-block searches 15
 * candidate scales; IQ4_XS then stores the block scales as 6-bit values under one fp16 `d`. */
#include "kernels.h"

const int8_t qn_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

#define IQ4_NTRY 7

/* Best scale of one 32-block (0 for an all-tiny block), searched as ggml's quantize_iq4_* do. */
static float iq4_block_scale(const float *xb, const float *weight) {
    const int8_t *values = qn_kvalues_iq4nl;
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
        const float ax = fabsf(xb[j]);
        if (ax > amax) { amax = ax; max = xb[j]; }
    }
    if (amax < QN_GROUP_MAX_EPS) return 0;
    float d = -max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
        const float q = values[qn_best_index_int8(16, values, id * xb[j])];
        sumqx += weight[j] * q * xb[j];
        sumq2 += weight[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -IQ4_NTRY; itry <= IQ4_NTRY; ++itry) {
        id = (itry + values[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = values[qn_best_index_int8(16, values, id * xb[j])];
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* sigma2 = 2 * mean square over the super-block (32 for NL, 256 for XS). */
static float iq4_sigma2(const float *x, int super_block_size) {
    float sigma2 = 0;
    for (int j = 0; j < super_block_size; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / super_block_size;
    return sigma2;
}

static void iq4_weights(const float *xb, const float *qw, float sigma2, float *weight) {
    if (qw) {
        for (int j = 0; j < 32; ++j) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
    } else {
        for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
    }
}

static void iq4_indices(const float *xb, float id, uint8_t *L) {
    for (int j = 0; j < 32; ++j) L[j] = (uint8_t)qn_best_index_int8(16, qn_kvalues_iq4nl, id * xb[j]);
}

static void pack_nibbles32(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 16; ++j) qs[j] = (uint8_t)(L[j] | (L[16 + j] << 4));
}

void qn_quantize_iq4_nl(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    const int64_t nb = n_per_row / 32;
    block_iq4_nl *y = (block_iq4_nl *)dst;
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row, y += nb) {
        for (int64_t ib = 0; ib < nb; ++ib) {
            const float *xb = src + 32 * ib;
            float weight[32];
            uint8_t L[32];
            iq4_weights(xb, imatrix ? imatrix + 32 * ib : NULL, iq4_sigma2(xb, 32), weight);
            const float scale = iq4_block_scale(xb, weight);
            y[ib].d = qn_fp32_to_fp16(scale);
            /* Indices use the unrounded scale; an all-tiny block gets d = 0 and every index 8. */
            iq4_indices(xb, scale ? 1 / scale : 0, L);
            pack_nibbles32(L, y[ib].qs);
        }
    }
}

void qn_quantize_iq4_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    const int64_t nb = n_per_row / QK_K;
    block_iq4_xs *y = (block_iq4_xs *)dst;
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row, y += nb) {
        for (int64_t ibl = 0; ibl < nb; ++ibl) {
            const float *x = src + QK_K * ibl;
            const float *qw = imatrix ? imatrix + QK_K * ibl : NULL;
            block_iq4_xs *b = y + ibl;
            const float sigma2 = iq4_sigma2(x, QK_K);
            float scales[QK_K / 32], weight[32];
            float max_scale = 0, amax_scale = 0;
            for (int ib = 0; ib < QK_K / 32; ++ib) {
                iq4_weights(x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, weight);
                scales[ib] = iq4_block_scale(x + 32 * ib, weight);
                const float abs_d = fabsf(scales[ib]);
                if (abs_d > amax_scale) { amax_scale = abs_d; max_scale = scales[ib]; }
            }
            b->scales_h = 0;
            /* With every block skipped this is -0.0 and is stored as fp16 0x8000, as in ggml. */
            const float d = -max_scale / 32;
            b->d = qn_fp32_to_fp16(d);
            const float id = d ? 1 / d : 0.f;
            for (int ib = 0; ib < QK_K / 32; ++ib) {
                int l = qn_nearest_int(id * scales[ib]);
                l = QN_MAX(-32, QN_MIN(31, l));
                const float dl = d * l;
                uint8_t L[32];
                iq4_indices(x + 32 * ib, dl ? 1 / dl : 0.f, L);
                pack_nibbles32(L, b->qs + 16 * ib);
                l += 32;
                if (ib % 2 == 0) b->scales_l[ib / 2] = (uint8_t)(l & 0xf);
                else b->scales_l[ib / 2] |= (uint8_t)((l & 0xf) << 4);
                b->scales_h |= (uint16_t)((l >> 4) << 2 * (ib % 8));
            }
        }
    }
}
