/* Dequantizers: block bytes back to F32, with ggml's order of multiplications (requantizing an
 * already-quantized model must see the same floats llama.cpp sees). */
#include "kernels.h"

extern const int8_t qn_kvalues_iq4nl[16];

void qn_dequantize_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void qn_dequantize_f16(const void *src, float *dst, int64_t n) {
    const qn_fp16 *x = (const qn_fp16 *)src;
    for (int64_t i = 0; i < n; ++i) dst[i] = qn_fp16_to_fp32(x[i]);
}

void qn_dequantize_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *x = (const uint16_t *)src;
    for (int64_t i = 0; i < n; ++i) dst[i] = qn_bf16_to_fp32(x[i]);
}

void qn_dequantize_q4_0(const void *src, float *y, int64_t n) {
    const block_q4_0 *x = (const block_q4_0 *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void qn_dequantize_q4_1(const void *src, float *y, int64_t n) {
    const block_q4_1 *x = (const block_q4_1 *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_fp16_to_fp32(x[i].d), m = qn_fp16_to_fp32(x[i].m);
        for (int j = 0; j < 16; ++j) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_qh(const uint8_t *p) { uint32_t qh; memcpy(&qh, p, 4); return qh; }

void qn_dequantize_q5_0(const void *src, float *y, int64_t n) {
    const block_q5_0 *x = (const block_q5_0 *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_fp16_to_fp32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < 16; ++j) {
            const int x0 = ((x[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            y[j] = x0 * d;
            y[j + 16] = x1 * d;
        }
    }
}

void qn_dequantize_q5_1(const void *src, float *y, int64_t n) {
    const block_q5_1 *x = (const block_q5_1 *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_fp16_to_fp32(x[i].d), m = qn_fp16_to_fp32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < 16; ++j) {
            const int x0 = (x[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
            const int x1 = (x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
            y[j] = x0 * d + m;
            y[j + 16] = x1 * d + m;
        }
    }
}

void qn_dequantize_q8_0(const void *src, float *y, int64_t n) {
    const block_q8_0 *x = (const block_q8_0 *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 32; ++j) y[j] = x[i].qs[j] * d;
    }
}

void qn_dequantize_q2_K(const void *src, float *y, int64_t n) {
    const block_q2_K *x = (const block_q2_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qn_fp16_to_fp32(x[i].d), min = qn_fp16_to_fp32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int half = 0; half < 2; ++half, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; ++part) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void qn_dequantize_q3_K(const void *src, float *y, int64_t n) {
    const block_q3_K *x = (const block_q3_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = qn_fp16_to_fp32(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int half = 0; half < 2; ++half, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int part = 0; part < 2; ++part, ++is) {
                    const int8_t sc6 = (int8_t)((is < 8 ? x[i].scales[is] & 0xF : x[i].scales[is - 8] >> 4) |
                                                (((x[i].scales[8 + is % 4] >> (2 * (is / 4))) & 3) << 4));
                    const float dl = d_all * (sc6 - 32);
                    for (int l = 0; l < 16; ++l) {
                        const int k = l + 16 * part;
                        *y++ = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
                    }
                }
            }
        }
    }
}

static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void qn_dequantize_q4_K(const void *src, float *y, int64_t n) {
    const block_q4_K *x = (const block_q4_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = qn_fp16_to_fp32(x[i].d), min = qn_fp16_to_fp32(x[i].dmin);
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void qn_dequantize_q5_K(const void *src, float *y, int64_t n) {
    const block_q5_K *x = (const block_q5_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = qn_fp16_to_fp32(x[i].d), min = qn_fp16_to_fp32(x[i].dmin);
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

void qn_dequantize_q6_K(const void *src, float *y, int64_t n) {
    const block_q6_K *x = (const block_q6_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = qn_fp16_to_fp32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                const int8_t q2 = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                const int8_t q3 = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                const int8_t q4 = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void qn_dequantize_iq4_nl(const void *src, float *y, int64_t n) {
    const block_iq4_nl *x = (const block_iq4_nl *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = d * qn_kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + 16] = d * qn_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

void qn_dequantize_iq4_xs(const void *src, float *y, int64_t n) {
    const block_iq4_xs *x = (const block_iq4_xs *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *qs = x[i].qs;
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ++ib, y += 32, qs += 16) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * qn_kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * qn_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* Trit n of a TQ1_0 byte: multiply by 3^n (mod 256), the top base-3 digit is (q*3) >> 8. */
static inline float tq1_value(uint8_t byte, int n, float d) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t q = (uint8_t)(byte * pow3[n]);
    const int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
    return (float)(xi - 1) * d;
}

void qn_dequantize_tq1_0(const void *src, float *y, int64_t n) {
    const block_tq1_0 *x = (const block_tq1_0 *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int t = 0; t < 5; ++t)
            for (int m = 0; m < 32; ++m) *y++ = tq1_value(x[i].qs[m], t, d);
        for (int t = 0; t < 5; ++t)
            for (int m = 0; m < 16; ++m) *y++ = tq1_value(x[i].qs[32 + m], t, d);
        for (int t = 0; t < 4; ++t)
            for (int j = 0; j < 4; ++j) *y++ = tq1_value(x[i].qh[j], t, d);
    }
}

void qn_dequantize_tq2_0(const void *src, float *y, int64_t n) {
    const block_tq2_0 *x = (const block_tq2_0 *)src;
    for (int64_t i = 0; i < n / QK_K; ++i) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m) *y++ = (float)(((x[i].qs[j + m] >> (l * 2)) & 3) - 1) * d;
    }
}

void qn_dequantize_mxfp4(const void *src, float *y, int64_t n) {
    const block_mxfp4 *x = (const block_mxfp4 *)src;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = qn_e8m0_to_fp32_half(x[i].e);
        for (int j = 0; j < 16; ++j) {
            y[j] = qn_kvalues_fp4[x[i].qs[j] & 0x0F] * d;
            y[j + 16] = qn_kvalues_fp4[x[i].qs[j] >> 4] * d;
        }
    }
}

void qn_dequantize_nvfp4(const void *src, float *y, int64_t n) {
    const block_nvfp4 *x = (const block_nvfp4 *)src;
    for (int64_t i = 0; i < n / 64; i++) {
        for (int s = 0; s < 4; ++s, y += 16) {
            const float d = qn_ue4m3_to_fp32(x[i].d[s]);
            for (int j = 0; j < 8; ++j) {
                y[j] = qn_kvalues_fp4[x[i].qs[8 * s + j] & 0x0F] * d;
                y[j + 8] = qn_kvalues_fp4[x[i].qs[8 * s + j] >> 4] * d;
            }
        }
    }
}

void qn_dequantize_q1_0(const void *src, float *y, int64_t n) {
    const block_q1_0 *x = (const block_q1_0 *)src;
    for (int64_t i = 0; i < n / 128; i++, y += 128) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 128; ++j) y[j] = (x[i].qs[j / 8] >> (j % 8)) & 1 ? d : -d;
    }
}

void qn_dequantize_q2_0(const void *src, float *y, int64_t n) {
    const block_q2_0 *x = (const block_q2_0 *)src;
    for (int64_t i = 0; i < n / 64; i++, y += 64) {
        const float d = qn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 64; ++j) y[j] = ((int)((x[i].qs[j / 4] >> (j % 4) * 2) & 3) - 1) * d;
    }
}
