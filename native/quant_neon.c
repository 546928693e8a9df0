/* NEON twins. arm64 always has NEON, so these need no run-time check; the twins are added type by
 * type, each held to the same-bytes rule against its scalar reference. Until a type has one, the
 * scalar reference serves the NEON path. */
#include "simd_kernels.h"

qn_quantize_fn qn_neon_quantize(int type) {
    (void)type;
    return NULL;
}
