/* IQ3_XXS and IQ3_S: 3-bit lattice quantization of 256-element super-blocks. Groups of 4
 * magnitudes map to points of a 256- (XXS) or 512-point (S) grid with levels {1, 3, ..., 15}; one
 * fp16 d per super-block and a 4-bit scale per 32 elements. */
#include "kernels.h"
#include "quant_iq_lattice.h"

/* IQ3_XXS: 64 8-bit grid indices, then per 32 elements a word of four 7-bit sign groups (even
 * parity) and the scale in bits 28-31. */
static void iq3_xxs_block(const qn_iq_grid *grid, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    const qn_lattice_cfg cfg = {.grid = grid, .kernels = kernels, .n = 32, .kmax = 8, .is_lo = -15, .is_hi = 15, .is_step = 0.2f,
                                .eps = 1e-8f, .even_signs = true, .no_weights = QN_IQ_X2};
    block_iq3_xxs *y = (block_iq3_xxs *)out;
    float scales[QK_K / 32], max_scale = 0;
    uint16_t idx[8];
    uint8_t signs[4];
    uint8_t q3[QK_K / 4] = {0};
    uint32_t scales_and_signs[QK_K / 32] = {0};
    y->d = qn_fp32_to_fp16(0.f);
    const float sigma2 = 2 * qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        float scale;
        scales[ib] = 0;
        if (!qn_iq_fit_sub_block(&cfg, xbl + 32 * ib, qwbl ? qwbl + 32 * ib : NULL, sigma2, signs, idx, &scale)) continue;
        for (int k = 0; k < 8; ++k) q3[8 * ib + k] = (uint8_t)idx[k];
        scales_and_signs[ib] = signs[0] | (uint32_t)signs[1] << 7 | (uint32_t)signs[2] << 14 | (uint32_t)signs[3] << 21;
        scales[ib] = scale;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) {
        memset(y->qs, 0, sizeof(y->qs));
        return;
    }
    const float d = max_scale / 31;
    y->d = qn_fp32_to_fp16(d * 1.0125f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 32; ++ib) scales_and_signs[ib] |= (uint32_t)qn_iq_scale_code(id, scales[ib], 15) << 28;
    memcpy(y->qs, q3, sizeof(q3));
    memcpy(y->qs + QK_K / 4, scales_and_signs, sizeof(scales_and_signs));
}

/* IQ3_S: low 8 index bits in qs, bit 8 in qh, a sign byte per 8 elements, scales two per byte.
 * ggml advances the qs and signs cursors only past sub-blocks it stores, so after an all-zero
 * sub-block the following ones move up into its place (an upstream bug: readers then take them for
 * the wrong sub-block). Byte identity means we do the same. */
static void iq3_s_block(const qn_iq_grid *grid, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    const qn_lattice_cfg cfg = {.grid = grid, .kernels = kernels, .n = 32, .kmax = 8, .is_lo = -9, .is_hi = 9, .is_step = 0.2f,
                                .eps = 0, .start_off_grid = true, .refit_every_group = true, .no_weights = QN_IQ_X2};
    block_iq3_s *y = (block_iq3_s *)out;
    float scales[QK_K / 32], max_scale = 0;
    uint16_t idx[8];
    uint8_t signs[4];
    memset(y, 0, sizeof(*y));
    y->d = qn_fp32_to_fp16(0.f);
    uint8_t *qs = y->qs, *signs_out = y->signs;
    const float sigma2 = 2 * qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        float scale;
        scales[ib] = 0;
        if (!qn_iq_fit_sub_block(&cfg, xbl + 32 * ib, qwbl ? qwbl + 32 * ib : NULL, sigma2, signs, idx, &scale)) continue;
        for (int k = 0; k < 8; ++k) {
            qs[k] = (uint8_t)(idx[k] & 255);
            y->qh[ib] |= (uint8_t)((idx[k] >> 8) << k);
        }
        qs += 8;
        memcpy(signs_out, signs, 4);
        signs_out += 4;
        scales[ib] = scale;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) return;
    const float d = max_scale / 31;
    y->d = qn_fp32_to_fp16(d * 1.033f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 32; ib += 2) {
        const int l1 = qn_iq_scale_code(id, scales[ib + 0], 15);
        const int l2 = qn_iq_scale_code(id, scales[ib + 1], 15);
        y->scales[ib / 2] = (uint8_t)(l1 | l2 << 4);
    }
}

void qn_quantize_iq3_xxs_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_iq_quantize_rows(QN_GRID_IQ3_XXS, iq3_xxs_block, k, sizeof(block_iq3_xxs), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq3_s_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_iq_quantize_rows(QN_GRID_IQ3_S, iq3_s_block, k, sizeof(block_iq3_s), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq3_xxs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq3_xxs_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq3_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq3_s_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}
