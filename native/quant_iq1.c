/* IQ1_S and IQ1_M: 1.5- and 1.75-bit quantization of 256-element super-blocks. Each element is one of
 * {-1, 0, 1} shifted by +-1/8 (the sign of the shift chosen per sub-block, or per group of 8 for
 * IQ1_M); groups of 8 levels map to a 2048-point grid. The levels of a sub-block come from an exact
 * search over the two split points of its elements sorted by value.
 *
 * The sort: ggml calls qsort with a comparator on the value alone, so equal values keep an order
 * the C library decides. glibc (which llama.cpp's Linux builds use) sorts arrays this small with a
 * top-down merge sort that takes from the left run on ties; iq1_sort is that merge sort, so equal
 * values stay in index order, and even NaNs (which compare equal to everything) end up where glibc
 * puts them. */
#include "kernels.h"
#include "quant_iq_lattice.h"

#include <float.h>

#define IQ1_DELTA 0.125f

const float qn_iq1_shifted[2][3] = {{-1 + IQ1_DELTA, IQ1_DELTA, 1 + IQ1_DELTA}, {-1 - IQ1_DELTA, -IQ1_DELTA, 1 - IQ1_DELTA}};

typedef struct {
    float x;
    int i;
} iq1_pair;

static int iq1_compare(const iq1_pair *l, const iq1_pair *r) { return l->x < r->x ? -1 : l->x > r->x ? 1 : 0; }

static void iq1_sort(iq1_pair *b, int n, iq1_pair *tmp) {
    if (n <= 1) return;
    const int n1 = n / 2;
    iq1_sort(b, n1, tmp);
    iq1_sort(b + n1, n - n1, tmp);
    const iq1_pair *b1 = b, *b2 = b + n1;
    int r1 = n1, r2 = n - n1, t = 0;
    while (r1 > 0 && r2 > 0) {
        if (iq1_compare(b1, b2) <= 0) { tmp[t++] = *b1++; --r1; }
        else { tmp[t++] = *b2++; --r2; }
    }
    while (r1 > 0) { tmp[t++] = *b1++; --r1; }
    memcpy(b, tmp, sizeof(iq1_pair) * (size_t)t);
}

/* Without NaN the comparator orders values totally (ties kept in index order, as the stable merge sort keeps
 * them), so each element simply goes to its rank: the same order. The rank counts the values before it that are
 * not larger and those after it that are smaller, two branch-free loops the compiler vectorises. */
void qn_iq1_order_scalar(const float *xb, int n, int *order) {
    bool nan = false;
    for (int i = 0; i < n; ++i) nan |= xb[i] != xb[i];
    if (!nan) {
        for (int i = 0; i < n; ++i) {
            const float xi = xb[i];
            int rank = 0;
            for (int j = 0; j < i; ++j) rank += xb[j] <= xi;
            for (int j = i + 1; j < n; ++j) rank += xb[j] < xi;
            order[rank] = i;
        }
        return;
    }
    iq1_pair pairs[32], tmp[32];
    for (int j = 0; j < n; ++j) pairs[j] = (iq1_pair){xb[j], j};
    iq1_sort(pairs, n, tmp);
    for (int j = 0; j < n; ++j) order[j] = pairs[j].i;
}

/* The list position of the neighbour of packed levels u (not on the grid) closest to xb at this scale (ggml's
 * iq1_find_best_neighbour2), its neighbours scored side by side. The shifted values are level - 1 + delta, which is
 * exactly how the tables qn_iq1_shifted were computed. ggml has no answer when every distance is NaN or Inf; we
 * then keep the first neighbour. */
int qn_iq1_nearest_scalar(const qn_iq_grid *g, int u, const float *xb, const float *weight, float scale, float delta) {
    const uint16_t *nb = qn_iq_grid_neighbours(g, u);
    const int8_t *lv = qn_iq_grid_neighbour_levels(g, u);
    const int n = nb[0], npad = qn_iq_padded(n);
    float d2[QN_IQ_MAX_NEIGHBOURS];
    for (int i = 0; i < 8; ++i) {
        const int8_t *li = lv + i * npad;
        for (int j = 0; j < npad; ++j) {
            const float q = (float)(li[j] - 1) + delta;
            const float diff = scale * q - xb[i];
            d2[j] = (i ? d2[j] : 0.0f) + weight[i] * diff * diff;
        }
    }
    float best = FLT_MAX;
    int k = 0;
    for (int j = 0; j < n; ++j) {
        if (d2[j] < best) {
            best = d2[j];
            k = j;
        }
    }
    return k;
}

/* The grid point for the levels of one group of 8: the point itself, or its nearest neighbour. */
static int iq1_grid_index(const qn_iq_grid *g, const qn_iq_kernels *kernels, const int8_t *L, const float *xb,
                          const float *weight, float scale, float delta, bool *on_grid) {
    const int u = qn_iq_pack_levels(g, L);
    if (g->map[u] >= 0) return g->map[u];
    *on_grid = false;
    return qn_iq_grid_neighbours(g, u)[1 + kernels->iq1_nearest(g, u, xb, weight, scale, delta)];
}

/* sum over the group of 8 at grid point k of w*q*x and w*q*q, with q the shifted value times mult. */
static void iq1_correlate(const qn_iq_grid *g, int k, const float *xx, float mult, const float *xb,
                          const float *weight, float *sumqx, float *sumq2) {
    const int8_t *pg = g->points + 8 * k;
    for (int j = 0; j < 8; ++j) {
        const float w = weight[j];
        const float q = xx[(pg[j] - 1) / 2] * mult;
        *sumqx += w * q * xb[j];
        *sumq2 += w * q * q;
    }
}

static void iq1_levels(const int *order, int n, int i1, int i2, int8_t *L) {
    for (int j = 0; j < i1; ++j) L[order[j]] = 0;
    for (int j = i1; j < i2; ++j) L[order[j]] = 1;
    for (int j = i2; j < n; ++j) L[order[j]] = 2;
}

bool qn_iq1s_split_scalar(const float *sumx, const float *sumw, float *scale, int *i1_out, int *i2_out, int *shift) {
    enum { BS = 32 };
    float best_score = -FLT_MAX;
    bool found = false;
    for (int i1 = 0; i1 <= BS; ++i1) {
        for (int i2 = i1; i2 <= BS; ++i2) {
            for (int s = 0; s < 2; ++s) {
                const float *xx = qn_iq1_shifted[s];
                const float sumqx = (sumx[i1] - sumx[0]) * xx[0] + (sumx[i2] - sumx[i1]) * xx[1] + (sumx[BS] - sumx[i2]) * xx[2];
                const float sumq2 = (sumw[i1] - sumw[0]) * xx[0] * xx[0] + (sumw[i2] - sumw[i1]) * xx[1] * xx[1] +
                                    (sumw[BS] - sumw[i2]) * xx[2] * xx[2];
                if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
                    *scale = sumqx / sumq2;
                    best_score = *scale * sumqx;
                    *i1_out = i1;
                    *i2_out = i2;
                    *shift = s == 0 ? 1 : -1;
                    found = true;
                }
            }
        }
    }
    return found;
}

/* IQ1_S: per 32 elements four 8-bit index bytes and a u16 with the 3-bit index tops, the 3-bit
 * scale in bits 12-14 and the shift sign in bit 15. */
static void iq1_s_block(const qn_iq_grid *g, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    block_iq1_s *y = (block_iq1_s *)out;
    enum { BS = 32 };
    float scales[QK_K / BS], weight[BS], sumx[BS + 1], sumw[BS + 1];
    int8_t L[BS], shifts[QK_K / BS];
    int order[BS];
    y->d = qn_fp32_to_fp16(0.f);
    memset(y->qs, 0, sizeof(y->qs));
    memset(y->qh, 0, sizeof(y->qh));
    float max_scale = 0;
    const float sigma2 = 2 * qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / BS; ++ib) {
        const float *xb = xbl + BS * ib;
        const float *qw = qwbl + BS * ib;
        for (int i = 0; i < BS; ++i) weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
        float max = fabsf(xb[0]);
        for (int i = 1; i < BS; ++i) max = QN_MAX(max, fabsf(xb[i]));
        scales[ib] = 0;
        shifts[ib] = 1;
        if (max < 1e-12f) continue;
        kernels->iq1_order(xb, BS, order);
        sumx[0] = sumw[0] = 0;
        for (int j = 0; j < BS; ++j) {
            const int i = order[j];
            sumx[j + 1] = sumx[j] + weight[i] * xb[i];
            sumw[j + 1] = sumw[j] + weight[i];
        }
        float scale = max;
        int besti1, besti2, best_shift;
        if (!kernels->iq1s_split(sumx, sumw, &scale, &besti1, &besti2, &best_shift)) continue;
        iq1_levels(order, BS, besti1, besti2, L);
        if (scale < 0) {
            for (int j = 0; j < BS; ++j) L[j] = (int8_t)(2 - L[j]);
            scale = -scale;
            best_shift = -best_shift;
        }
        const float *xx = best_shift == 1 ? qn_iq1_shifted[0] : qn_iq1_shifted[1];
        bool all_on_grid = true;
        uint16_t index[BS / 8];
        for (int k = 0; k < BS / 8; ++k) {
            index[k] = (uint16_t)iq1_grid_index(g, kernels, L + 8 * k, xb + 8 * k, weight + 8 * k, scale, best_shift * IQ1_DELTA, &all_on_grid);
        }
        if (!all_on_grid) {
            float sumqx = 0, sumq2 = 0;
            for (int k = 0; k < BS / 8; ++k) iq1_correlate(g, index[k], xx, 1.f, xb + 8 * k, weight + 8 * k, &sumqx, &sumq2);
            if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
        }
        uint16_t h = 0;
        for (int k = 0; k < BS / 8; ++k) {
            y->qs[(BS / 8) * ib + k] = (uint8_t)(index[k] & 255);
            h |= (uint16_t)((index[k] >> 8) << 3 * k);
        }
        y->qh[ib] = h;
        scales[ib] = scale;
        shifts[ib] = (int8_t)best_shift;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) return;
    const float d = max_scale / 15;
    y->d = qn_fp32_to_fp16(d * 1.125f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / BS; ++ib) {
        int l = qn_iq_scale_code(id, scales[ib], 7);
        if (shifts[ib] == -1) l |= 8;
        y->qh[ib] |= (uint16_t)(l << 12);
    }
}

/* IQ1_M's shifted values for group k (0: elements 0-7, 1: elements 8-15) under shift pattern p:
 * p < 2 gives the first group +1/8, an even p the second. */
static inline const float *iq1m_values(int p, int k) {
    if (k == 0) return p < 2 ? qn_iq1_shifted[0] : qn_iq1_shifted[1];
    return p % 2 == 0 ? qn_iq1_shifted[0] : qn_iq1_shifted[1];
}

const float *qn_iq1m_values(int p, int k) { return iq1m_values(p, k); }

static void iq1m_weights(const float *xb, const float *qw, float sigma2, float *weight) {
    if (qw) {
        for (int i = 0; i < 16; ++i) weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
    } else {
        for (int i = 0; i < 16; ++i) weight[i] = xb[i] * xb[i];
    }
}

/* The running sums of the four shift patterns: sumqx then sumq2. */
typedef struct {
    float qx[4], q2[4];
} iq1m_sums;

/* Adds element i as level seg (0, 1, 2) to every pattern's sums. */
static inline void iq1m_add(iq1m_sums *s, int i, int seg, const float *xb, const float *weight) {
    for (int p = 0; p < 4; ++p) {
        const float v = iq1m_values(p, i >= 8)[seg];
        s->qx[p] += weight[i] * v * xb[i];
        s->q2[p] += weight[i] * v * v;
    }
}

/* ggml sums every split (i1, i2) from scratch in sorted order: elements before i1 as level 0, up to
 * i2 as level 1, the rest as level 2. The partial sums before i1, and before i2, are the same floats
 * for every split sharing them, so they are carried forward instead of recomputed; only the tail
 * is added per split, in the same order, giving the same sums for a third of the work. */
bool qn_iq1m_split_scalar(const float *xb, const float *weight, const int *order, float *scale, int *besti1,
                        int *besti2, int *best_p) {
    enum { BS = 16 };
    float best_score = -FLT_MAX;
    bool found = false;
    iq1m_sums before_i1 = {{0}, {0}};
    for (int i1 = 0; i1 <= BS; ++i1) {
        iq1m_sums before_i2 = before_i1;
        for (int i2 = i1; i2 <= BS; ++i2) {
            iq1m_sums s = before_i2;
            for (int j = i2; j < BS; ++j) iq1m_add(&s, order[j], 2, xb, weight);
            for (int p = 0; p < 4; ++p) {
                if (s.q2[p] > 0 && s.qx[p] * s.qx[p] > best_score * s.q2[p]) {
                    *scale = s.qx[p] / s.q2[p];
                    best_score = *scale * s.qx[p];
                    *besti1 = i1;
                    *besti2 = i2;
                    *best_p = p;
                    found = true;
                }
            }
            if (i2 < BS) iq1m_add(&before_i2, order[i2], 1, xb, weight);
        }
        if (i1 < BS) iq1m_add(&before_i1, order[i1], 0, xb, weight);
    }
    return found;
}

/* IQ1_M: per 16 elements two index bytes; qh holds the 3-bit index tops and the shift signs (bits 3
 * and 7); the 3-bit scales fill the low 12 bits of four u16 words whose top nibbles hold the fp16
 * super-block scale, refitted over the whole block. */
static void iq1_m_block(const qn_iq_grid *g, const qn_iq_kernels *kernels, const float *xbl, const float *qwbl, void *out) {
    block_iq1_m *y = (block_iq1_m *)out;
    enum { BS = 16 };
    static const uint8_t MASKS[4] = {0x00, 0x80, 0x08, 0x88};
    float scales[QK_K / BS], weight[BS];
    int8_t L[BS];
    int shifts[QK_K / BS];
    uint16_t index[QK_K / BS][2];
    int order[BS];
    uint16_t sc[4] = {0};
    memset(y, 0, sizeof(*y));
    float max_scale = 0;
    const float sigma2 = 2 * qn_iq_sumx2(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / BS; ++ib) {
        const float *xb = xbl + BS * ib;
        iq1m_weights(xb, qwbl ? qwbl + BS * ib : NULL, sigma2, weight);
        float max = fabsf(xb[0]);
        for (int i = 1; i < BS; ++i) max = QN_MAX(max, fabsf(xb[i]));
        scales[ib] = 0;
        shifts[ib] = 0;
        index[ib][0] = index[ib][1] = 0;
        if (max < 1e-7f) continue;
        kernels->iq1_order(xb, BS, order);
        float scale = max;
        int besti1 = 0, besti2 = 0, best_p = 0;
        if (!kernels->iq1m_split(xb, weight, order, &scale, &besti1, &besti2, &best_p)) continue;
        iq1_levels(order, BS, besti1, besti2, L);
        if (scale < 0) {
            for (int j = 0; j < BS; ++j) L[j] = (int8_t)(2 - L[j]);
            scale = -scale;
            best_p = 3 - best_p;
        }
        bool all_on_grid = true;
        for (int k = 0; k < 2; ++k) {
            index[ib][k] = (uint16_t)iq1_grid_index(g, kernels, L + 8 * k, xb + 8 * k, weight + 8 * k, scale,
                                                    iq1m_values(best_p, k)[1], &all_on_grid);
        }
        if (!all_on_grid) {
            float sumqx = 0, sumq2 = 0;
            for (int k = 0; k < 2; ++k) {
                iq1_correlate(g, index[ib][k], iq1m_values(best_p, k), 1.f, xb + 8 * k, weight + 8 * k, &sumqx, &sumq2);
            }
            if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
        }
        y->qs[2 * ib + 0] = (uint8_t)(index[ib][0] & 255);
        y->qs[2 * ib + 1] = (uint8_t)(index[ib][1] & 255);
        y->qh[ib] = (uint8_t)((index[ib][0] >> 8) | ((index[ib][1] >> 8) << 4));
        scales[ib] = scale;
        shifts[ib] = best_p;
        max_scale = QN_MAX(max_scale, scale);
    }
    if (!max_scale) return;
    float d = max_scale / 15;
    const float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int ib = 0; ib < QK_K / BS; ++ib) {
        const int l = qn_iq_scale_code(id, scales[ib], 7);
        sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
        y->qh[ib] |= MASKS[shifts[ib]];
        const float *xb = xbl + BS * ib;
        iq1m_weights(xb, qwbl ? qwbl + BS * ib : NULL, sigma2, weight);
        for (int k = 0; k < 2; ++k) {
            iq1_correlate(g, index[ib][k], iq1m_values(shifts[ib], k), (float)(2 * l + 1), xb + 8 * k, weight + 8 * k,
                          &sumqx, &sumq2);
        }
    }
    if (sumq2 > 0) d = sumqx / sumq2;
    const qn_fp16 s = qn_fp32_to_fp16(d * 1.1125f);
    sc[0] |= (uint16_t)((s & 0x000f) << 12);
    sc[1] |= (uint16_t)((s & 0x00f0) << 8);
    sc[2] |= (uint16_t)((s & 0x0f00) << 4);
    sc[3] |= (uint16_t)(s & 0xf000);
    memcpy(y->scales, sc, sizeof(sc));
}

void qn_quantize_iq1_s_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    if (imatrix) qn_iq_quantize_rows(QN_GRID_IQ1, iq1_s_block, k, sizeof(block_iq1_s), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq1_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq1_s_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq1_m_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_iq_quantize_rows(QN_GRID_IQ1, iq1_m_block, k, sizeof(block_iq1_m), src, dst, nrow, n_per_row, imatrix);
}

void qn_quantize_iq1_m(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    qn_quantize_iq1_m_with(&qn_iq_scalar_kernels, src, dst, nrow, n_per_row, imatrix);
}
