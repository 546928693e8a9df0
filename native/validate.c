/* What ggml_validate_row_data rejects: NaN/Inf among float values, or in the fp16 scales of blocks. */
#include "kernels.h"

static inline bool fp16_ok(qn_fp16 h) { return (h & 0x7c00) != 0x7c00; }

static bool row_ok(int type, const uint8_t *p, int64_t n) {
    switch (type) {
    case QN_F32:
        for (int64_t i = 0; i < n; ++i) {
            uint32_t w;
            memcpy(&w, p + 4 * i, 4);
            if ((w & 0x7f800000u) == 0x7f800000u) return false;
        }
        return true;
    case QN_F16:
        for (int64_t i = 0; i < n; ++i) {
            qn_fp16 h;
            memcpy(&h, p + 2 * i, 2);
            if (!fp16_ok(h)) return false;
        }
        return true;
    case QN_BF16:
        for (int64_t i = 0; i < n; ++i) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if ((h & 0x7fff) >= 0x7f80) return false;
        }
        return true;
    default: break;
    }
    const qn_type_traits *t = qn_type_info(type);
    const int64_t nb = n / t->block_size;
    switch (type) {
    case QN_NVFP4: return true; /* every E4M3 byte is a number */
    case QN_MXFP4:
        for (int64_t i = 0; i < nb; ++i) {
            if (p[i * t->type_size] == 0xff) return false; /* the E8M0 NaN */
        }
        return true;
    case QN_IQ1_M:
        for (int64_t i = 0; i < nb; ++i) {
            uint16_t sc[4];
            memcpy(sc, p + i * t->type_size + 48, sizeof(sc));
            if (!fp16_ok((qn_fp16)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000)))) return false;
        }
        return true;
    default: break;
    }
    /* Offsets of the fp16 scales inside each block (second is -1 when there is one). */
    int d_off, m_off = -1;
    switch (type) {
    case QN_Q4_1: case QN_Q5_1: case QN_Q4_K: case QN_Q5_K: d_off = 0; m_off = 2; break;
    case QN_Q2_K: d_off = 80; m_off = 82; break;
    case QN_Q3_K: d_off = 108; break;
    case QN_Q6_K: d_off = 208; break;
    case QN_TQ1_0: d_off = 52; break;
    case QN_TQ2_0: d_off = 64; break;
    default: d_off = 0; break; /* Q4_0, Q5_0, Q8_0, Q1_0, Q2_0, IQ4_NL, IQ4_XS, IQ1_S, IQ2_*, IQ3_* */
    }
    /* Branch-free: (h & 0x7c00) + 0x400 reaches bit 15 exactly when the exponent bits are all ones. */
    uint32_t acc = 0;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *b = p + i * t->type_size;
        qn_fp16 h;
        memcpy(&h, b + d_off, 2);
        acc |= (uint32_t)(h & 0x7c00) + 0x400;
        if (m_off >= 0) {
            memcpy(&h, b + m_off, 2);
            acc |= (uint32_t)(h & 0x7c00) + 0x400;
        }
    }
    return !(acc & 0x8000);
}

int64_t qn_find_invalid_row(int type, const void *data, int64_t nrow, int64_t n_per_row) {
    const size_t row_size = qn_row_size(type, n_per_row);
    const uint8_t *p = (const uint8_t *)data;
    for (int64_t r = 0; r < nrow; ++r) {
        if (!row_ok(type, p + (size_t)r * row_size, n_per_row)) return r;
    }
    return -1;
}
