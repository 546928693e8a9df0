/* The lattice fit, in ggml's order of float operations (quantize_row_iq2_xxs_impl and its siblings):
 * try candidate scales, snap each group of levels to the grid or to its best neighbour, keep the
 * candidate with the best weighted correlation, then re-fit the scale on the snapped levels. */
#include "quant_iq_lattice.h"
#include "quant_search.h"
#include "kernels.h"

#include <float.h>

/* Each neighbour's error is summed over the coordinates in order, as ggml does, but all neighbours of the list
 * advance together (a loop the compiler vectorises across neighbours without changing any lane's sum). */
int qn_iq_nearest_scalar(const qn_iq_grid *g, int u, const float *xval, const float *waux, float scale) {
    const uint16_t *nb = qn_iq_grid_neighbours(g, u);
    const int8_t *lv = qn_iq_grid_neighbour_levels(g, u);
    const int n = nb[0], npad = qn_iq_padded(n);
    float d2[QN_IQ_MAX_NEIGHBOURS];
    for (int i = 0; i < g->dim; ++i) {
        const int8_t *li = lv + i * npad;
        for (int j = 0; j < npad; ++j) {
            const float q = 2 * li[j] + 1;
            const float diff = scale * q - xval[i];
            /* 0 + the first term, as the reference's sum starts (it turns a -0 into +0) */
            d2[j] = (i ? d2[j] : 0.0f) + waux[i] * diff * diff;
        }
    }
    float best_d2 = FLT_MAX;
    /* ggml aborts when no distance is below FLT_MAX (NaN/Inf input); the first neighbour keeps us going. */
    int best = 0;
    for (int j = 0; j < n; ++j) {
        if (d2[j] < best_d2) {
            best_d2 = d2[j];
            best = j;
        }
    }
    return best;
}

/* Levels of group xval at inverse scale id, snapped to the grid; returns whether they were on it. */
static bool snap_group(const qn_iq_grid *g, qn_iq_nearest_fn nearest, float id, float scale, int kmax, const float *xval,
                       const float *waux, int8_t *L) {
    for (int i = 0; i < g->dim; ++i) L[i] = (int8_t)qn_iq_clamp_level(id, xval[i], kmax);
    const int u = qn_iq_pack_levels(g, L);
    if (g->map[u] >= 0) return true;
    const int j = nearest(g, u, xval, waux, scale);
    const int8_t *lv = qn_iq_grid_neighbour_levels(g, u);
    const int npad = qn_iq_padded(qn_iq_grid_neighbours(g, u)[0]);
    for (int i = 0; i < g->dim; ++i) L[i] = lv[i * npad + j];
    return false;
}

static void correlate(int n, const float *xval, const float *weight, const int8_t *L, float *sumqx, float *sumq2) {
    float sx = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
        const float w = weight[i];
        const float q = 2 * L[i] + 1;
        sx += w * xval[i] * q;
        s2 += w * q * q;
    }
    *sumqx = sx;
    *sumq2 = s2;
}

void qn_iq_scan_scalar(const qn_lattice_cfg *c, const float *xval, const float *weight, const float *waux,
                       float denominator, qn_iq_scan *out) {
    const qn_iq_grid *g = c->grid;
    const int ngroups = c->n / g->dim;
    int8_t L[32];
    for (int is = c->is_lo; is <= c->is_hi; ++is) {
        const int t = is - c->is_lo;
        const float id = (2 * c->kmax - 1 + is * c->is_step) / denominator;
        const float this_scale = 1 / id;
        for (int k = 0; k < ngroups; ++k) {
            int8_t *Lk = L + k * g->dim;
            out->on_grid[k][t] = snap_group(g, qn_iq_nearest_scalar, id, this_scale, c->kmax, xval + k * g->dim, waux + k * g->dim, Lk);
            out->point[k][t] = g->map[qn_iq_pack_levels(g, Lk)];
        }
        correlate(c->n, xval, weight, L, &out->sumqx[t], &out->sumq2[t]);
    }
}

/* Fits xval (magnitudes, possibly one negated by the sign-parity rule) with weights and waux =
 * sqrt(weights). Returns false for a zero sub-block. Otherwise L holds levels on the grid, idx the grid
 * point of each group and *scale the fitted scale (negative only in degenerate cases). */
static bool lattice_fit(const qn_lattice_cfg *c, const float *xval, const float *weight, const float *waux,
                    int8_t *L, uint16_t *idx, float *scale_out) {
    const qn_iq_grid *g = c->grid;
    const int ngroups = c->n / g->dim;
    float max = xval[0];
    for (int i = 1; i < c->n; ++i) max = QN_MAX(max, xval[i]);
    memset(L, 0, 32); /* every sub-block has at most 32 elements */
    if (c->eps > 0 ? max < c->eps : max == 0) return false;

    float scale, denominator;
    if (c->start_from_qp) {
        scale = qn_make_qp_quants_with(c->kernels->qp_trials, c->n, c->kmax + 1, xval, (uint8_t *)L, weight);
        denominator = scale * c->kmax;
        if (denominator <= 0) return false;
    } else {
        scale = max / (2 * c->kmax - 1);
        denominator = max;
    }

    qn_iq_scan scan;
    c->kernels->scan(c, xval, weight, waux, denominator, &scan);
    bool on_grid[8];
    for (int k = 0; k < ngroups; ++k) on_grid[k] = !c->start_off_grid;
    float best = 0;
    int accepted = -1;
    for (int t = 0; t <= c->is_hi - c->is_lo; ++t) {
        const float sumqx = scan.sumqx[t], sumq2 = scan.sumq2[t];
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            accepted = t;
        }
    }
    if (accepted >= 0) {
        for (int k = 0; k < ngroups; ++k) {
            const int8_t *p = g->points + scan.point[k][accepted] * g->dim;
            for (int i = 0; i < g->dim; ++i) L[k * g->dim + i] = (int8_t)((p[i] - 1) / 2);
            on_grid[k] = scan.on_grid[k][accepted];
        }
    }

    int n_off_grid = 0;
    for (int k = 0; k < ngroups; ++k) n_off_grid += !on_grid[k];
    if ((c->refit_even_if_on_grid || n_off_grid > 0) && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < ngroups; ++k) {
            if (on_grid[k] && !c->refit_every_group) continue;
            snap_group(g, c->kernels->nearest, id, scale, c->kmax, xval + k * g->dim, waux + k * g->dim, L + k * g->dim);
        }
        float sumqx, sumq2;
        correlate(c->n, xval, weight, L, &sumqx, &sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    /* Groups never snapped (no candidate accepted) sit at their levels, which ggml expects on the grid
     * and aborts otherwise; the all-zero levels are grid point 0 of every grid. */
    for (int k = 0; k < ngroups; ++k) {
        const int m = g->map[qn_iq_pack_levels(g, L + k * g->dim)];
        idx[k] = (uint16_t)(m >= 0 ? m : 0);
    }
    *scale_out = scale;
    return true;
}

/* Magnitudes of 8 elements into xval; bit i set where element i is not >= 0 (negative, or NaN), and then xval is
 * -x. Without branches, which random signs mispredict: negation flips the sign bit, NaN's too. */
static uint8_t signs_all(const float *x, float *xval) {
    uint8_t s = 0;
    for (int i = 0; i < 8; ++i) {
        const uint32_t neg = !(x[i] >= 0);
        uint32_t bits;
        memcpy(&bits, x + i, 4);
        bits ^= neg << 31;
        memcpy(xval + i, &bits, 4);
        s |= (uint8_t)(neg << i);
    }
    return s;
}

/* As signs_all, then an odd number of flips gives back the sign of the element of least weight * x^2. */
static uint8_t signs_even(const float *x, const float *weight, float *xval) {
    uint8_t s = signs_all(x, xval);
    int nflip = 0;
    for (int i = 0; i < 8; ++i) nflip += (s >> i) & 1;
    if (nflip % 2) {
        int imin = 0;
        float min = weight[0] * x[0] * x[0];
        for (int i = 1; i < 8; ++i) {
            const float ax = weight[i] * x[i] * x[i];
            if (ax < min) {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= (uint8_t)(1 << imin);
    }
    return s & 127;
}

float qn_iq_sumx2(const float *x) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += x[i] * x[i];
    return sumx2;
}

int qn_iq_scale_code(float id, float scale, int max_code) {
    const int l = qn_nearest_int(0.5f * (id * scale - 1));
    return QN_MAX(0, QN_MIN(max_code, l));
}

bool qn_iq_fit_sub_block(const qn_lattice_cfg *c, const float *x, const float *qw, float sigma2, uint8_t *signs,
                         uint16_t *idx, float *scale) {
    float weight[32], waux[32], xval[32] = {0}; /* every element is set: n is a multiple of 8 */
    int8_t L[32];
    const int n = c->n;
    if (qw) {
        for (int i = 0; i < n; ++i) weight[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
    } else if (c->no_weights == QN_IQ_QUARTER_SIGMA2_PLUS_X2) {
        for (int i = 0; i < n; ++i) weight[i] = 0.25f * sigma2 + x[i] * x[i];
    } else {
        for (int i = 0; i < n; ++i) weight[i] = x[i] * x[i];
    }
    for (int i = 0; i < n; ++i) waux[i] = sqrtf(weight[i]);
    for (int k = 0; k < n / 8; ++k) {
        signs[k] = c->even_signs ? signs_even(x + 8 * k, weight + 8 * k, xval + 8 * k) : signs_all(x + 8 * k, xval + 8 * k);
    }
    if (!lattice_fit(c, xval, weight, waux, L, idx, scale)) return false;
    if (*scale < 0) {
        *scale = -*scale;
        for (int k = 0; k < n / 8; ++k) signs[k] = (uint8_t)(c->even_signs ? ~signs[k] & 127 : ~signs[k]);
    }
    return true;
}

const qn_iq_kernels qn_iq_scalar_kernels = {qn_iq_scan_scalar, qn_iq_nearest_scalar, qn_iq1s_split_scalar, qn_iq1m_split_scalar, qn_iq1_nearest_scalar, qn_iq1_order_scalar, qn_qp_trials_scalar};

void qn_iq_quantize_rows(int grid_id, qn_iq_block_fn block, const qn_iq_kernels *k, size_t block_bytes, const float *src,
                         void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    const qn_iq_grid *grid = qn_iq_grid_get(grid_id);
    if (!grid) return;
    uint8_t *y = (uint8_t *)dst;
    const int64_t nb = n_per_row / QK_K;
    for (int64_t r = 0; r < nrow; ++r) {
        for (int64_t i = 0; i < nb; ++i, y += block_bytes) {
            block(grid, k, src + r * n_per_row + i * QK_K, imatrix ? imatrix + i * QK_K : NULL, y);
        }
    }
}
