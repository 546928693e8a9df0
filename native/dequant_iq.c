/* Dequantizers of the lattice types (IQ1/IQ2/IQ3), in ggml's order of float operations. ggml reads
 * grid values from tables of bytes; each table is its grid's packed levels mapped through one value
 * per level, which is how they are read here (the same bytes, checked against ggml's dequantizers). */
#include "kernels.h"
#include "iq_grid.h"

static const uint8_t IQ2_VALUES[3] = {0x08, 0x19, 0x2b};
static const uint8_t IQ3_XXS_VALUES[8] = {0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3e};
static const uint8_t IQ3_S_VALUES[8] = {1, 3, 5, 7, 9, 11, 13, 15};
static const int8_t IQ1_VALUES[3] = {-1, 0, 1};

static inline int level2(const uint16_t *kgrid, int k, int j) { return (kgrid[k] >> 2 * j) & 3; }
static inline int level3(const uint16_t *kgrid, int k, int j) { return (kgrid[k] >> 3 * j) & 7; }

/* The 7 stored sign bits plus the parity bit that makes their count even. */
static inline uint8_t even_signs(uint32_t s7) {
    uint32_t p = s7 & 127;
    p ^= p >> 4;
    p ^= p >> 2;
    p ^= p >> 1;
    return (uint8_t)((s7 & 127) | (p & 1) << 7);
}

static inline float sign_of(uint8_t signs, int j) { return signs & (1u << j) ? -1.f : 1.f; }

/* Eight values of a 2-bit grid point. */
static inline void put8_iq2(const uint16_t *kgrid, int k, float db, uint8_t signs, float *y) {
    for (int j = 0; j < 8; ++j) y[j] = db * IQ2_VALUES[level2(kgrid, k, j)] * sign_of(signs, j);
}

void qn_dequantize_iq2_xxs(const void *src, float *y, int64_t n) {
    const block_iq2_xxs *x = (const block_iq2_xxs *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
            uint32_t aux32[2];
            memcpy(aux32, x[i].qs + 4 * ib32, sizeof(aux32));
            const uint8_t *aux8 = (const uint8_t *)aux32;
            const float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l, y += 8) put8_iq2(qn_kgrid_2bit_256, aux8[l], db, even_signs(aux32[1] >> 7 * l), y);
        }
    }
}

void qn_dequantize_iq2_xs(const void *src, float *y, int64_t n) {
    const block_iq2_xs *x = (const block_iq2_xs *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
            const float db[2] = {d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f, d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l, y += 8) {
                const uint16_t q = x[i].qs[4 * ib32 + l];
                put8_iq2(qn_kgrid_2bit_512, q & 511, db[l / 2], even_signs(q >> 9), y);
            }
        }
    }
}

void qn_dequantize_iq2_s(const void *src, float *y, int64_t n) {
    const block_iq2_s *x = (const block_iq2_s *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        const uint8_t *qs = x[i].qs, *signs = x[i].qs + QK_K / 8;
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 4, signs += 4) {
            const float db[2] = {d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f, d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l, y += 8) {
                const int k = qs[l] | ((x[i].qh[ib32] << (8 - 2 * l)) & 0x300);
                put8_iq2(qn_kgrid_2bit_1024, k, db[l / 2], signs[l], y);
            }
        }
    }
}

void qn_dequantize_iq3_xxs(const void *src, float *y, int64_t n) {
    const block_iq3_xxs *x = (const block_iq3_xxs *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        const uint8_t *qs = x[i].qs, *scales_and_signs = x[i].qs + QK_K / 4;
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8) {
            uint32_t aux32;
            memcpy(&aux32, scales_and_signs + 4 * ib32, sizeof(aux32));
            const float db = d * (0.5f + (aux32 >> 28)) * 0.5f;
            for (int l = 0; l < 4; ++l, y += 8) {
                const uint8_t signs = even_signs(aux32 >> 7 * l);
                for (int j = 0; j < 4; ++j) {
                    y[j + 0] = db * IQ3_XXS_VALUES[level3(qn_kgrid_3bit_256, qs[2 * l + 0], j)] * sign_of(signs, j + 0);
                    y[j + 4] = db * IQ3_XXS_VALUES[level3(qn_kgrid_3bit_256, qs[2 * l + 1], j)] * sign_of(signs, j + 4);
                }
            }
        }
    }
}

void qn_dequantize_iq3_s(const void *src, float *y, int64_t n) {
    const block_iq3_s *x = (const block_iq3_s *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = x[i].signs;
        for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8, ++qh, signs += 4) {
            const uint8_t sc = x[i].scales[ib32 / 2];
            const float db = d * (1 + 2 * (ib32 % 2 == 0 ? sc & 0xf : sc >> 4));
            for (int l = 0; l < 4; ++l, y += 8) {
                const int k1 = qs[2 * l + 0] | ((qh[0] << (8 - 2 * l)) & 256);
                const int k2 = qs[2 * l + 1] | ((qh[0] << (7 - 2 * l)) & 256);
                for (int j = 0; j < 4; ++j) {
                    y[j + 0] = db * IQ3_S_VALUES[level3(qn_kgrid_3bit_512, k1, j)] * sign_of(signs[l], j + 0);
                    y[j + 4] = db * IQ3_S_VALUES[level3(qn_kgrid_3bit_512, k2, j)] * sign_of(signs[l], j + 4);
                }
            }
        }
    }
}

void qn_dequantize_iq1_s(const void *src, float *y, int64_t n) {
    const block_iq1_s *x = (const block_iq1_s *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4) {
            const uint16_t qh = x[i].qh[ib];
            const float dl = d * (2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000 ? -0.125f : 0.125f;
            for (int l = 0; l < 4; ++l, y += 8) {
                const int k = qs[l] | (((qh >> 3 * l) & 7) << 8);
                for (int j = 0; j < 8; ++j) y[j] = dl * (IQ1_VALUES[level2(qn_kgrid_1bit_2048, k, j)] + delta);
            }
        }
    }
}

void qn_dequantize_iq1_m(const void *src, float *y, int64_t n) {
    const block_iq1_m *x = (const block_iq1_m *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        uint16_t sc[4];
        memcpy(sc, x[i].scales, sizeof(sc));
        const qn_fp16 scale = (qn_fp16)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        const float d = qn_fp16_to_fp32(scale);
        const uint8_t *qs = x[i].qs, *qh = x[i].qh;
        for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2) {
            const float dl[2] = {d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1),
                                 d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1)};
            const int idx[4] = {qs[0] | ((qh[0] << 8) & 0x700), qs[1] | ((qh[0] << 4) & 0x700),
                                qs[2] | ((qh[1] << 8) & 0x700), qs[3] | ((qh[1] << 4) & 0x700)};
            const float delta[4] = {qh[0] & 0x08 ? -0.125f : 0.125f, qh[0] & 0x80 ? -0.125f : 0.125f,
                                    qh[1] & 0x08 ? -0.125f : 0.125f, qh[1] & 0x80 ? -0.125f : 0.125f};
            for (int l = 0; l < 4; ++l, y += 8) {
                for (int j = 0; j < 8; ++j) y[j] = dl[l / 2] * (IQ1_VALUES[level2(qn_kgrid_1bit_2048, idx[l], j)] + delta[l]);
            }
        }
    }
}
