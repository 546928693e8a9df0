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

#endif
