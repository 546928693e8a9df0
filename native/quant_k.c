/* Q2_K ... Q6_K: 256-element super-blocks of 16 or 32-element sub-blocks. Each sub-block gets a
 * searched scale (and min), the scales are themselves quantized to 4/6/8 bits under one fp16 `d`,
 * and finally every weight is re-quantized against the rounded scales. */
#include "quant_k_internal.h"
#include "quant_search.h"

/* Q2_K's 2-bit packing: four 32-apart elements per byte, per 128-half. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

/* 6-bit scale and min of sub-block j packed into Q4_K/Q5_K's 12 bytes. */
static void pack_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t *scales) {
    if (j < 4) {
        scales[j] = ls;
        scales[j + 4] = lm;
    } else {
        scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
        scales[j] |= (uint8_t)((lm >> 4) << 6);
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

/* The sixteen 6-bit Q3_K scales l (0..63) into 12 bytes: the low nibbles of j and j + 8 share byte j, the
 * high two bits of j, j + 4, j + 8, j + 12 fill byte 8 + j. Worked on whole words with masks that keep
 * every bit inside its byte, so byte order does not matter. */
void qn_pack_scales_q3(const uint8_t *l, uint8_t *scales) {
    uint64_t a, b;
    memcpy(&a, l, 8);
    memcpy(&b, l + 8, 8);
    const uint64_t lo = (a & 0x0F0F0F0F0F0F0F0Full) | ((b & 0x0F0F0F0F0F0F0F0Full) << 4);
    memcpy(scales, &lo, 8);
    uint32_t w[4], hi = 0;
    memcpy(w, l, 16);
    for (int k = 0; k < 4; ++k) hi |= ((w[k] >> 4) & 0x03030303u) << (2 * k);
    memcpy(scales + 8, &hi, 4);
}

static float sum_squares(const float *x, int n) {
    float s = 0;
    for (int j = 0; j < n; ++j) s += x[j] * x[j];
    return s;
}

/* imatrix weights of one sub-block: qw * sqrt(sigma2 + x^2); returns their sum. */
static float imatrix_weights(const float *x, const float *qw, float sigma2, int n, float *weight) {
    for (int l = 0; l < n; ++l) weight[l] = qw[l] * sqrtf(sigma2 + x[l] * x[l]);
    float sumw = 0;
    for (int l = 0; l < n; ++l) sumw += weight[l];
    return sumw;
}

/* ---------------------------------------------------------------- searches (scalar) */

static void requant_scalar(const float *x, int n_sub, int sub_len, const float *d, const float *dm, int lo, int hi, int offset,
                           uint8_t *L) {
    for (int j = 0; j < n_sub; ++j) {
        if (!d[j]) continue;
        for (int i = j * sub_len; i < (j + 1) * sub_len; ++i) {
            const int l = qn_nearest_int((dm ? x[i] + dm[j] : x[i]) / d[j]);
            L[i] = (uint8_t)(QN_MAX(lo, QN_MIN(hi, l)) + offset);
        }
    }
}

static void q2_K_search_ref(const float *x, const float *qw, qn_k_search *s) {
    (void)qw;
    uint8_t Laux[16];
    float weights[16];
    for (int j = 0; j < QK_K / 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
        s->scales[j] = qn_make_qkx_quants(16, 3, x + 16 * j, weights, s->L + 16 * j, &s->mins[j], Laux, -0.5f, 0.1f, 15, true);
    }
}

static void q2_K_search_imatrix(const float *x, const float *qw, qn_k_search *s) {
    uint8_t Laux[16];
    float weight[16];
    const float sigma2 = sum_squares(x, QK_K) / QK_K;
    for (int j = 0; j < QK_K / 16; ++j) {
        s->sw[j] = imatrix_weights(x + 16 * j, qw + 16 * j, sigma2, 16, weight);
        s->scales[j] = qn_make_qkx_quants(16, 3, x + 16 * j, weight, s->L + 16 * j, &s->mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
}

static void q3_K_search_ref(const float *x, const float *qw, qn_k_search *s) {
    (void)qw;
    for (int j = 0; j < QK_K / 16; ++j) s->scales[j] = qn_make_q3_quants(16, 4, x + 16 * j, (int8_t *)s->L + 16 * j);
}

static void q3_K_search_imatrix(const float *x, const float *qw, qn_k_search *s) {
    float weight[16];
    const float sigma2 = 2 * sum_squares(x, QK_K) / QK_K;
    for (int j = 0; j < QK_K / 16; ++j) {
        s->sw[j] = imatrix_weights(x + 16 * j, qw + 16 * j, sigma2, 16, weight);
        s->scales[j] = qn_make_qx_quants(16, 4, x + 16 * j, (int8_t *)s->L + 16 * j, weight);
    }
}

static void k4_search_ref(const float *x, qn_k_search *s, int nmax, float rmin, float rdelta, int nstep) {
    uint8_t Laux[32];
    float weights[32];
    for (int j = 0; j < QK_K / 32; ++j) {
        const float av_x = sqrtf(sum_squares(x + 32 * j, 32) / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        s->scales[j] = qn_make_qkx_quants(32, nmax, x + 32 * j, weights, s->L + 32 * j, &s->mins[j], Laux, rmin, rdelta, nstep, false);
    }
}

static void k4_search_imatrix(const float *x, const float *qw, qn_k_search *s, int nmax) {
    uint8_t Laux[32];
    float weights[32];
    const float sigma2 = 2 * sum_squares(x, QK_K) / QK_K;
    for (int j = 0; j < QK_K / 32; ++j) {
        s->sw[j] = imatrix_weights(x + 32 * j, qw + 32 * j, sigma2, 32, weights);
        s->scales[j] = qn_make_qkx_quants(32, nmax, x + 32 * j, weights, s->L + 32 * j, &s->mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
}

static void q4_K_search_ref(const float *x, const float *qw, qn_k_search *s) { (void)qw; k4_search_ref(x, s, 15, -1.f, 0.1f, 20); }
static void q4_K_search_imatrix(const float *x, const float *qw, qn_k_search *s) { k4_search_imatrix(x, qw, s, 15); }
static void q5_K_search_ref(const float *x, const float *qw, qn_k_search *s) { (void)qw; k4_search_ref(x, s, 31, -0.5f, 0.1f, 15); }
static void q5_K_search_imatrix(const float *x, const float *qw, qn_k_search *s) { k4_search_imatrix(x, qw, s, 31); }

/* With an imatrix Q6_K's weights are the raw importance values (no sigma2 term). */
static void q6_K_search(const float *x, const float *qw, qn_k_search *s) {
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        s->scales[ib] = qn_make_qx_quants(16, 32, x + 16 * ib, (int8_t *)s->L + 16 * ib, qw ? qw + 16 * ib : NULL);
    }
}

/* The scalar searches take one super-block per call. */
#define ONE_BLOCK(fn) static void fn##_1(const float *x, const float *qw, qn_k_search *s, int count) { (void)count; fn(x, qw, s); }
ONE_BLOCK(q2_K_search_ref)
ONE_BLOCK(q2_K_search_imatrix)
ONE_BLOCK(q3_K_search_ref)
ONE_BLOCK(q3_K_search_imatrix)
ONE_BLOCK(q4_K_search_ref)
ONE_BLOCK(q4_K_search_imatrix)
ONE_BLOCK(q5_K_search_ref)
ONE_BLOCK(q5_K_search_imatrix)
ONE_BLOCK(q6_K_search)

const qn_k_searches qn_q2_K_search = {q2_K_search_ref_1, q2_K_search_imatrix_1, requant_scalar, 1, NULL, NULL};
const qn_k_searches qn_q3_K_search = {q3_K_search_ref_1, q3_K_search_imatrix_1, requant_scalar, 1, NULL, NULL};
const qn_k_searches qn_q4_K_search = {q4_K_search_ref_1, q4_K_search_imatrix_1, requant_scalar, 1, NULL, NULL};
const qn_k_searches qn_q5_K_search = {q5_K_search_ref_1, q5_K_search_imatrix_1, requant_scalar, 1, NULL, NULL};
const qn_k_searches qn_q6_K_search = {q6_K_search_1, q6_K_search_1, requant_scalar, 1, NULL, NULL};

/* ---------------------------------------------------------------- Q2_K finish */

static void q2_K_requantize_and_pack(const float *x, block_q2_K *y, uint8_t *L, qn_k_requant_fn requant) {
    const float dall = qn_fp16_to_fp32(y->d), mall = qn_fp16_to_fp32(y->dmin);
    float d[QK_K / 16], dm[QK_K / 16];
    for (int j = 0; j < QK_K / 16; ++j) {
        d[j] = dall * (y->scales[j] & 0xF);
        dm[j] = mall * (y->scales[j] >> 4);
    }
    requant(x, QK_K / 16, 16, d, dm, 0, 3, 0, L);
    pack_2bit(L, y->qs);
}

static void q2_K_finish(const float *x, block_q2_K *y, qn_k_search *s, bool imatrix, qn_k_requant_fn requant) {
    if (imatrix) {
        uint8_t Ls[QK_K / 16], Lm[QK_K / 16];
        const float dm = qn_make_qp_quants(QK_K / 16, 15, s->scales, Ls, s->sw);
        const float mm = qn_make_qp_quants(QK_K / 16, 15, s->mins, Lm, s->sw);
        y->d = qn_fp32_to_fp16(dm);
        y->dmin = qn_fp32_to_fp16(mm);
        for (int j = 0; j < QK_K / 16; ++j) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    } else {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            if (s->scales[j] > max_scale) max_scale = s->scales[j];
            if (s->mins[j] > max_min) max_min = s->mins[j];
        }
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) y->scales[j] = (uint8_t)qn_nearest_int(iscale * s->scales[j]);
            y->d = qn_fp32_to_fp16(max_scale / 15.f);
        } else {
            for (int j = 0; j < QK_K / 16; ++j) y->scales[j] = 0;
            y->d = qn_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < QK_K / 16; ++j) y->scales[j] |= (uint8_t)(qn_nearest_int(iscale * s->mins[j]) << 4);
            y->dmin = qn_fp32_to_fp16(max_min / 15.f);
        } else {
            y->dmin = qn_fp32_to_fp16(0.f);
        }
    }
    q2_K_requantize_and_pack(x, y, s->L, requant);
}

/* ---------------------------------------------------------------- Q3_K finish */

/* l: the sixteen 6-bit scales as packed (0..63). A sub-block whose scale rounds to 0 keeps its search's
 * levels; a lazy search left them to be found here. */
static void q3_K_requantize_and_pack(const float *x, block_q3_K *y, const uint8_t *l, qn_k_search *s, qn_k_requant_fn requant) {
    uint8_t *L = s->L;
    const float dall = qn_fp16_to_fp32(y->d);
    float d[QK_K / 16];
    unsigned kept = 0; /* bit j: d[j] is 0 (branch-free: which sub-blocks those are is unpredictable) */
    for (int j = 0; j < QK_K / 16; ++j) {
        d[j] = dall * (int8_t)(l[j] - 32);
        kept |= (unsigned)(d[j] == 0.0f) << j;
    }
    for (; s->lazy_L && kept; kept &= kept - 1) qn_qx_levels(x, s, qn_ctz(kept), 4, L);
    requant(x, QK_K / 16, 16, d, NULL, -4, 3, 4, L);
    qn_pack_q3(L, y->hmask, y->qs);
}

static void q3_K_finish(const float *x, block_q3_K *y, qn_k_search *s, bool imatrix, qn_k_requant_fn requant) {
    uint8_t l[QK_K / 16] = {0};
    if (imatrix) {
        const float d_block = qn_make_qx_quants(QK_K / 16, 32, s->scales, (int8_t *)l, s->sw);
        y->d = qn_fp32_to_fp16(d_block);
    } else {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            const float scale = fabsf(s->scales[j]);
            const bool up = scale > amax;
            amax = up ? scale : amax;
            max_scale = up ? s->scales[j] : max_scale;
        }
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                const int8_t q = (int8_t)qn_nearest_int(iscale * s->scales[j]);
                l[j] = (uint8_t)(QN_MAX(-32, QN_MIN(31, q)) + 32);
            }
            y->d = qn_fp32_to_fp16(1 / iscale);
        } else {
            y->d = qn_fp32_to_fp16(0.f);
        }
    }
    qn_pack_scales_q3(l, y->scales);
    q3_K_requantize_and_pack(x, y, l, s, requant);
}

/* ---------------------------------------------------------------- Q4_K and Q5_K finish */

/* Re-quantizes every 32-element sub-block against the fp16 d/dmin and its 6-bit scale/min. */
static void k4_requantize(const float *x, qn_fp16 d16, qn_fp16 dmin16, const uint8_t *scales, int nmax, uint8_t *L, qn_k_requant_fn requant) {
    const float dall = qn_fp16_to_fp32(d16), mall = qn_fp16_to_fp32(dmin16);
    float d[QK_K / 32], dm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales, &sc, &m);
        d[j] = dall * sc;
        dm[j] = mall * m;
    }
    requant(x, QK_K / 32, 32, d, dm, 0, nmax, 0, L);
}

/* 6-bit scales and mins under one fp16 d/dmin each, then re-quantization. */
static void k4_finish(const float *x, qn_k_search *s, int nmax, bool imatrix, uint8_t *scale_bytes, qn_fp16 *d, qn_fp16 *dmin, qn_k_requant_fn requant) {
    if (imatrix) {
        uint8_t Ls[QK_K / 32], Lm[QK_K / 32];
        const float d_block = qn_make_qp_quants(QK_K / 32, 63, s->scales, Ls, s->sw);
        const float m_block = qn_make_qp_quants(QK_K / 32, 63, s->mins, Lm, s->sw);
        for (int j = 0; j < QK_K / 32; ++j) pack_scale_min_k4(j, QN_MIN(63, Ls[j]), QN_MIN(63, Lm[j]), scale_bytes);
        *d = qn_fp32_to_fp16(d_block);
        *dmin = qn_fp32_to_fp16(m_block);
    } else {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 32; ++j) {
            if (s->scales[j] > max_scale) max_scale = s->scales[j];
            if (s->mins[j] > max_min) max_min = s->mins[j];
        }
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < QK_K / 32; ++j) {
            uint8_t ls = (uint8_t)qn_nearest_int(inv_scale * s->scales[j]);
            uint8_t lm = (uint8_t)qn_nearest_int(inv_min * s->mins[j]);
            pack_scale_min_k4(j, QN_MIN(63, ls), QN_MIN(63, lm), scale_bytes);
        }
        *d = qn_fp32_to_fp16(max_scale / 63.f);
        *dmin = qn_fp32_to_fp16(max_min / 63.f);
    }
    k4_requantize(x, *d, *dmin, scale_bytes, nmax, s->L, requant);
}

static void q4_K_finish(const float *x, block_q4_K *y, qn_k_search *s, bool imatrix, qn_k_requant_fn requant) {
    k4_finish(x, s, 15, imatrix, y->scales, &y->d, &y->dmin, requant);
    uint8_t *q = y->qs;
    for (int j = 0; j < QK_K; j += 64, q += 32) {
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(s->L[j + l] | (s->L[j + l + 32] << 4));
    }
}

static void q5_K_finish(const float *x, block_q5_K *y, qn_k_search *s, bool imatrix, qn_k_requant_fn requant) {
    k4_finish(x, s, 31, imatrix, y->scales, &y->d, &y->dmin, requant);
    /* Levels are 0..31: the low four bits of elements n + j and n + j + 32 share a byte of qs, and their
     * fifth bits are bits 2k and 2k + 1 of qh[j] for the k-th run of 64 (written branch-free, one byte at a
     * time, so the compiler vectorises it). */
    const uint8_t *L = s->L;
    for (int j = 0; j < 32; ++j) {
        uint8_t h = 0;
        for (int k = 0; k < 4; ++k) h |= (uint8_t)(((L[64 * k + j] >> 4) << (2 * k)) | ((L[64 * k + j + 32] >> 4) << (2 * k + 1)));
        y->qh[j] = h;
    }
    for (int n = 0; n < QK_K; n += 64)
        for (int j = 0; j < 32; ++j) y->qs[n / 2 + j] = (uint8_t)((L[n + j] & 15) | ((L[n + j + 32] & 15) << 4));
}

/* ---------------------------------------------------------------- Q6_K finish */

static void q6_K_finish(const float *x, block_q6_K *y, qn_k_search *s, bool imatrix, qn_k_requant_fn requant) {
    (void)imatrix;
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const float abs_scale = fabsf(s->scales[ib]);
        const bool up = abs_scale > max_abs_scale;
        max_abs_scale = up ? abs_scale : max_abs_scale;
        max_scale = up ? s->scales[ib] : max_scale;
    }
    if (max_abs_scale < QN_GROUP_MAX_EPS) {
        memset(y, 0, sizeof(*y));
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = qn_fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib) y->scales[ib] = (int8_t)QN_MIN(127, qn_nearest_int(iscale * s->scales[ib]));
    float d[QK_K / 16];
    const float dall = qn_fp16_to_fp32(y->d);
    unsigned kept = 0; /* bit j: d[j] is 0 */
    for (int j = 0; j < QK_K / 16; ++j) {
        d[j] = dall * y->scales[j];
        kept |= (unsigned)(d[j] == 0.0f) << j;
    }
    for (; s->lazy_L && kept; kept &= kept - 1) qn_qx_levels(x, s, qn_ctz(kept), 32, s->L);
    requant(x, QK_K / 16, 16, d, NULL, -32, 31, 32, s->L);
    qn_pack_q6(s->L, y->ql, y->qh);
}

/* ---------------------------------------------------------------- row drivers */

void qn_quantize_k_rows(int type, const qn_k_searches *search, const float *src, void *dst,
                        int64_t nrow, int64_t n_per_row, const float *imatrix) {
    /* Without importance weights every super-block stands alone, and rows are contiguous in src and dst:
     * one long row lets a search call take super-blocks across row ends. */
    if (!imatrix) {
        n_per_row *= nrow;
        nrow = 1;
    }
    const int64_t nb = n_per_row / QK_K;
    const size_t block_bytes = (size_t)qn_type_info(type)->type_size;
    uint8_t *y = (uint8_t *)dst;
    qn_k_search s[QN_K_MAX_BLOCKS_PER_CALL];
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
        for (int64_t i = 0; i < nb;) {
            const int count = (int)QN_MIN((int64_t)search->blocks_per_call, nb - i);
            const float *qw = imatrix ? imatrix + QK_K * i : NULL;
            for (int b = 0; b < count; ++b) s[b].lazy_L = false;
            (qw ? search->imatrix : search->ref)(src + QK_K * i, qw, s, count);
            const qn_k_finish_fn finish = qw ? search->finish_imatrix : search->finish_ref;
            if (finish) {
                finish(src + QK_K * i, y, s, count);
                i += count;
                y += (size_t)count * block_bytes;
                continue;
            }
            for (int b = 0; b < count; ++b, ++i, y += block_bytes) {
                const float *x = src + QK_K * i;
                switch (type) {
                case QN_Q2_K: q2_K_finish(x, (block_q2_K *)y, &s[b], qw != NULL, search->requant); break;
                case QN_Q3_K: q3_K_finish(x, (block_q3_K *)y, &s[b], qw != NULL, search->requant); break;
                case QN_Q4_K: q4_K_finish(x, (block_q4_K *)y, &s[b], qw != NULL, search->requant); break;
                case QN_Q5_K: q5_K_finish(x, (block_q5_K *)y, &s[b], qw != NULL, search->requant); break;
                default: q6_K_finish(x, (block_q6_K *)y, &s[b], qw != NULL, search->requant); break;
                }
            }
        }
    }
}

void qn_quantize_q2_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_k_rows(QN_Q2_K, &qn_q2_K_search, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_q3_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_k_rows(QN_Q3_K, &qn_q3_K_search, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_q4_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_k_rows(QN_Q4_K, &qn_q4_K_search, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_q5_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_k_rows(QN_Q5_K, &qn_q5_K_search, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_q6_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_k_rows(QN_Q6_K, &qn_q6_K_search, src, dst, nrow, n_per_row, imatrix);
}
