/* The K-quant quantizers in two steps: the sub-block searches (the costly part, which the SIMD twins
 * replace with one sub-block per lane) and the finish (scale quantization, re-quantization against
 * the rounded scales, packing), the reference's on every path but where a twin brings its own. */
#ifndef QN_QUANT_K_INTERNAL_H
#define QN_QUANT_K_INTERNAL_H

#include "kernels.h"

/* Results of one super-block's sub-block searches. */
typedef struct {
    float scales[16];
    float mins[16];
    float sw[16];      /* sum of the importance weights per sub-block (imatrix paths) */
    uint8_t L[QK_K];   /* levels found by the searches, already offset to be non-negative */
    /* Set by lane make_qx_quants searches (Q6_K, Q3_K with importance weights), which leave L empty: the finish
     * needs levels only for the sub-blocks whose rounded scale is 0 (the rest are re-quantized), so it finds them
     * there. Sub-block j's levels are those of its winning inverse scale iscale[j],
     * clamp(nearest_int(iscale[j] * x), -nmax, nmax - 1) + nmax, or all 0 where bit j of tiny is set. */
    bool lazy_L;
    uint16_t tiny;
    float iscale[16];
} qn_k_search;

/* Searches `count` consecutive super-blocks (x, x + 256, ...) into s[0 .. count-1]; qw is the
 * imatrix slice of the first, or NULL. */
typedef void (*qn_k_search_fn)(const float *x, const float *qw, qn_k_search *s, int count);

/* Re-quantization of a super-block's n_sub sub-blocks of sub_len elements (a multiple of 16) against their
 * rounded scales: L[i] = offset + clamp(nearest_int((x[i] + dm[j]) / d[j]), lo, hi), or nearest_int(x[i] / d[j])
 * when dm is NULL (Q3_K, Q6_K). A sub-block whose d[j] is 0 keeps the levels its search found. */
typedef void (*qn_k_requant_fn)(const float *x, int n_sub, int sub_len, const float *d, const float *dm, int lo, int hi, int offset,
                                uint8_t *L);

/* Finishes `count` consecutive super-blocks (x, x + 256, ...) into consecutive blocks from y. */
typedef void (*qn_k_finish_fn)(const float *x, void *y, qn_k_search *s, int count);

typedef struct {
    qn_k_search_fn ref;      /* without importance weights */
    qn_k_search_fn imatrix;  /* with them */
    qn_k_requant_fn requant;
    int blocks_per_call;     /* super-blocks a search call takes at once (at most QN_K_MAX_BLOCKS_PER_CALL) */
    /* The finish of the super-blocks of a call searched without / with importance weights, where the searches
     * bring their own (it must give the reference finish's bytes); NULL: the reference finish. */
    qn_k_finish_fn finish_ref, finish_imatrix;
} qn_k_searches;

/* Q3_K takes the most: the more super-blocks per call, the fewer times its pool of sub-blocks to refine
 * drains half-empty at the end of a call. */
#define QN_K_MAX_BLOCKS_PER_CALL 128

/* The scalar searches of each type. */
extern const qn_k_searches qn_q2_K_search, qn_q3_K_search, qn_q4_K_search, qn_q5_K_search, qn_q6_K_search;

/* The levels of sub-block j (16 elements) that a make_qx_quants search with lazy_L found: those of its
 * winning inverse scale, or all 0 where it was tiny. */
static inline void qn_qx_levels(const float *x, const qn_k_search *s, int j, int nmax, uint8_t *L) {
    const bool tiny = (s->tiny >> j) & 1;
    for (int i = 16 * j; i < 16 * (j + 1); ++i)
        L[i] = (uint8_t)(tiny ? 0 : QN_MAX(-nmax, QN_MIN(nmax - 1, qn_nearest_int(s->iscale[j] * x[i]))) + nmax);
}

/* Q6_K's levels (0..63) packed: per 128, the low nibbles of elements l and l + 64 share ql[l] (l + 32 and
 * l + 96 share ql[l + 32]), and their high two bits fill qh[l]. Byte-wise loops over non-overlapping
 * arrays (restrict), which the compiler vectorises for the including file's instruction set. */
static inline void qn_pack_q6(const uint8_t *restrict L, uint8_t *restrict ql, uint8_t *restrict qh) {
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
    }
}

/* Q3_K's levels (0..7) packed: the high bit of element j is bit j/32 of hmask[j%32], the low two go to qs.
 * Byte-wise loops over non-overlapping arrays (restrict), which the compiler vectorises for whichever
 * instruction set the including file is built for. */
static inline void qn_pack_q3(const uint8_t *restrict L, uint8_t *restrict hmask, uint8_t *restrict qs) {
    for (int m = 0; m < 32; ++m) {
        const uint8_t *q = L + m;
        hmask[m] = (uint8_t)((q[0] >> 2) | ((q[32] >> 2) << 1) | ((q[64] >> 2) << 2) | ((q[96] >> 2) << 3) | ((q[128] >> 2) << 4) |
                             ((q[160] >> 2) << 5) | ((q[192] >> 2) << 6) | ((q[224] >> 2) << 7));
    }
    for (int j = 0; j < QK_K; j += 128)
        for (int m = 0; m < 32; ++m)
            qs[j / 4 + m] = (uint8_t)((L[j + m] & 3) | ((L[j + m + 32] & 3) << 2) | ((L[j + m + 64] & 3) << 4) | ((L[j + m + 96] & 3) << 6));
}

/* Q3_K's sixteen 6-bit scales (0..63) packed into the block's 12 bytes. */
void qn_pack_scales_q3(const uint8_t *l, uint8_t *scales);

/* Quantizes rows with the given searches and finish. */
void qn_quantize_k_rows(int type, const qn_k_searches *search, const float *src, void *dst,
                        int64_t nrow, int64_t n_per_row, const float *imatrix);

#endif
