/* The search shared by IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S: fit one sub-block of magnitudes
 * to a lattice grid (groups of 8 or 4 coordinates, each grid point's coordinates odd levels 2l+1)
 * under one scale. The types differ only in the settings below and in how they pack the result. */
#ifndef QN_QUANT_IQ_LATTICE_H
#define QN_QUANT_IQ_LATTICE_H

#include "iq_grid.h"

typedef struct {
    const qn_iq_grid *grid;
    int n;            /* elements in the sub-block (a multiple of grid->dim, at most 32) */
    int kmax;         /* levels per coordinate: 3 (IQ2) or 8 (IQ3) */
    int is_lo, is_hi; /* candidate scales id = (2*kmax - 1 + is*is_step) / max for is in [is_lo, is_hi] */
    float is_step;
    float eps;        /* a sub-block whose largest magnitude is below eps is zero; 0 means exactly zero */
    bool start_from_qp;         /* IQ2_XXS: start from make_qp_quants and divide by 3 * that scale */
    bool start_off_grid;        /* IQ3_S: groups count as off the grid until a candidate is accepted */
    bool refit_every_group;     /* the final re-fit snaps every group, not only those off the grid */
    bool refit_even_if_on_grid; /* IQ2_XXS: re-fit whenever the scale is positive */
} qn_lattice_cfg;

/* Fits xval (magnitudes, possibly one negated by the sign-parity rule) with weights and waux =
 * sqrt(weights). Returns false for a zero sub-block. Otherwise L holds levels on the grid, idx the grid
 * point of each group and *scale the fitted scale (negative only in degenerate cases, where the
 * caller flips the signs as ggml does). */
bool qn_lattice_fit(const qn_lattice_cfg *c, const float *xval, const float *weight, const float *waux,
                    int8_t *L, uint16_t *idx, float *scale);

/* ggml's sign handling for IQ2_XXS, IQ2_XS and IQ3_XXS: xval = |x| for one group of 8, and when the
 * number of negatives is odd the element with the smallest weight*x*x keeps its sign, so that 7 bits
 * describe the signs. Returns those 7 bits. */
uint8_t qn_iq_signs_even(const float *x, const float *weight, float *xval);
/* IQ2_S and IQ3_S keep all 8 sign bits. */
uint8_t qn_iq_signs(const float *x, float *xval);

/* Sum of squares of a 256 super-block, in order. */
float qn_iq_sumx2(const float *x);
/* The fitted sub-block scale as a 4-bit code under d's inverse id (ggml's 0.5*(id*scale - 1)). */
int qn_iq_scale_code(float id, float scale, int max_code);

#endif
