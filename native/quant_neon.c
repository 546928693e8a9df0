/* NEON twins (arm64, where NEON is always present): the lane kernels of quant_lanes.inc, 4 lanes. */
#include "simd_kernels.h"

#if QN_HAVE_NEON_BUILD
#include "vec_neon.h"
#include "quant_lanes.inc"

qn_quantize_fn qn_neon_quantize(int type) { return lanes_quantize(type); }
#else
qn_quantize_fn qn_neon_quantize(int type) { (void)type; return NULL; }
#endif
