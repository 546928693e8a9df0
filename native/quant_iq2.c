/* IQ2_XXS, IQ2_XS and IQ2_S: 2-bit lattice quantization of 256-element super-blocks. Groups of 8
 * magnitudes map to points of a 256-, 512- or 1024-point grid with levels {1, 3, 5}; signs are stored
 * separately (7 bits with even parity for XXS/XS, 8 bits for S); one fp16 d per super-block and a
 * 4-bit scale per 32 (XXS) or 16 (XS, S) elements. XXS and XS need importance weights. */
#include "kernels.h"
#include "quant_iq_lattice.h"

/* IQ2_XXS: per 32 elements two words, four 8-bit grid indices, then four 7-bit sign groups and the
 * 4-bit scale in bits 28-31. */
static void iq2_xxs_block(const qn_iq_grid *grid, const float *xbl, const float *qwbl, block_iq2_xxs *y) {
    const qn_lattice_cfg cfg = {grid, 32, 3, -6, 6, 0.1f, QN_GROUP_MAX_EPS, true, false, true, true};
    float scales[QK_K / 32], weight[32], waux[32], xval[32];
    int8_t L[32];
    uint16_t idx[4];
    uint8_t signs[4];
    uint32_t q2[2 * (QK_K / 32)] = {0};
    y->d = qn_fp32_to_fp16(0.f);
    float max_scale = 0;
    const float sigma2 = qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const float *xb = xbl + 32 * ib;
        const float *qw = qwbl + 32 * ib;
        for (int i = 0; i < 32; ++i) weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
        for (int i = 0; i < 32; ++i) waux[i] = sqrtf(weight[i]);
        for (int k = 0; k < 4; ++k) signs[k] = qn_iq_signs_even(xb + 8 * k, weight + 8 * k, xval + 8 * k);
        float scale;
        if (!qn_lattice_fit(&cfg, xval, weight, waux, L, idx, &scale)) {
            scales[ib] = 0;
            continue;
        }
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 4; ++k) signs[k] = (uint8_t)(~signs[k] & 127);
        }
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

/* IQ2_XS: per group a u16 = 9-bit grid index | 7 sign bits << 9; scales two per byte. */
static void iq2_xs_block(const qn_iq_grid *grid, const float *xbl, const float *qwbl, block_iq2_xs *y) {
    const qn_lattice_cfg cfg = {grid, 16, 3, -9, 9, 0.1f, QN_GROUP_MAX_EPS, false, false, false, false};
    float scales[QK_K / 16], weight[16], waux[16], xval[16];
    int8_t L[16];
    uint16_t idx[2];
    uint8_t signs[2];
    uint16_t q2[2 * (QK_K / 16)] = {0};
    y->d = qn_fp32_to_fp16(0.f);
    memset(y->scales, 0, sizeof(y->scales));
    float max_scale = 0;
    const float sigma2 = qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const float *xb = xbl + 16 * ib;
        const float *qw = qwbl + 16 * ib;
        for (int i = 0; i < 16; ++i) weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
        for (int i = 0; i < 16; ++i) waux[i] = sqrtf(weight[i]);
        for (int k = 0; k < 2; ++k) signs[k] = qn_iq_signs_even(xb + 8 * k, weight + 8 * k, xval + 8 * k);
        float scale;
        if (!qn_lattice_fit(&cfg, xval, weight, waux, L, idx, &scale)) {
            scales[ib] = 0;
            continue;
        }
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 2; ++k) signs[k] = (uint8_t)(~signs[k] & 127);
        }
        for (int k = 0; k < 2; ++k) q2[2 * ib + k] = (uint16_t)(idx[k] | signs[k] << 9);
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
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const int l = qn_iq_scale_code(id, scales[ib], 15);
        if (ib % 2 == 0) y->scales[ib / 2] = (uint8_t)l;
        else y->scales[ib / 2] |= (uint8_t)(l << 4);
    }
    memcpy(y->qs, q2, sizeof(y->qs));
}

/* IQ2_S: low 8 index bits in qs, the top 2 in qh, a full sign byte per group after the indices. */
static void iq2_s_block(const qn_iq_grid *grid, const float *xbl, const float *qwbl, block_iq2_s *y) {
    const qn_lattice_cfg cfg = {grid, 16, 3, -9, 9, 0.1f, 1e-8f, false, false, false, false};
    float scales[QK_K / 16], weight[16], waux[16], xval[16];
    int8_t L[16];
    uint16_t idx[2];
    uint8_t signs[2];
    memset(y, 0, sizeof(*y));
    y->d = qn_fp32_to_fp16(0.f);
    float max_scale = 0;
    const float sigma2 = 2 * qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const float *xb = xbl + 16 * ib;
        if (qwbl) {
            const float *qw = qwbl + 16 * ib;
            for (int i = 0; i < 16; ++i) weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
        } else {
            for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
        }
        for (int i = 0; i < 16; ++i) waux[i] = sqrtf(weight[i]);
        for (int k = 0; k < 2; ++k) signs[k] = qn_iq_signs(xb + 8 * k, xval + 8 * k);
        float scale;
        if (!qn_lattice_fit(&cfg, xval, weight, waux, L, idx, &scale)) {
            scales[ib] = 0;
            continue;
        }
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 2; ++k) signs[k] = (uint8_t)~signs[k];
        }
        for (int k = 0; k < 2; ++k) {
            const int i8 = 2 * ib + k;
            y->qs[i8] = (uint8_t)(idx[k] & 255);
            y->qh[i8 / 4] |= (uint8_t)((idx[k] >> 8) << 2 * (i8 % 4));
            y->qs[QK_K / 8 + i8] = signs[k];
        }
        scales[ib] = scale;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) return;
    const float d = max_scale / 31;
    y->d = qn_fp32_to_fp16(d * 0.9875f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const int l = qn_iq_scale_code(id, scales[ib], 15);
        if (ib % 2 == 0) y->scales[ib / 2] = (uint8_t)l;
        else y->scales[ib / 2] |= (uint8_t)(l << 4);
    }
}

/* XXS and XS have no rule without importance weights (ggml asserts): callers check
 * qn_quantize_requires_imatrix, and qn_quantize_prepare has built the grid. */
void qn_quantize_iq2_xxs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    const qn_iq_grid *grid = qn_iq_grid_get(QN_GRID_IQ2_XXS);
    if (!grid || !imatrix) return;
    block_iq2_xxs *y = (block_iq2_xxs *)dst;
    const int64_t nb = n_per_row / QK_K;
    for (int64_t r = 0; r < nrow; ++r) {
        for (int64_t i = 0; i < nb; ++i) iq2_xxs_block(grid, src + r * n_per_row + i * QK_K, imatrix + i * QK_K, y++);
    }
}

void qn_quantize_iq2_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    const qn_iq_grid *grid = qn_iq_grid_get(QN_GRID_IQ2_XS);
    if (!grid || !imatrix) return;
    block_iq2_xs *y = (block_iq2_xs *)dst;
    const int64_t nb = n_per_row / QK_K;
    for (int64_t r = 0; r < nrow; ++r) {
        for (int64_t i = 0; i < nb; ++i) iq2_xs_block(grid, src + r * n_per_row + i * QK_K, imatrix + i * QK_K, y++);
    }
}

void qn_quantize_iq2_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    const qn_iq_grid *grid = qn_iq_grid_get(QN_GRID_IQ2_S);
    if (!grid) return;
    block_iq2_s *y = (block_iq2_s *)dst;
    const int64_t nb = n_per_row / QK_K;
    for (int64_t r = 0; r < nrow; ++r) {
        for (int64_t i = 0; i < nb; ++i) iq2_s_block(grid, src + r * n_per_row + i * QK_K, imatrix ? imatrix + i * QK_K : NULL, y++);
    }
}
