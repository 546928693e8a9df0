/* IQ2_XXS, IQ2_XS and IQ2_S: 2-bit lattice quantization of 256-element super-blocks. Groups of 8
 * magnitudes map to points of a 256-, 512- or 1024-point grid with levels {1, 3, 5}; signs are stored
 * separately (7 bits with even parity for XXS/XS, 8 bits for S); one fp16 d per super-block and a
 * 4-bit scale per 32 (XXS) or 16 (XS, S) elements. XXS and XS need importance weights. */
#include "kernels.h"
#include "quant_iq_lattice.h"

/* IQ2_XXS: per 32 elements two words, four 8-bit grid indices, then four 7-bit sign groups and the
 * 4-bit scale in bits 28-31. */
static void iq2_xxs_block(const qn_iq_grid *grid, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    const qn_lattice_cfg cfg = {.grid = grid, .kernels = kernels, .n = 32, .kmax = 3, .is_lo = -6, .is_hi = 6, .is_step = 0.1f,
                                .eps = QN_GROUP_MAX_EPS, .start_from_qp = true, .refit_every_group = true,
                                .refit_even_if_on_grid = true, .even_signs = true, .no_weights = QN_IQ_NEEDS_WEIGHTS};
    block_iq2_xxs *y = (block_iq2_xxs *)out;
    float scales[QK_K / 32], max_scale = 0;
    uint16_t idx[4];
    uint8_t signs[4];
    uint32_t q2[2 * (QK_K / 32)] = {0};
    y->d = qn_fp32_to_fp16(0.f);
    const float sigma2 = qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        float scale;
        scales[ib] = 0;
        if (!qn_iq_fit_sub_block(&cfg, xbl + 32 * ib, qwbl + 32 * ib, sigma2, signs, idx, &scale)) continue;
        for (int k = 0; k < 4; ++k) {
            q2[2 * ib + 0] |= (uint32_t)idx[k] << 8 * k;
            q2[2 * ib + 1] |= (uint32_t)signs[k] << 7 * k;
        }
        scales[ib] = scale;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) {
        memset(y->qs, 0, sizeof(y->qs));
        return;
    }
    const float d = max_scale / 31;
    y->d = qn_fp32_to_fp16(d);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 32; ++ib) q2[2 * ib + 1] |= (uint32_t)qn_iq_scale_code(id, scales[ib], 15) << 28;
    memcpy(y->qs, q2, sizeof(y->qs));
}

/* IQ2_XS and IQ2_S: 16 sub-blocks of 16, their 4-bit scales two per byte under d = max/31 (IQ2_S
 * stores d times 0.9875). */
static void iq2_16_scales(const float *scales, float max_scale, float fudge, qn_fp16 *dh, uint8_t *out) {
    const float d = max_scale / 31;
    *dh = qn_fp32_to_fp16(d * fudge);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const int l = qn_iq_scale_code(id, scales[ib], 15);
        if (ib % 2 == 0) out[ib / 2] = (uint8_t)l;
        else out[ib / 2] |= (uint8_t)(l << 4);
    }
}

/* IQ2_XS: per group a u16 = 9-bit grid index | 7 sign bits << 9. */
static void iq2_xs_block(const qn_iq_grid *grid, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    const qn_lattice_cfg cfg = {.grid = grid, .kernels = kernels, .n = 16, .kmax = 3, .is_lo = -9, .is_hi = 9, .is_step = 0.1f,
                                .eps = QN_GROUP_MAX_EPS, .even_signs = true, .no_weights = QN_IQ_NEEDS_WEIGHTS};
    block_iq2_xs *y = (block_iq2_xs *)out;
    float scales[QK_K / 16], max_scale = 0;
    uint16_t idx[2];
    uint8_t signs[2];
    uint16_t q2[2 * (QK_K / 16)] = {0};
    y->d = qn_fp32_to_fp16(0.f);
    memset(y->scales, 0, sizeof(y->scales));
    const float sigma2 = qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        float scale;
        scales[ib] = 0;
        if (!qn_iq_fit_sub_block(&cfg, xbl + 16 * ib, qwbl + 16 * ib, sigma2, signs, idx, &scale)) continue;
        for (int k = 0; k < 2; ++k) q2[2 * ib + k] = (uint16_t)(idx[k] | signs[k] << 9);
        scales[ib] = scale;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) {
        memset(y->qs, 0, sizeof(y->qs));
        return;
    }
    iq2_16_scales(scales, max_scale, 1.0f, &y->d, y->scales);
    memcpy(y->qs, q2, sizeof(y->qs));
}

/* IQ2_S: low 8 index bits in qs, the top 2 in qh, a full sign byte per group after the indices. */
static void iq2_s_block(const qn_iq_grid *grid, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    const qn_lattice_cfg cfg = {.grid = grid, .kernels = kernels, .n = 16, .kmax = 3, .is_lo = -9, .is_hi = 9, .is_step = 0.1f,
                                .eps = 1e-8f, .no_weights = QN_IQ_QUARTER_SIGMA2_PLUS_X2};
    block_iq2_s *y = (block_iq2_s *)out;
    float scales[QK_K / 16], max_scale = 0;
    uint16_t idx[2];
    uint8_t signs[2];
    memset(y, 0, sizeof(*y));
    y->d = qn_fp32_to_fp16(0.f);
    const float sigma2 = 2 * qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        float scale;
        scales[ib] = 0;
        if (!qn_iq_fit_sub_block(&cfg, xbl + 16 * ib, qwbl ? qwbl + 16 * ib : NULL, sigma2, signs, idx, &scale)) continue;
        for (int k = 0; k < 2; ++k) {
            const int i8 = 2 * ib + k;
            y->qs[i8] = (uint8_t)(idx[k] & 255);
            y->qh[i8 / 4] |= (uint8_t)((idx[k] >> 8) << 2 * (i8 % 4));
            y->qs[QK_K / 8 + i8] = signs[k];
        }
        scales[ib] = scale;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (max_scale) iq2_16_scales(scales, max_scale, 0.9875f, &y->d, y->scales);
}

/* XXS and XS have no rule without importance weights (ggml asserts): callers check
 * qn_quantize_requires_imatrix, and qn_quantize_prepare has built the grid. */
void qn_quantize_iq2_xxs_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    if (imatrix) qn_iq_quantize_rows(QN_GRID_IQ2_XXS, iq2_xxs_block, k, sizeof(block_iq2_xxs), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq2_xs_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    if (imatrix) qn_iq_quantize_rows(QN_GRID_IQ2_XS, iq2_xs_block, k, sizeof(block_iq2_xs), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq2_s_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_iq_quantize_rows(QN_GRID_IQ2_S, iq2_s_block, k, sizeof(block_iq2_s), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq2_xxs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq2_xxs_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq2_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq2_xs_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq2_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq2_s_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}
