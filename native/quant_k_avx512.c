/* AVX-512 twins built from the same lane kernels as the AVX2 ones (quant_lanes.inc), with 16 lanes:
 * the K-quant and IQ4 searches and the weighted searches of the legacy types. Every other type (the
 * lattice types IQ1/IQ2/IQ3, and the legacy types without importance weights) runs its AVX2 twin on
 * this path. */
#include "simd_kernels.h"

#if QN_HAVE_AVX2_BUILD
#include "vec_avx512.h"
#include "quant_lanes.inc"

#define LEGACY_AVX512(name, TYPE)                                                                             \
    static void name##_avx512(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) { \
        if (imatrix) lanes_quantize_##name(src, dst, nrow, n_per_row, imatrix);                               \
        else qn_avx2_quantize(TYPE)(src, dst, nrow, n_per_row, NULL);                                         \
    }

LEGACY_AVX512(q4_0, QN_Q4_0)
LEGACY_AVX512(q4_1, QN_Q4_1)
LEGACY_AVX512(q5_0, QN_Q5_0)
LEGACY_AVX512(q5_1, QN_Q5_1)

qn_quantize_fn qn_avx512_quantize(int type) {
    switch (type) {
    case QN_Q4_0: return q4_0_avx512;
    case QN_Q4_1: return q4_1_avx512;
    case QN_Q5_0: return q5_0_avx512;
    case QN_Q5_1: return q5_1_avx512;
    default: {
        const qn_quantize_fn fn = lanes_quantize(type);
        return fn ? fn : qn_avx2_quantize(type);
    }
    }
}
#else
qn_quantize_fn qn_avx512_quantize(int type) { (void)type; return NULL; }
#endif
