/* AVX2 twins built from the lane kernels of quant_lanes.inc (8 lanes): the K-quant and IQ4 searches and
 * the weighted searches of the legacy types. */
#include "simd_kernels.h"

#if QN_HAVE_AVX2_BUILD
#include "vec_avx2.h"
#include "quant_lanes.inc"

qn_quantize_fn qn_avx2_k_quantize(int type) { return lanes_quantize(type); }
#else
qn_quantize_fn qn_avx2_k_quantize(int type) { (void)type; return NULL; }
#endif
