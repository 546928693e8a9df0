/* The scale searches shared by the legacy (imatrix) and K quantizers. Each keeps ggml's order of
 * float operations exactly: the chosen scale, and so every output byte, depends on it. */
#ifndef QN_QUANT_SEARCH_H
#define QN_QUANT_SEARCH_H

#include "common.h"

/* Symmetric scale for L in [0, 2*nmax): weights qw, or x^2 when qw is NULL. Returns the scale. */
float qn_make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw);
/* Q3_K's symmetric search with x^2 weights and coordinate refinement; L offset by nmax. */
float qn_make_q3_quants(int n, int nmax, const float *x, int8_t *L);
/* Asymmetric (scale, min) search over nstep+1 candidate scales; *the_min receives -min (>= 0). */
float qn_make_qkx_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                         float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad);
/* Quantizes non-negative super-block scales to [0, nmax] with weights; returns the scale of scales. */
float qn_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights);

/* Besides nmax / max, make_qp_quants tries the inverse scales (0.1 * is + nmax) / max for is = -4..-1, 1..4. A trials
 * function fills mse[k] with the weighted error at the k-th of them, summed as the reference sums it. */
#define QN_QP_TRIALS 8
typedef void (*qn_qp_trials_fn)(int n, int nmax, float max, const float *x, const float *quant_weights, float *mse);
void qn_qp_trials_scalar(int n, int nmax, float max, const float *x, const float *quant_weights, float *mse);
/* The k-th trial's inverse scale (is = -4..-1, 1..4 for k = 0..7). */
static inline float qn_qp_trial_iscale(int k, int nmax, float max) {
    const int is = k < QN_QP_TRIALS / 2 ? k - QN_QP_TRIALS / 2 : k - QN_QP_TRIALS / 2 + 1;
    return (0.1f * is + nmax) / max;
}
/* make_qp_quants with the trials computed by `trials`. */
float qn_make_qp_quants_with(qn_qp_trials_fn trials, int n, int nmax, const float *x, uint8_t *L, const float *quant_weights);

#endif
