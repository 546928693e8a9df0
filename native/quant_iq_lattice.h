/* The search shared by IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S: fit one sub-block of magnitudes
 * to a lattice grid (groups of 8 or 4 coordinates, each grid point's coordinates odd levels 2l+1)
 * under one scale. The types differ only in the settings below and in how they pack the result.
 * Also the row driver of every IQ1/IQ2/IQ3 type, and the searches their SIMD twins replace (qn_iq_kernels). */
#ifndef QN_QUANT_IQ_LATTICE_H
#define QN_QUANT_IQ_LATTICE_H

#include "iq_grid.h"
#include "quant_search.h"

/* Candidate scales per sub-block: at most 31 (IQ3_XXS), padded to whole vectors of every path. */
#define QN_IQ_CANDIDATE_BITS 5
#define QN_IQ_MAX_CANDIDATES (1 << QN_IQ_CANDIDATE_BITS)

/* What each candidate scale gives before ggml's acceptance test: per group the grid point the snap
 * chose and whether the levels were on the grid, and the sub-block's weighted sums. Group-major, so
 * that a path with lanes across candidates stores whole vectors. */
typedef struct {
    int32_t point[8][QN_IQ_MAX_CANDIDATES];
    int32_t on_grid[8][QN_IQ_MAX_CANDIDATES];
    float sumqx[QN_IQ_MAX_CANDIDATES], sumq2[QN_IQ_MAX_CANDIDATES];
} qn_iq_scan;

struct qn_lattice_cfg;
/* Scores candidates is_lo..is_hi of a sub-block (inverse scale (2*kmax - 1 + is*is_step) / denominator).
 * The scalar reference is qn_iq_scan_scalar; the SIMD twins (quant_iq_lanes.inc) must produce the same
 * words. */
typedef void (*qn_iq_scan_fn)(const struct qn_lattice_cfg *c, const float *xval, const float *weight, const float *waux,
                              float denominator, qn_iq_scan *out);
void qn_iq_scan_scalar(const struct qn_lattice_cfg *c, const float *xval, const float *weight, const float *waux,
                       float denominator, qn_iq_scan *out);

struct qn_iq_kernels;

typedef struct qn_lattice_cfg {
    const qn_iq_grid *grid;
    const struct qn_iq_kernels *kernels;
    int n;            /* elements in the sub-block (a multiple of grid->dim, at most 32) */
    int kmax;         /* levels per coordinate: 3 (IQ2) or 8 (IQ3) */
    int is_lo, is_hi; /* candidate scales id = (2*kmax - 1 + is*is_step) / max for is in [is_lo, is_hi] */
    float is_step;
    float eps;        /* a sub-block whose largest magnitude is below eps is zero; 0 means exactly zero */
    bool start_from_qp;         /* IQ2_XXS: start from make_qp_quants and divide by 3 * that scale */
    bool start_off_grid;        /* IQ3_S: groups count as off the grid until a candidate is accepted */
    bool refit_every_group;     /* the final re-fit snaps every group, not only those off the grid */
    bool refit_even_if_on_grid; /* IQ2_XXS: re-fit whenever the scale is positive */
    /* ggml's signs for IQ2_XXS, IQ2_XS and IQ3_XXS: 7 bits per group of 8 with an even count of
     * negatives (an odd count leaves the element with the smallest weight*x*x positive); IQ2_S and
     * IQ3_S keep all 8. */
    bool even_signs;
    enum { QN_IQ_NEEDS_WEIGHTS, QN_IQ_QUARTER_SIGMA2_PLUS_X2, QN_IQ_X2 } no_weights; /* without an imatrix */
} qn_lattice_cfg;

/* One sub-block of x (c->n elements): its weights (qw * sqrt(sigma2 + x^2), or the type's rule
 * without importance weights qw), a sign byte per group of 8, and the lattice fit of the magnitudes.
 * Returns false for a zero sub-block. Otherwise idx holds the grid point of each group and *scale the
 * fitted scale, made positive as ggml does (flipping the signs when it came out negative). */
bool qn_iq_fit_sub_block(const qn_lattice_cfg *c, const float *x, const float *qw, float sigma2, uint8_t *signs,
                         uint16_t *idx, float *scale);

/* The level of x at inverse scale id, clamped to 0..kmax-1. */
static inline int qn_iq_clamp_level(float id, float x, int kmax) {
    const int l = qn_nearest_int(0.5f * (id * x - 1));
    return QN_MAX(0, QN_MIN(kmax - 1, l));
}

/* Sum of squares of a 256 super-block, in order. */
float qn_iq_sumx2(const float *x);
/* The fitted sub-block scale as a 4-bit code under d's inverse id (ggml's 0.5*(id*scale - 1)). */
int qn_iq_scale_code(float id, float scale, int max_code);

/* IQ1_S's values for levels 0, 1, 2 under a shift of +1/8 ([0]) and -1/8 ([1]). */
extern const float qn_iq1_shifted[2][3];

/* IQ1_S's search over the splits of a sub-block of 32 elements sorted by value: elements before i1 take level 0,
 * up to i2 level 1, the rest level 2, under either shift. sumx and sumw are the 33 prefix sums of weight*x and
 * weight in sorted order. Returns false when no split is accepted; otherwise the split, the shift (1 or -1) and
 * the scale, as ggml's first best under its test. */
typedef bool (*qn_iq1s_split_fn)(const float *sumx, const float *sumw, float *scale, int *i1, int *i2, int *shift);
bool qn_iq1s_split_scalar(const float *sumx, const float *sumw, float *scale, int *i1, int *i2, int *shift);

/* IQ1_M's values for levels 0, 1, 2 of group k (elements 0-7 or 8-15) under shift pattern p (0-3). */
const float *qn_iq1m_values(int p, int k);

/* IQ1_M's search over the splits of a sub-block of 16 (order: the elements sorted by value) under the four shift
 * patterns: the split, the pattern and the scale of ggml's first best. */
typedef bool (*qn_iq1m_split_fn)(const float *xb, const float *weight, const int *order, float *scale, int *i1, int *i2,
                                 int *pattern);
bool qn_iq1m_split_scalar(const float *xb, const float *weight, const int *order, float *scale, int *i1, int *i2,
                          int *pattern);

/* The order of n (at most 32) values as ggml's IQ1 sorts them (a stable merge sort by value): order[k] is the
 * index of the k-th smallest, ties in index order. */
typedef void (*qn_iq1_order_fn)(const float *xb, int n, int *order);
void qn_iq1_order_scalar(const float *xb, int n, int *order);

/* IQ1's neighbour search: the position in the list of packed levels u (off the grid) of the neighbour nearest to
 * the group's values xb under weights, at this scale and shift delta (values level - 1 + delta). */
typedef int (*qn_iq1_nearest_fn)(const qn_iq_grid *g, int u, const float *xb, const float *weight, float scale, float delta);
int qn_iq1_nearest_scalar(const qn_iq_grid *g, int u, const float *xb, const float *weight, float scale, float delta);

/* The IQ2/IQ3 neighbour search: the position in the list of packed levels u (off the grid) of the grid point nearest
 * to xval at this scale (squared error weighted by waux, levels as 2l + 1, the first minimum in list order). */
typedef int (*qn_iq_nearest_fn)(const qn_iq_grid *g, int u, const float *xval, const float *waux, float scale);
int qn_iq_nearest_scalar(const qn_iq_grid *g, int u, const float *xval, const float *waux, float scale);

/* A group's levels packed bits per coordinate, the key of the grid's map. */
static inline int qn_iq_pack_levels(const qn_iq_grid *g, const int8_t *L) {
    int u = 0;
    for (int i = 0; i < g->dim; ++i) u |= L[i] << (g->bits * i);
    return u;
}

/* The searches a SIMD path replaces; every other step is shared. */
typedef struct qn_iq_kernels {
    qn_iq_scan_fn scan;
    qn_iq_nearest_fn nearest;
    qn_iq1s_split_fn iq1s_split;
    qn_iq1m_split_fn iq1m_split;
    qn_iq1_nearest_fn iq1_nearest;
    qn_iq1_order_fn iq1_order;
    qn_qp_trials_fn qp_trials;
} qn_iq_kernels;
extern const qn_iq_kernels qn_iq_scalar_kernels;

/* Quantizes rows super-block by super-block with the type's block function (imatrix: n_per_row
 * values or NULL). */
typedef void (*qn_iq_block_fn)(const qn_iq_grid *g, const qn_iq_kernels *k, const float *x, const float *qw, void *y);
void qn_iq_quantize_rows(int grid_id, qn_iq_block_fn block, const qn_iq_kernels *k, size_t block_bytes, const float *src,
                         void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);

/* The IQ1/IQ2/IQ3 quantizers with given searches: the scalar ones in kernels.h pass
 * qn_iq_scalar_kernels, the SIMD paths their own. */
void qn_quantize_iq2_xxs_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq2_xs_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq2_s_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq3_xxs_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq3_s_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq1_m_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq1_s_with(const qn_iq_kernels *k, const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);

#endif
